package deploy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/cto-platform/cto/internal/pipeline"
	"github.com/cto-platform/cto/internal/provider"
	"github.com/cto-platform/cto/internal/spec"
	"github.com/cto-platform/cto/internal/state"
	"github.com/cto-platform/cto/internal/talos"
)

// talosStep keeps the Talos secrets, renders every node's machine config
// and applies it, each node as soon as it answers in maintenance mode.
type talosStep struct{}

func (talosStep) Name() string { return StepTalos }

func (talosStep) Skip(r *pipeline.Run) (string, bool) {
	if !r.Deps.Spec.NeedsMachines() {
		return "no Talos on a " + r.Deps.Spec.Provider + " cluster", true
	}
	return "", false
}

func (talosStep) Run(ctx context.Context, r *pipeline.Run) error {
	// Secrets first: nothing below may touch a node before they are on disk.
	secrets, err := loadOrCreateSecrets(r)
	if err != nil {
		return err
	}
	nodes, err := waitAddresses(ctx, r)
	if err != nil {
		return err
	}
	if err := ensureAPILoadBalancer(ctx, r, nodes); err != nil {
		return err
	}
	if err := publishAPIName(ctx, r); err != nil {
		return err
	}
	in, err := clusterInput(r, nodes, secrets)
	if err != nil {
		return err
	}
	if err := r.Journal.Update(func(j *state.Journal) {
		j.Facts.Endpoint = in.Endpoint
		if in.VIP != "" {
			j.Facts.VIP = in.VIP
		}
	}); err != nil {
		return err
	}
	client, err := ensureTalosconfig(r, secrets, nodes)
	if err != nil {
		return err
	}
	// Register the schematics before touching nodes: an unreachable factory
	// fails here, with the URL it tried.
	said := map[bool]bool{}
	for _, n := range nodes {
		gpu := nodeHasGPU(r, n.Role)
		if said[gpu] {
			continue
		}
		said[gpu] = true
		s, err := nodeSchematic(r, gpu)
		if err != nil {
			return err
		}
		id, err := ensureSchematic(ctx, r, gpu)
		if err != nil {
			return err
		}
		r.Say("Image Factory schematic %s (%s); installer %s", id, describeSchematic(s, gpu), imageFactory(r).Images(id, talosVersion(r)).Installer())
	}
	// Each role's plan says what its OS drive is: workers may run on
	// --worker-plan, with other disks than the control planes.
	want := map[string]talos.DiskWant{}
	for _, role := range []string{talos.RoleControlPlane, talos.RoleWorker} {
		if slices.ContainsFunc(nodes, func(n state.Node) bool { return n.Role == role }) {
			want[role] = osDrive(ctx, r, planFor(r.Deps.Spec, role))
		}
	}

	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	// The first control plane bootstraps as soon as it runs its config,
	// while the other nodes still install: etcd and the API server come up
	// alongside them instead of after the last one.
	cps := ControlPlanes(nodes)
	first := cps[0].Name
	var cpFailed atomic.Int32
	var cpConfigured atomic.Bool
	cpConfigured.Store(slices.ContainsFunc(cps, func(n state.Node) bool { return n.Configured }))
	// A worker proves its config only once a control plane runs trustd
	// and issues its certificate.
	controlPlanes := func() talos.ControlPlanes {
		switch {
		case cpConfigured.Load():
			return talos.ControlPlanesUp
		case int(cpFailed.Load()) >= len(cps):
			return talos.ControlPlanesFailed
		}
		return talos.ControlPlanesComing
	}
	configure := func(n state.Node) {
		if !n.Configured {
			// Rendered from the journal as it is now: a server replaced
			// meanwhile has a new address.
			in, err := clusterInput(r, r.Journal.NodesCopy(), secrets)
			if err == nil {
				err = configureNode(ctx, r, client, in, n, want[n.Role], controlPlanes)
			}
			if err != nil {
				if n.Role == talos.RoleControlPlane {
					cpFailed.Add(1)
				}
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				return
			}
			if n.Role == talos.RoleControlPlane {
				cpConfigured.Store(true)
			}
		}
		if n.Name == first && r.Journal.FactsCopy().Bootstrap != talos.BootstrapDone {
			if err := bootstrapOnce(ctx, r, client, ControlPlanes(nodes)); err != nil && ctx.Err() == nil {
				r.Warn("bootstrap of %s did not finish yet (%v); the kubernetes step tries again", n.Name, err)
			}
		}
	}
	// Each node as its server is up: on an overlapping deploy, the
	// servers phase reports every change while it still runs.
	started := map[string]bool{}
	waitErr := r.AwaitNodes(ctx, func(serversRunning bool) bool {
		waiting := 0
		for _, n := range r.Journal.NodesCopy() {
			if started[n.Name] || (n.Configured && n.Name != first) {
				continue
			}
			if !serverUp(r, n, serversRunning) {
				waiting++
				continue
			}
			started[n.Name] = true
			wg.Go(func() { configure(n) })
		}
		return waiting == 0
	})
	wg.Wait()
	if waitErr != nil || ctx.Err() != nil {
		return fmt.Errorf("%w: %v", pipeline.ErrStopped, context.Cause(ctx))
	}
	return errors.Join(errs...)
}

