package deploy

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/cto-platform/cto/internal/pipeline"
	"github.com/cto-platform/cto/internal/platform"
	"github.com/cto-platform/cto/internal/provider"
	"github.com/cto-platform/cto/internal/spec"
	"github.com/cto-platform/cto/internal/state"
	"github.com/cto-platform/cto/internal/talos"
)

// vlanAttr holds the 802.1Q id of the VLAN the network step journals as a
// state.KindNetwork resource.
const vlanAttr = "vlan"

// talosVersion is the spec's Talos version with its "v" (the factory's
// URLs need it), or the default.
func talosVersion(r *pipeline.Run) string {
	if v := r.Deps.Spec.Talos.Version; v != "" {
		return "v" + strings.TrimPrefix(v, "v")
	}
	return talos.DefaultTalosVersion
}

func imageFactory(r *pipeline.Run) talos.Factory {
	return talos.Factory{URL: r.Deps.Spec.Talos.ImageFactoryURL, HTTP: r.Deps.Talos.FactoryHTTP}
}

// nodeHasGPU says which nodes are GPU nodes (NVIDIA extensions, modules
// and label): the workers of a GPU cluster, or every node when it has no
// workers. The boot media and the install image both follow it.
func nodeHasGPU(r *pipeline.Run, role string) bool {
	s := r.Deps.Spec
	return s.GPU && (role == talos.RoleWorker || s.Workers() == 0)
}

// nodeSchematic is a node's schematic: the Talos extensions the cluster's
// platform components need on it, as the catalog declares them.
func nodeSchematic(r *pipeline.Run, gpu bool) (talos.Schematic, error) {
	comps, err := platform.SelectComponents(PlatformSelection(r.Deps.Spec))
	if err != nil {
		return talos.Schematic{}, err
	}
	return talos.SchematicFor(platform.NodeExtensions(comps, gpu)), nil
}

// nodeKubeletMounts are the host directories the cluster's platform
// components use on a node that Talos's kubelet container must have bound
// in, as the catalog declares them.
func nodeKubeletMounts(r *pipeline.Run, gpu bool) ([]string, error) {
	comps, err := platform.SelectComponents(PlatformSelection(r.Deps.Spec))
	if err != nil {
		return nil, err
	}
	return platform.NodeKubeletMounts(comps, gpu), nil
}

// ensureSchematic registers the node class's schematic with the Image
// Factory once and journals its id under the schematic's content.
func ensureSchematic(ctx context.Context, r *pipeline.Run, gpu bool) (string, error) {
	s, err := nodeSchematic(r, gpu)
	if err != nil {
		return "", err
	}
	if id := r.Journal.FactsCopy().Schematics[s.ID()]; id != "" {
		return id, nil
	}
	id, err := imageFactory(r).EnsureSchematic(ctx, s)
	if err != nil {
		return "", err
	}
	if err := r.Journal.SetFacts(func(f *state.Facts) {
		if f.Schematics == nil {
			f.Schematics = map[string]string{}
		}
		f.Schematics[s.ID()] = id
	}); err != nil {
		return "", err
	}
	return id, nil
}

// TalosBootMedia is Deps.BootMedia for providers that boot Talos by iPXE:
// the factory's PXE URL, or, when the provider has no DHCP, a script with
// ip= from iPXE's own settings or from the placeholders the provider fills.
func TalosBootMedia(ctx context.Context, r *pipeline.Run, gpu bool) (provider.Boot, error) {
	id, err := ensureSchematic(ctx, r, gpu)
	if err != nil {
		return provider.Boot{}, err
	}
	factory := imageFactory(r)
	im := factory.Images(id, talosVersion(r))
	build := provider.TalosImage{Factory: factory.BaseURL(), Schematic: id, Version: talosVersion(r)}
	if r.Deps.Provider != nil && !r.Deps.Provider.Capabilities().DHCP {
		static := talos.IPXEStaticIP
		// A provider that fills placeholders of its own in the script
		// leaves iPXE's settings empty: the address comes from those.
		if t := r.Deps.Provider.Capabilities().AddressTemplate; t.Address != "" {
			static = talos.StaticIP{Address: t.Address, Gateway: t.Gateway, Netmask: t.Netmask}
		}
		return provider.Boot{Method: provider.BootIPXE, URL: im.PXE(), Script: im.IPXEScript(&static), Talos: build}, nil
	}
	return provider.Boot{Method: provider.BootIPXE, URL: im.PXE(), Talos: build}, nil
}

