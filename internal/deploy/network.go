package deploy

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/cto-platform/cto/internal/fanout"
	"github.com/cto-platform/cto/internal/pipeline"
	"github.com/cto-platform/cto/internal/provider"
	"github.com/cto-platform/cto/internal/spec"
	"github.com/cto-platform/cto/internal/state"
)

// networkTimeout bounds the wait for VLAN assignments to connect.
const networkTimeout = 15 * time.Minute

// networkStep puts the cluster on one private network in its site: one
// VLAN, every server assigned, and a private address per node from the
// spec's range, all journaled.
type networkStep struct{}

func (networkStep) Name() string { return StepNetwork }

func (networkStep) Skip(r *pipeline.Run) (string, bool) {
	if !r.Deps.Spec.NeedsMachines() {
		return fmt.Sprintf("provider %s rents no servers", r.Deps.Spec.Provider), true
	}
	if r.Deps.Provider != nil && !r.Deps.Provider.Capabilities().PrivateNetworks {
		return fmt.Sprintf("provider %s has no private networks; nodes talk over their public addresses", r.Deps.Spec.Provider), true
	}
	return "", false
}

func (networkStep) DryRun(ctx context.Context, r *pipeline.Run) error {
	nodes := desiredNodes(r.Deps.Spec)
	ips, err := privateAddresses(r.Deps.Spec.Network.CIDR, len(nodes))
	if err != nil {
		return err
	}
	r.Say("would create one private network in %s and assign %d server(s) (%s .. %s)", regionOf(r), len(nodes), ips[0], ips[len(ips)-1])
	return nil
}

// privateAddresses returns the first n usable addresses of cidr.
func privateAddresses(cidr string, n int) ([]netip.Addr, error) {
	if cidr == "" {
		cidr = spec.DefaultPrivateCIDR
	}
	pfx, err := netip.ParsePrefix(cidr)
	if err != nil {
		return nil, fmt.Errorf("private range %q: %w", cidr, err)
	}
	pfx = pfx.Masked()
	var out []netip.Addr
	a := pfx.Addr().Next() // skip the network address
	for len(out) < n {
		next := a.Next()
		if !pfx.Contains(a) || !pfx.Contains(next) { // keep the broadcast address free
			return nil, fmt.Errorf("private range %s has room for %d node(s), the cluster has %d; use a larger --private-cidr", cidr, len(out), n)
		}
		out = append(out, a)
		a = next
	}
	return out, nil
}

// fillPrivateAddresses gives each node without a private address the
// lowest address of cidr no other node holds, in node order. A node keeps
// the address it has: a cluster that grows, shrinks or has a node
// replaced never moves a running node to another address.
func fillPrivateAddresses(cidr string, nodes []*state.Node) error {
	used := map[string]bool{}
	for _, n := range nodes {
		if n.PrivateIP != "" {
			used[n.PrivateIP] = true
		}
	}
	ips, err := privateAddresses(cidr, len(nodes)+len(used))
	if err != nil {
		// Fewer addresses than that may still do: the range must at
		// least hold one per node.
		if ips, err = privateAddresses(cidr, len(nodes)); err != nil {
			return err
		}
	}
	next := 0
	for _, n := range nodes {
		if n.PrivateIP != "" {
			continue
		}
		for next < len(ips) && used[ips[next].String()] {
			next++
		}
		if next == len(ips) {
			return fmt.Errorf("private range %s has no free address left for %s; use a larger --private-cidr", cidr, n.Name)
		}
		n.PrivateIP = ips[next].String()
		used[n.PrivateIP] = true
	}
	return nil
}

func (networkStep) Run(ctx context.Context, r *pipeline.Run) error {
	sp := r.Deps.Spec
	p := r.Deps.Provider
	nodes := r.Journal.NodesCopy()
	if _, err := privateAddresses(sp.Network.CIDR, len(nodes)); err != nil {
		return err
	}
	net, err := ensureNetwork(ctx, r)
	if err != nil {
		return err
	}

	existing, err := p.ListAssignments(ctx, net.ID)
	if err != nil {
		return fmt.Errorf("list assignments of network %s: %w", net.ID, err)
	}
	assigned := map[string]bool{}
	for _, a := range existing {
		assigned[a.ServerID] = true
	}
	var unassigned []state.Node
	for _, n := range nodes {
		if n.ServerID == "" {
			return fmt.Errorf("%s has no server; run the servers step again", n.Name)
		}
		if !assigned[n.ServerID] {
			unassigned = append(unassigned, n)
		}
	}
	if err := fanout.Each(ctx, createConcurrency, unassigned, func(n state.Node) string { return n.Name }, func(ctx context.Context, n state.Node) error {
		return assignServer(ctx, r, net, n.Name, n.ServerID)
	}); err != nil {
		return fmt.Errorf("assign servers to network %s: %w", net.ID, err)
	}

	// Private addresses in node order, journaled before waiting; a
	// provider that hands out its own replaces them once they connect.
	var addrErr error
	if err := r.Journal.Update(func(j *state.Journal) { addrErr = fillPrivateAddresses(sp.Network.CIDR, j.Nodes) }); err != nil {
		return err
	}
	if addrErr != nil {
		return addrErr
	}
	return waitConnected(ctx, r, net, nodes)
}

