package hetzner

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/hetznercloud/hcloud-go/v2/hcloud"

	"github.com/cto-platform/cto/internal/provider"
	"github.com/cto-platform/cto/internal/provider/hetzner/rescue"
)

// isoBaseImage is the image a server that boots the Talos ISO is created
// with: the API needs one, and Talos overwrites the disk when it installs.
const isoBaseImage = "debian-12"

// ServerLabels are the labels of a cluster's server.
func ServerLabels(cluster string, role provider.Role) map[string]string {
	return map[string]string{LabelCluster: cluster, LabelRole: string(role)}
}

func clusterSelector(cluster string) string { return LabelCluster + "==" + cluster }

// PlacementGroupName is the spread group a cluster's control planes share,
// so no two of them run on the same host.
func PlacementGroupName(cluster string) string { return cluster + "-controlplanes" }

// CreateServer creates one server, labelled with its cluster and role;
// control planes join the cluster's spread placement group. With
// BootImage the server starts from the snapshot at once. With BootISO (or a
// Talos factory iPXE URL, which TalosMedia turns into the public ISO of its
// version or the snapshot of its version and schematic) it is created
// stopped, and FinishServer attaches the ISO and powers it on.
func (p *Provider) CreateServer(ctx context.Context, s provider.ServerSpec) (provider.Server, error) {
	if s.Cluster == "" || s.Hostname == "" || s.Plan == "" || s.Region == "" {
		return provider.Server{}, fmt.Errorf("create server: cluster, hostname, plan and region are required: %w", provider.ErrInvalid)
	}
	image, iso, err := p.resolveBoot(ctx, s, s.Boot)
	if err != nil {
		return provider.Server{}, err
	}
	start := iso == nil
	opts := hcloud.ServerCreateOpts{
		Name:             s.Hostname,
		ServerType:       &hcloud.ServerType{Name: s.Plan},
		Image:            image,
		Location:         &hcloud.Location{Name: strings.ToLower(s.Region)},
		Labels:           ServerLabels(s.Cluster, s.Role),
		StartAfterCreate: &start,
		PublicNet:        &hcloud.ServerCreatePublicNet{EnableIPv4: true, EnableIPv6: true},
	}
	if s.Role == provider.RoleControlPlane {
		pg, err := p.placementGroup(ctx, s.Cluster)
		if err != nil {
			return provider.Server{}, err
		}
		opts.PlacementGroup = pg
	}
	res, _, err := p.api.Server.Create(ctx, opts)
	if err != nil {
		if hcloud.IsError(err, hcloud.ErrorCodeUniquenessError) {
			// A create that went through before an interruption: the
			// same name with our labels is the same server; finish its
			// ISO boot if that is what was cut short.
			existing, _, gerr := p.api.Server.GetByName(ctx, s.Hostname)
			if gerr == nil && existing != nil && existing.Labels[LabelCluster] == s.Cluster {
				if iso != nil && existing.Status == hcloud.ServerStatusOff && statusOf(existing) != provider.StatusFailed {
					p.unbooted.Put(strconv.FormatInt(existing.ID, 10), isoBoot{server: existing, iso: iso})
				}
				return serverOf(existing), nil
			}
		}
		return provider.Server{}, apiError("create server "+s.Hostname, err)
	}
	created := serverOf(res.Server)
	if iso != nil {
		p.unbooted.Put(created.ID, isoBoot{server: res.Server, iso: iso, pending: append([]*hcloud.Action{res.Action}, res.NextActions...)})
	}
	return created, nil
}

// isoBoot is a server CreateServer left stopped for FinishServer to boot
// from its ISO once the create's own actions are done.
type isoBoot struct {
	server  *hcloud.Server
	iso     *hcloud.ISO
	pending []*hcloud.Action
}

// FinishServer boots a server CreateServer created stopped from its ISO:
// it waits for the create's actions, attaches the ISO and powers the
// server on, waiting with the SDK's action waiter. A failure of those
// actions labels the server failed and returns it with StatusFailed, so
// it is replaced. A server that needs no ISO is returned as it is.
func (p *Provider) FinishServer(ctx context.Context, s provider.ServerSpec, created provider.Server) (provider.Server, error) {
	b, ok := p.unbooted.Take(created.ID)
	if !ok {
		return created, nil
	}
	return p.bootISO(ctx, b.server, b.iso, b.pending)
}