// loadOrCreateSecrets returns the cluster's Talos secrets. They are created
// and stored (0600, atomically) the first time, before any node is
// touched; after that they are only ever loaded.
func loadOrCreateSecrets(r *pipeline.Run) (*talos.Secrets, error) {
	data, err := r.Cluster.ReadFile(talos.SecretsFile)
	if err == nil {
		s, err := talos.ParseSecrets(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w; restore it from a backup (cto never regenerates secrets of a cluster that exists)", r.Cluster.Path(talos.SecretsFile), err)
		}
		return s, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	s, data, err := talos.NewSecrets(talosVersion(r))
	if err != nil {
		return nil, err
	}
	if err := r.Cluster.WriteSecret(talos.SecretsFile, data); err != nil {
		return nil, err
	}
	return s, nil
}

// ControlPlanes are the control-plane nodes in index order.
func ControlPlanes(nodes []state.Node) []state.Node {
	var cps []state.Node
	for _, n := range nodes {
		if n.Role == talos.RoleControlPlane {
			cps = append(cps, n)
		}
	}
	slices.SortFunc(cps, func(a, b state.Node) int { return a.Index - b.Index })
	return cps
}

// clusterInput derives what every node's config shares from the spec, the
// journal's nodes and the network resource.
func clusterInput(r *pipeline.Run, nodes []state.Node, s *talos.Secrets) (talos.ClusterInput, error) {
	sp := r.Deps.Spec
	cps := ControlPlanes(nodes)
	if len(cps) == 0 {
		return talos.ClusterInput{}, errors.New("the journal has no control-plane node; run the servers step first")
	}
	in := talos.ClusterInput{
		Name:                sp.Name,
		TalosVersion:        talosVersion(r),
		KubernetesVersion:   sp.Talos.KubernetesVersion,
		PrivateCIDR:         sp.Network.CIDR,
		PrivateLinkSelector: r.Deps.Talos.PrivateLinkSelector,
		Secrets:             s,
	}
	if in.PrivateCIDR == "" {
		in.PrivateCIDR = spec.DefaultPrivateCIDR
	}
	// Without workers, or when every worker is a GPU node tainted for GPU
	// pods, the control planes are where the other workloads run.
	in.SchedulingOnControlPlanes = sp.GPUTaint || !slices.ContainsFunc(nodes, func(n state.Node) bool { return n.Role == talos.RoleWorker })
	var caps provider.Capabilities
	if p := r.Deps.Provider; p != nil {
		caps = p.Capabilities()
	}
	in.PrivateDHCP, in.PrivateMTU = caps.PrivateDHCP, caps.PrivateMTU
	facts := r.Journal.FactsCopy()
	lb := facts.APILoadBalancer
	kind := planEndpoint(sp.DNS.Domain, len(cps), caps, lb != "").Kind
	if facts.Bootstrap == talos.BootstrapDone && facts.Endpoint != "" {
		// A running cluster keeps the endpoint its nodes were configured
		// with: a control plane added or replaced later joins through it,
		// and every config already applied stays valid.
		kind = keptEndpoint
	}
	switch kind {
	case keptEndpoint:
		in.Endpoint = facts.Endpoint
		if facts.VIP != "" && facts.VIP == facts.Endpoint {
			in.VIP = facts.VIP
		}
		in.SANs = append(in.SANs, facts.Endpoint)
	case endpointDNS:
		in.Endpoint = fmt.Sprintf("api.%s.%s", sp.Name, sp.DNS.Domain)
		in.SANs = append(in.SANs, in.Endpoint)
	case endpointLoadBalancer:
		in.Endpoint = lb
	case endpointVIP:
		vip, err := vipFor(in.PrivateCIDR, nodes)
		if err != nil {
			return in, err
		}
		in.Endpoint, in.VIP = vip, vip
		in.SANs = append(in.SANs, vip)
	default:
		in.Endpoint = cps[0].PublicIP
	}
	if lb != "" {
		in.SANs = append(in.SANs, lb)
	}
	for _, cp := range cps {
		in.SANs = append(in.SANs, cp.PublicIP)
		if cp.PrivateIP != "" {
			in.SANs = append(in.SANs, cp.PrivateIP)
		}
	}
	for _, res := range r.Journal.LiveResources(state.KindNetwork) {
		if v, err := strconv.Atoi(res.Attrs[vlanAttr]); err == nil && v > 0 {
			in.VLAN = v
		}
	}
	return in, nil
}

// ensureAPILoadBalancer puts the provider's load balancer in front of the
// control planes when it has one for their number, journaling its ID the
// moment it exists.
func ensureAPILoadBalancer(ctx context.Context, r *pipeline.Run, nodes []state.Node) error {
	lbp, ok := r.Deps.Provider.(provider.APILoadBalancer)
	if !ok {
		return nil
	}
	ep, err := lbp.EnsureAPIEndpoint(ctx, r.Deps.Spec.Name, regionOf(r), len(ControlPlanes(nodes)))
	if err != nil {
		return fmt.Errorf("the Kubernetes API load balancer: %w", err)
	}
	if ep.LoadBalancerID == "" {
		return nil
	}
	if !slices.ContainsFunc(r.Journal.LiveResources(state.KindLoadBalancer), func(res state.Resource) bool { return res.ID == ep.LoadBalancerID }) {
		if err := r.Journal.AddResource(state.Resource{Kind: state.KindLoadBalancer, ID: ep.LoadBalancerID, Name: r.Deps.Spec.Name + "-api",
			Region: regionOf(r), Attrs: map[string]string{"ipv4": ep.IPv4}}); err != nil {
			return err
		}
		r.Say("load balancer %s (%s) in front of the control planes' Kubernetes API", ep.LoadBalancerID, ep.IPv4)
	}
	return r.Journal.SetFacts(func(f *state.Facts) { f.APILoadBalancer = ep.IPv4 })
}

// vipFor picks the VIP: the highest host address of the private range,
// which the network step never hands to a node.
func vipFor(cidr string, nodes []state.Node) (string, error) {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return "", fmt.Errorf("private range %q: %v", cidr, err)
	}
	p = p.Masked()
	last := p.Addr()
	for a := p.Addr(); p.Contains(a); a = a.Next() {
		last = a
	}
	vip := last.Prev() // below the broadcast address
	for _, n := range nodes {
		if n.PrivateIP == vip.String() {
			return "", fmt.Errorf("node %s has the private address %s reserved for the control-plane VIP", n.Name, vip)
		}
	}
	return vip.String(), nil
}