// assignServer puts a node's server on the network and journals the
// assignment.
func assignServer(ctx context.Context, r *pipeline.Run, net provider.Network, node, serverID string) error {
	a, err := r.Deps.Provider.AssignServer(ctx, net.ID, serverID)
	if err != nil {
		return err
	}
	if err := r.Journal.AddResource(state.Resource{Kind: state.KindAssignment, ID: a.ID, Name: node, Region: net.Region,
		Status: a.RawStatus, Attrs: map[string]string{"network_id": net.ID, "server_id": serverID}}); err != nil {
		return err
	}
	r.NodeEvent(node, "connecting", "", "assigned to network "+net.Name)
	return nil
}

// ensureNetwork finds the cluster's network in the journal or at the
// provider, or creates it and journals it at once.
func ensureNetwork(ctx context.Context, r *pipeline.Run) (provider.Network, error) {
	sp := r.Deps.Spec
	p := r.Deps.Provider
	region := regionOf(r)
	for _, res := range r.Journal.LiveResources(state.KindNetwork) {
		vlan, _ := strconv.Atoi(res.Attrs[vlanAttr])
		return provider.Network{ID: res.ID, Name: res.Name, Region: res.Region, VLAN: vlan}, nil
	}
	nets, err := p.ListNetworks(ctx, sp.Name)
	if err != nil {
		return provider.Network{}, fmt.Errorf("list the cluster's networks: %w", err)
	}
	for _, n := range nets {
		if strings.EqualFold(n.Region, region) {
			r.Say("adopted network %s created by an earlier run", networkLabel(n))
			return n, journalNetwork(r, n)
		}
	}
	n, err := p.CreateNetwork(ctx, provider.NetworkSpec{Cluster: sp.Name, Region: region, Project: sp.Project,
		Description: "cto cluster " + sp.Name, CIDR: sp.Network.CIDR})
	if n.ID != "" {
		if jerr := journalNetwork(r, n); jerr != nil {
			return n, jerr
		}
	}
	if err != nil {
		return n, fmt.Errorf("create the cluster's network in %s: %w", region, err)
	}
	r.Say("created network %s in %s", networkLabel(n), region)
	return n, nil
}

// networkLabel names a network for people: its name, and the VLAN id hosts
// must tag when the provider has one.
func networkLabel(n provider.Network) string {
	label := n.Name
	if label == "" {
		label = n.ID
	}
	if n.VLAN > 0 {
		label += fmt.Sprintf(" (VLAN %d)", n.VLAN)
	}
	return label
}

func journalNetwork(r *pipeline.Run, n provider.Network) error {
	return r.Journal.AddResource(state.Resource{Kind: state.KindNetwork, ID: n.ID, Name: n.Name, Region: n.Region,
		Attrs: map[string]string{vlanAttr: strconv.Itoa(n.VLAN), "cidr": r.Deps.Spec.Network.CIDR}})
}

// waitConnected polls the network's assignments (one list call per poll)
// until every node's link is up.
func waitConnected(ctx context.Context, r *pipeline.Run, net provider.Network, nodes []state.Node) error {
	start := r.Clock.Now()
	reported := map[string]bool{}
	for {
		as, err := r.Deps.Provider.ListAssignments(ctx, net.ID)
		if err != nil {
			return fmt.Errorf("poll assignments of network %s: %w", net.ID, err)
		}
		status := map[string]provider.Assignment{}
		for _, a := range as {
			status[a.ServerID] = a
		}
		var waiting []string
		for _, n := range r.Journal.NodesCopy() {
			a, ok := status[n.ServerID]
			if !ok {
				return fmt.Errorf("%s (server %s) lost its assignment to network %s; run deploy again", n.Name, n.ServerID, net.ID)
			}
			if a.Status != provider.AssignmentConnected {
				waiting = append(waiting, n.Name)
				continue
			}
			if a.PrivateIP != "" && a.PrivateIP != n.PrivateIP {
				// The provider picked the address: the nodes' configs
				// must use the one it routes.
				if err := r.Journal.Update(func(j *state.Journal) { j.NodeLocked(n.Name).PrivateIP = a.PrivateIP }); err != nil {
					return err
				}
				r.NodesChanged()
				n.PrivateIP = a.PrivateIP
			}
			if a.MAC != "" && a.MAC != n.PrivateMAC {
				if err := r.Journal.Update(func(j *state.Journal) { j.NodeLocked(n.Name).PrivateMAC = a.MAC }); err != nil {
					return err
				}
			}
			if !reported[n.Name] {
				reported[n.Name] = true
				if err := r.Journal.SetResourceStatus(state.KindAssignment, a.ID, a.RawStatus); err != nil {
					return err
				}
				r.NodeEvent(n.Name, "connected", n.PrivateIP, "on "+networkLabel(net))
			}
		}
		if len(waiting) == 0 {
			return nil
		}
		if r.Clock.Now().Sub(start) > networkTimeout {
			return errors.New("network links still not connected after " + networkTimeout.String() + ": " + strings.Join(waiting, ", "))
		}
		if err := r.Clock.Sleep(ctx, 5*time.Second); err != nil {
			return err
		}
	}
}