// bootISO waits for the server's pending actions, attaches the ISO and
// powers the server on, waiting on each with the SDK's action waiter.
func (p *Provider) bootISO(ctx context.Context, srv *hcloud.Server, iso *hcloud.ISO, pending []*hcloud.Action) (provider.Server, error) {
	steps := []func() ([]*hcloud.Action, error){
		func() ([]*hcloud.Action, error) { return pending, nil },
		func() ([]*hcloud.Action, error) {
			a, _, err := p.api.Server.AttachISO(ctx, srv, iso)
			return []*hcloud.Action{a}, err
		},
		func() ([]*hcloud.Action, error) {
			a, _, err := p.api.Server.Poweron(ctx, srv)
			return []*hcloud.Action{a}, err
		},
	}
	for _, step := range steps {
		actions, err := step()
		if err == nil {
			err = p.api.Action.WaitFor(ctx, actions...)
		}
		var ae hcloud.ActionError
		if errors.As(err, &ae) {
			return p.markFailed(ctx, srv, ae)
		}
		if err != nil {
			return serverOf(srv), apiError("boot server "+srv.Name+" from the Talos ISO", err)
		}
	}
	return p.GetServer(ctx, strconv.FormatInt(srv.ID, 10))
}

// markFailed labels a server whose boot failed, so every later read says so.
func (p *Provider) markFailed(ctx context.Context, srv *hcloud.Server, cause hcloud.ActionError) (provider.Server, error) {
	labels := map[string]string{}
	for k, v := range srv.Labels {
		labels[k] = v
	}
	labels[LabelState] = "failed"
	updated, _, err := p.api.Server.Update(ctx, srv, hcloud.ServerUpdateOpts{Labels: labels})
	if err != nil {
		return provider.Server{}, apiError(fmt.Sprintf("label server %d failed after %s", srv.ID, cause.Message), err)
	}
	out := serverOf(updated)
	out.RawStatus = "failed: " + cause.Message
	return out, nil
}

// resolveBoot turns the requested boot into the create image and, for ISO
// boots, the ISO to attach.
func (p *Provider) resolveBoot(ctx context.Context, s provider.ServerSpec, b provider.Boot) (*hcloud.Image, *hcloud.ISO, error) {
	switch b.Method {
	case provider.BootImage:
		id, err := strconv.ParseInt(b.URL, 10, 64)
		if err != nil {
			return nil, nil, fmt.Errorf("boot image %q is not a snapshot ID: %w", b.URL, provider.ErrInvalid)
		}
		return &hcloud.Image{ID: id}, nil, nil
	case provider.BootISO:
		if b.URL == "" {
			return nil, nil, fmt.Errorf("boot from ISO needs the ISO's name: %w", provider.ErrInvalid)
		}
		return &hcloud.Image{Name: isoBaseImage}, &hcloud.ISO{Name: b.URL}, nil
	case provider.BootIPXE:
		// Hetzner Cloud cannot chain-load iPXE: TalosMedia finds (or
		// builds) an ISO or a snapshot of the Talos build the boot names.
		if b.Talos.Schematic == "" || b.Talos.Version == "" {
			return nil, nil, fmt.Errorf("Hetzner Cloud cannot chain-load iPXE, and the boot names no Talos build: %w", provider.ErrInvalid)
		}
		img := rescue.Image{Factory: b.Talos.Factory, Schematic: b.Talos.Schematic, Version: b.Talos.Version}
		media, err := p.TalosMedia(ctx, MediaRequest{Image: img, Cluster: s.Cluster, Region: s.Region})
		if err != nil {
			return nil, nil, err
		}
		return p.resolveBoot(ctx, s, media)
	}
	return nil, nil, fmt.Errorf("Hetzner Cloud cannot boot with %q: %w", b.Method, provider.ErrInvalid)
}