// TalosClient is a Talos API client with the cluster's talosconfig.
func TalosClient(r *pipeline.Run) (*talos.Client, error) {
	data, err := r.Cluster.ReadFile(talos.TalosconfigFile)
	if err != nil {
		return nil, fmt.Errorf("no talosconfig in %s (run the talos step first): %w", r.Cluster.Dir, err)
	}
	cfg, err := talos.ParseTalosconfig(data)
	if err != nil {
		return nil, err
	}
	return &talos.Client{Talosconfig: cfg}, nil
}

// describeSchematic says what a schematic is for, for the run's output.
func describeSchematic(s talos.Schematic, gpu bool) string {
	class := "plain nodes"
	if gpu {
		class = "GPU nodes"
	}
	exts := s.Extensions()
	if len(exts) == 0 {
		return class + ", no extensions"
	}
	return class + ": " + strings.Join(exts, ", ")
}

// InstallerImage is the install image for a node of role at a Talos
// version: the Image Factory's installer of the cluster's schematic for
// that class of node, as the talos phase installs it.
func InstallerImage(ctx context.Context, r *pipeline.Run, role, version string) (string, error) {
	id, err := ensureSchematic(ctx, r, nodeHasGPU(r, role))
	if err != nil {
		return "", err
	}
	return imageFactory(r).Images(id, version).Installer(), nil
}

// TalosVersions lists the Talos versions the cluster's Image Factory builds.
func TalosVersions(ctx context.Context, r *pipeline.Run) ([]string, error) {
	return imageFactory(r).Versions(ctx)
}