// serverUp says whether a node's server is up and its addresses final, so
// that its config can be rendered and applied: always once the servers and
// network phases are done; before that, once the provider says it is ready.
func serverUp(r *pipeline.Run, n state.Node, serversRunning bool) bool {
	if n.PublicIP == "" || n.PrivateIP == "" {
		return false
	}
	return !serversRunning || n.Status == string(provider.StatusReady)
}

// waitAddresses returns the journal's nodes once every one has a public
// and a private address and every control plane's server is up, waiting
// while the steps that fill them in run: the endpoint and every config
// name the control planes' addresses, which change when a server that
// failed to deploy is replaced.
func waitAddresses(ctx context.Context, r *pipeline.Run) ([]state.Node, error) {
	var nodes []state.Node
	missing := ""
	err := r.AwaitNodes(ctx, func(serversRunning bool) bool {
		nodes, missing = r.Journal.NodesCopy(), ""
		for _, n := range nodes {
			if n.PublicIP == "" || n.PrivateIP == "" || (n.Role == talos.RoleControlPlane && !serverUp(r, n, serversRunning)) {
				missing = n.Name
				break
			}
		}
		return missing == "" && len(nodes) > 0
	})
	switch {
	case err != nil:
		return nil, err
	case len(nodes) == 0:
		return nil, errors.New("the journal has no nodes; run the servers step first")
	case missing != "":
		return nil, fmt.Errorf("node %s has no public or private address in the journal; run the servers and network steps first", missing)
	}
	return nodes, nil
}

// ensureTalosconfig writes the talosconfig: its endpoints are the control
// planes' public addresses and it names no default nodes. It is rewritten
// only when those addresses changed (a control plane was replaced).
func ensureTalosconfig(r *pipeline.Run, s *talos.Secrets, nodes []state.Node) (*talos.Client, error) {
	var endpoints []string
	for _, cp := range ControlPlanes(nodes) {
		endpoints = append(endpoints, r.Deps.Talos.Endpoint(cp.PublicIP))
	}
	current := false
	if data, err := r.Cluster.ReadFile(talos.TalosconfigFile); err == nil {
		if cfg, err := talos.ParseTalosconfig(data); err == nil {
			if ctx := cfg.Contexts[cfg.Context]; ctx != nil && slices.Equal(ctx.Endpoints, endpoints) {
				current = true
			}
		}
	}
	if !current {
		data, err := talos.Talosconfig(s, r.Deps.Spec.Name, endpoints)
		if err != nil {
			return nil, err
		}
		if err := r.Cluster.WriteSecret(talos.TalosconfigFile, data); err != nil {
			return nil, err
		}
	}
	return TalosClient(r)
}