// GetServer returns one server; an unknown ID is ErrNotFound.
func (p *Provider) GetServer(ctx context.Context, id string) (provider.Server, error) {
	n, err := parseID("server", id)
	if err != nil {
		return provider.Server{}, err
	}
	srv, _, err := p.api.Server.GetByID(ctx, n)
	if err != nil {
		return provider.Server{}, apiError("get server "+id, err)
	}
	if srv == nil {
		return provider.Server{}, fmt.Errorf("server %s: %w", id, provider.ErrNotFound)
	}
	return serverOf(srv), nil
}

// ListServers returns the cluster's servers, one request per 50.
func (p *Provider) ListServers(ctx context.Context, cluster string) ([]provider.Server, error) {
	servers, err := p.api.Server.AllWithOpts(ctx, hcloud.ServerListOpts{ListOpts: hcloud.ListOpts{LabelSelector: clusterSelector(cluster), PerPage: 50}})
	if err != nil {
		return nil, apiError("list servers of "+cluster, err)
	}
	out := make([]provider.Server, 0, len(servers))
	for _, s := range servers {
		out = append(out, serverOf(s))
	}
	return out, nil
}

// DeleteServer deletes a server without waiting. When it was the cluster's
// last, the cluster's load balancers and placement group go too, so
// nothing of the cluster keeps billing.
func (p *Provider) DeleteServer(ctx context.Context, id string) error {
	srv, err := existing(ctx, "server", id, p.api.Server.GetByID)
	if srv == nil || err != nil {
		return err
	}
	if srv.Status != hcloud.ServerStatusDeleting {
		if _, _, err := p.api.Server.DeleteWithResult(ctx, srv); err != nil && !hcloud.IsError(err, hcloud.ErrorCodeNotFound) {
			return apiError("delete server "+id, err)
		}
	}
	cluster := srv.Labels[LabelCluster]
	if cluster == "" {
		return nil
	}
	rest, err := p.ListServers(ctx, cluster)
	if err != nil {
		return err
	}
	for _, s := range rest {
		if s.Status != provider.StatusDeleting {
			return nil
		}
	}
	return p.deleteClusterExtras(ctx, cluster)
}

func serverOf(s *hcloud.Server) provider.Server {
	out := provider.Server{
		ID:        strconv.FormatInt(s.ID, 10),
		Hostname:  s.Name,
		Status:    statusOf(s),
		RawStatus: string(s.Status),
		CreatedAt: s.Created,
	}
	if s.ServerType != nil {
		out.Plan = s.ServerType.Name
	}
	if s.Location != nil {
		out.Region = s.Location.Name
	}
	if !s.PublicNet.IPv4.IsUnspecified() {
		out.PublicIPv4 = s.PublicNet.IPv4.IP.String()
	}
	for k, v := range s.Labels {
		out.Tags = append(out.Tags, k+"="+v)
	}
	// The API names the MAC of each private network's NIC, not the public
	// NIC's: that one is the NIC with a MAC other than these.
	for _, pn := range s.PrivateNet {
		if mac, err := net.ParseMAC(pn.MACAddress); err == nil {
			out.NICs = append(out.NICs, provider.NIC{Role: provider.NICPrivate, MAC: mac.String()})
		}
	}
	return out
}

func statusOf(s *hcloud.Server) provider.Status {
	if s.Labels[LabelState] == "failed" {
		return provider.StatusFailed
	}
	switch s.Status {
	case hcloud.ServerStatusRunning:
		return provider.StatusReady
	case hcloud.ServerStatusDeleting:
		return provider.StatusDeleting
	case hcloud.ServerStatusUnknown:
		return provider.StatusUnknown
	}
	return provider.StatusPending
}

// placementGroup gets or creates the cluster's spread group.
func (p *Provider) placementGroup(ctx context.Context, cluster string) (*hcloud.PlacementGroup, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	name := PlacementGroupName(cluster)
	pg, _, err := p.api.PlacementGroup.GetByName(ctx, name)
	if err != nil {
		return nil, apiError("get placement group "+name, err)
	}
	if pg != nil {
		return pg, nil
	}
	res, _, err := p.api.PlacementGroup.Create(ctx, hcloud.PlacementGroupCreateOpts{
		Name: name, Type: hcloud.PlacementGroupTypeSpread, Labels: map[string]string{LabelCluster: cluster},
	})
	if err != nil {
		return nil, apiError("create placement group "+name, err)
	}
	return res.PlacementGroup, nil
}
