package robot

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cto-platform/cto/internal/provider"
)

// VLAN ids Robot allows for vSwitches.
const (
	firstVLAN = 4000
	lastVLAN  = 4091
)

// VSwitchName is the cluster's vSwitch.
func VSwitchName(cluster string) string { return "cto-" + cluster }

func (p *Provider) clusterVSwitch(ctx context.Context, cluster string) (*VSwitch, error) {
	all, err := p.api.VSwitches(ctx)
	if err != nil {
		return nil, fmt.Errorf("list vSwitches: %w", err)
	}
	for i := range all {
		if all[i].Name == VSwitchName(cluster) && !all[i].Cancelled {
			return &all[i], nil
		}
	}
	return nil, nil
}

// CreateNetwork creates the cluster's vSwitch on the lowest VLAN id (4000
// to 4091) no other vSwitch of the account uses; a second call returns it.
// Nodes tag their private interface with Network.VLAN.
func (p *Provider) CreateNetwork(ctx context.Context, n provider.NetworkSpec) (provider.Network, error) {
	if n.Cluster == "" {
		return provider.Network{}, fmt.Errorf("create network: a cluster is required: %w", provider.ErrInvalid)
	}
	all, err := p.api.VSwitches(ctx)
	if err != nil {
		return provider.Network{}, fmt.Errorf("list vSwitches: %w", err)
	}
	used := map[int]bool{}
	for _, v := range all {
		if v.Cancelled {
			continue
		}
		if v.Name == VSwitchName(n.Cluster) {
			return networkOf(v, n.Region, n.CIDR), nil
		}
		used[v.VLAN] = true
	}
	vlan := 0
	for id := firstVLAN; id <= lastVLAN; id++ {
		if !used[id] {
			vlan = id
			break
		}
	}
	if vlan == 0 {
		return provider.Network{}, fmt.Errorf("every VLAN id from %d to %d is in use by another vSwitch: %w", firstVLAN, lastVLAN, provider.ErrOutOfStock)
	}
	v, err := p.api.CreateVSwitch(ctx, VSwitchName(n.Cluster), vlan)
	if err != nil {
		return provider.Network{}, fmt.Errorf("create vSwitch %s: %w", VSwitchName(n.Cluster), err)
	}
	return networkOf(v, n.Region, n.CIDR), nil
}

func networkOf(v VSwitch, region, cidr string) provider.Network {
	return provider.Network{ID: strconv.Itoa(v.ID), Name: v.Name, Region: strings.ToUpper(region), VLAN: v.VLAN, CIDR: cidr}
}

// ListNetworks returns the cluster's vSwitch (none once cancelled).
func (p *Provider) ListNetworks(ctx context.Context, cluster string) ([]provider.Network, error) {
	v, err := p.clusterVSwitch(ctx, cluster)
	if err != nil || v == nil {
		return nil, err
	}
	return []provider.Network{networkOf(*v, "", "")}, nil
}

func vswitchID(id string) (int, error) {
	n, err := strconv.Atoi(id)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("vSwitch %q: %w", id, provider.ErrNotFound)
	}
	return n, nil
}

// vswitchChange runs a vSwitch change, waiting while Robot still processes
// the previous one (409 VSWITCH_IN_PROCESS): Robot takes one change per
// vSwitch at a time.
func (p *Provider) vswitchChange(ctx context.Context, change func() error) error {
	for attempt := 0; ; attempt++ {
		err := change()
		var re *Error
		if err == nil || !errors.As(err, &re) || re.Code != "VSWITCH_IN_PROCESS" || attempt >= 30 {
			return err
		}
		if err := p.cfg.Clock.Sleep(ctx, 10*time.Second); err != nil {
			return err
		}
	}
}

// AssignServer connects a server to the vSwitch; it shows as pending until
// Robot has processed it.
func (p *Provider) AssignServer(ctx context.Context, networkID, serverID string) (provider.Assignment, error) {
	vid, err := vswitchID(networkID)
	if err != nil {
		return provider.Assignment{}, err
	}
	n, err := parseNumber(serverID)
	if err != nil {
		return provider.Assignment{}, err
	}
	a := provider.Assignment{ID: networkID + ":" + serverID, NetworkID: networkID, ServerID: serverID, Status: provider.AssignmentPending, RawStatus: "processing"}
	err = p.vswitchChange(ctx, func() error { return p.api.AddToVSwitch(ctx, vid, n) })
	var re *Error
	if errors.As(err, &re) && re.Code == "VSWITCH_SERVER_ALREADY_ADDED" {
		return a, nil
	}
	if err != nil {
		return provider.Assignment{}, fmt.Errorf("add server %d to vSwitch %d: %w", n, vid, err)
	}
	return a, nil
}

// ListAssignments returns the vSwitch's servers in one request.
func (p *Provider) ListAssignments(ctx context.Context, networkID string) ([]provider.Assignment, error) {
	vid, err := vswitchID(networkID)
	if err != nil {
		return nil, err
	}
	v, err := p.api.VSwitch(ctx, vid)
	if err != nil {
		return nil, err
	}
	out := make([]provider.Assignment, 0, len(v.Servers))
	for _, s := range v.Servers {
		sid := strconv.Itoa(s.Number)
		a := provider.Assignment{ID: networkID + ":" + sid, NetworkID: networkID, ServerID: sid, Status: provider.AssignmentPending, RawStatus: s.Status}
		if s.Status == "ready" {
			a.Status = provider.AssignmentConnected
		}
		out = append(out, a)
	}
	return out, nil
}

// DeleteNetwork cancels the vSwitch now (vSwitches cost nothing; the
// servers on it stay rented and are only disconnected).
func (p *Provider) DeleteNetwork(ctx context.Context, id string) error {
	vid, v, found, err := toDelete(ctx, id, vswitchID, p.api.VSwitch)
	if !found || v.Cancelled {
		return err
	}
	if err := p.vswitchChange(ctx, func() error { return p.api.CancelVSwitch(ctx, vid) }); err != nil && !errors.Is(err, provider.ErrNotFound) {
		return fmt.Errorf("cancel vSwitch %d: %w", vid, err)
	}
	return nil
}