// osDrive is a plan's OS drive (its first group of drives), so the
// install disk is chosen by what the plan says, not by guessing.
func osDrive(ctx context.Context, r *pipeline.Run, plan string) talos.DiskWant {
	p := r.Deps.Provider
	if p == nil || plan == "" {
		return talos.DiskWant{}
	}
	plans, err := p.ListPlans(ctx, provider.PlanFilter{Slug: plan})
	if err != nil || len(plans) == 0 || len(plans[0].Drives) == 0 {
		r.Warn("plan %s: drive layout unknown; installing to the first fixed disk with a serial", plan)
		return talos.DiskWant{}
	}
	d := plans[0].Drives[0]
	return talos.DiskWant{SizeGB: d.SizeGB, Type: d.Type}
}

// configureNode brings one node from maintenance mode to running the
// cluster's config (talos.InstallNode) and journals that it does.
func configureNode(ctx context.Context, r *pipeline.Run, client *talos.Client, in talos.ClusterInput, n state.Node, want talos.DiskWant, controlPlanes func() talos.ControlPlanes) error {
	endpoint := r.Deps.Talos.Endpoint(n.PublicIP)
	err := client.InstallNode(ctx, talosPace(r), talos.Install{
		Name: n.Name, Address: n.PublicIP, Endpoint: endpoint, Worker: n.Role == talos.RoleWorker,
		Render: func(ctx context.Context) ([]byte, string, error) {
			return renderNode(ctx, r, client, in, n, endpoint, want)
		},
		Applied:       func(ctx context.Context) { detachISO(ctx, r, n) },
		ControlPlanes: controlPlanes,
		Report:        func(status, msg string) { r.NodeEvent(n.Name, status, n.PublicIP, msg) },
		SilentHint: func() string {
			if h, ok := r.Deps.Provider.(provider.SilentNodeHinter); ok {
				return h.SilentNodeHint(r.Deps.Spec.Name)
			}
			return ""
		},
	})
	if err != nil {
		return err
	}
	if err := r.Journal.Update(func(j *state.Journal) {
		if jn := j.NodeLocked(n.Name); jn != nil {
			jn.Configured = true
			jn.TalosVersion = in.TalosVersion
			jn.KubernetesVersion = "v" + strings.TrimPrefix(cmp.Or(in.KubernetesVersion, talos.DefaultKubernetesVersion), "v")
		}
	}); err != nil {
		return err
	}
	r.NodeEvent(n.Name, "configured", n.PublicIP, "runs this cluster's Talos config")
	return nil
}

// talosPace is how the run waits on nodes.
func talosPace(r *pipeline.Run) talos.Pace {
	o := r.Deps.Talos
	return talos.Pace{Clock: r.Clock, Poll: o.PollInterval(), NodeTimeout: o.NodeDeadline(), ApplyTimeout: o.ApplyDeadline()}
}

// detachISO takes the node's ISO out when the provider has one. A failure
// is only a warning: a node that boots the ISO again shows up in
// maintenance mode and takes its config again.
func detachISO(ctx context.Context, r *pipeline.Run, n state.Node) {
	d, ok := r.Deps.Provider.(provider.ISODetacher)
	if !ok || n.ServerID == "" {
		return
	}
	if err := d.DetachISO(ctx, n.ServerID); err != nil {
		r.Warn("%s: could not detach the Talos ISO of server %s: %v", n.Name, n.ServerID, err)
	}
}

// renderNode picks the node's install disk from what it reports and
// renders its validated config; it returns the config's install image.
func renderNode(ctx context.Context, r *pipeline.Run, client *talos.Client, in talos.ClusterInput, n state.Node, endpoint string, want talos.DiskWant) ([]byte, string, error) {
	disks, err := client.Disks(ctx, endpoint)
	if err != nil {
		return nil, "", fmt.Errorf("node %s (%s): list disks: %w", n.Name, n.PublicIP, err)
	}
	disk, err := talos.PickInstallDisk(disks, want)
	if err != nil {
		return nil, "", fmt.Errorf("node %s (%s): %w", n.Name, n.PublicIP, err)
	}
	gpu := nodeHasGPU(r, n.Role)
	id, err := ensureSchematic(ctx, r, gpu)
	if err != nil {
		return nil, "", err
	}
	if n, err = nodeNICs(ctx, r, n); err != nil {
		return nil, "", err
	}
	ni, err := nodeInput(r, n, disk, id)
	if err != nil {
		return nil, "", err
	}
	if ni.PublicAddress, ni.PublicGateway, err = staticPublicNetwork(ctx, r, n); err != nil {
		return nil, "", err
	}
	cfg, err := talos.Generate(in, ni)
	return cfg, ni.InstallImage, err
}

// staticPublicNetwork is the node's public address/prefix and gateway
// when its provider hands out no DHCP, "" otherwise. The ip= argument the
// boot script gives Talos addresses the node only until the install: the
// installer writes the installed system's kernel command line afresh
// (platform, defaults, extra kernel arguments), so after its reboot from
// disk only the config's static address keeps the node reachable.
func staticPublicNetwork(ctx context.Context, r *pipeline.Run, n state.Node) (address, gateway string, err error) {
	p := r.Deps.Provider
	if p == nil || p.Capabilities().DHCP || n.ServerID == "" {
		return "", "", nil
	}
	pn, ok := p.(provider.PublicNetworker)
	if !ok {
		return "", "", nil
	}
	pub, err := pn.PublicNetwork(ctx, n.ServerID)
	if err != nil {
		return "", "", fmt.Errorf("node %s: read its server's public network (no DHCP to address it): %w", n.Name, err)
	}
	if a, perr := netip.ParsePrefix(pub.Address); perr != nil || a.Addr().String() != n.PublicIP {
		return "", "", fmt.Errorf("node %s: the provider reports public network %s, not one of its address %s", n.Name, pub.Address, n.PublicIP)
	}
	return pub.Address, pub.Gateway, nil
}

// nodeInput is what a node's config says of the node itself: its role,
// addresses and NICs from the journal, its install disk, and the
// installer of its schematic, and the host directories its kubelet must see.
func nodeInput(r *pipeline.Run, n state.Node, disk talos.Disk, schematicID string) (talos.NodeInput, error) {
	gpu := nodeHasGPU(r, n.Role)
	mounts, err := nodeKubeletMounts(r, gpu)
	if err != nil {
		return talos.NodeInput{}, err
	}
	return talos.NodeInput{
		Name: n.Name, Role: n.Role, PrivateIP: n.PrivateIP, GPU: gpu, GPUTaint: gpu && r.Deps.Spec.GPUTaint,
		InstallImage: imageFactory(r).Images(schematicID, talosVersion(r)).Installer(),
		Disk:         disk,
		PublicMAC:    n.PublicMAC, PrivateMAC: n.PrivateMAC,
		KubeletMounts: mounts,
	}, nil
}

// nodeNICs returns the node with the MACs of its NICs. The servers step
// journals what the provider reported while the server deployed; a NIC
// that appeared later (a cloud server's NIC on the private network) is
// read from the server now, once, and journaled.
func nodeNICs(ctx context.Context, r *pipeline.Run, n state.Node) (state.Node, error) {
	p := r.Deps.Provider
	if p == nil || n.ServerID == "" || (n.PublicMAC != "" && n.PrivateMAC != "") {
		return n, nil
	}
	s, err := p.GetServer(ctx, n.ServerID)
	if err != nil {
		return n, fmt.Errorf("node %s: read its server's NICs: %w", n.Name, err)
	}
	if !nicsChanged(n, s) {
		return n, nil
	}
	recordNICs(&n, s)
	err = r.Journal.Update(func(j *state.Journal) {
		if jn := j.NodeLocked(n.Name); jn != nil && jn.ServerID == s.ID {
			recordNICs(jn, s)
		}
	})
	return n, err
}

// DryRun renders every node's config into <cluster>/dry-run without
// registering schematics or touching nodes. Without servers yet it uses
// placeholder addresses from the documentation ranges.
func (talosStep) DryRun(ctx context.Context, r *pipeline.Run) error {
	var secrets *talos.Secrets
	if data, err := r.Cluster.ReadFile(talos.SecretsFile); err == nil {
		if secrets, err = talos.ParseSecrets(data); err != nil {
			return err
		}
	} else {
		// Throwaway secrets: a dry run stores nothing a deploy would reuse.
		var err error
		if secrets, _, err = talos.NewSecrets(talosVersion(r)); err != nil {
			return err
		}
	}
	nodes := r.Journal.NodesCopy()
	placeholder := len(nodes) == 0
	if placeholder {
		nodes = placeholderNodes(r)
	}
	in, err := clusterInput(r, nodes, secrets)
	if err != nil {
		return err
	}
	dir := r.Cluster.Path("dry-run")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	var paths []string
	staticPlaceholder := false
	for _, n := range nodes {
		schematic, err := nodeSchematic(r, nodeHasGPU(r, n.Role))
		if err != nil {
			return err
		}
		id := schematic.ID() // computed locally; not registered
		ni, err := nodeInput(r, n, talos.Disk{Serial: "PLACEHOLDER-DISK-SERIAL"}, id)
		if err != nil {
			return err
		}
		// Without DHCP the public link is addressed statically, as in a
		// deploy: from the provider's answer for a server that exists,
		// else from the placeholder address.
		if ni.PublicAddress, ni.PublicGateway, err = staticPublicNetwork(ctx, r, n); err != nil {
			return err
		}
		if p := r.Deps.Provider; ni.PublicAddress == "" && p != nil && !p.Capabilities().DHCP {
			ni.PublicAddress, ni.PublicGateway = placeholderPublicNetwork(n.PublicIP)
			staticPlaceholder = true
		}
		cfg, err := talos.Generate(in, ni)
		if err != nil {
			return err
		}
		name := n.Name + ".yaml"
		if placeholder {
			name = n.Name + ".placeholder.yaml"
		}
		path := filepath.Join(dir, name)
		if err := state.WriteFile(path, cfg, 0o600); err != nil {
			return err
		}
		paths = append(paths, path)
	}
	if placeholder {
		r.Say("no servers yet: configs use PLACEHOLDER addresses (192.0.2.x public, a disk serial placeholder)")
	}
	if staticPlaceholder {
		r.Say("no DHCP at %s: each public link gets a static address and default route; a deploy reads them from the provider, these configs use the address/31 and its peer as PLACEHOLDERS", r.Deps.Spec.Provider)
	}
	r.Say("rendered Talos configs (secrets inside, 0600):\n  %s", strings.Join(paths, "\n  "))
	return nil
}

// placeholderNodes stands in for servers that do not exist yet.
func placeholderNodes(r *pipeline.Run) []state.Node {
	sp := r.Deps.Spec
	cps := max(sp.ControlPlanes, 1)
	var nodes []state.Node
	for i := range max(sp.Nodes, cps) {
		role, num := talos.RoleControlPlane, i+1
		if i >= cps {
			role, num = talos.RoleWorker, i-cps+1
		}
		short := "cp"
		if role == talos.RoleWorker {
			short = "worker"
		}
		nodes = append(nodes, state.Node{
			Name: fmt.Sprintf("%s-%s%d", sp.Name, short, num), Role: role, Index: i,
			PublicIP:  fmt.Sprintf("192.0.2.%d", 10+i),
			PrivateIP: placeholderPrivate(sp.Network.CIDR, i),
		})
	}
	return nodes
}

// placeholderPublicNetwork stands in for the public network a provider
// without DHCP reports: the address on a /31 and the segment's other
// address as its gateway (RFC 3021).
func placeholderPublicNetwork(ip string) (address, gateway string) {
	a, err := netip.ParseAddr(ip)
	if err != nil || !a.Is4() {
		return "", ""
	}
	p := netip.PrefixFrom(a, 31).Masked()
	gw := p.Addr()
	if gw == a {
		gw = a.Next()
	}
	return netip.PrefixFrom(a, 31).String(), gw.String()
}

// placeholderPrivate is the i-th host address of the private range
// (counting from .10), as the network step would hand out.
func placeholderPrivate(cidr string, i int) string {
	p, err := netip.ParsePrefix(cmp.Or(cidr, spec.DefaultPrivateCIDR))
	if err != nil {
		return ""
	}
	a := p.Masked().Addr()
	for range 10 + i {
		a = a.Next()
	}
	return a.String()
}
