package hetzner

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/hetznercloud/hcloud-go/v2/hcloud"

	"github.com/cto-platform/cto/internal/provider"
)

// defaultCIDR is the cluster network when the spec names none.
const defaultCIDR = "10.8.0.0/24"

// CreateNetwork creates the cluster's private network with one cloud
// subnet in the network zone of the region's location. A second call for
// the same cluster returns the network the first made.
func (p *Provider) CreateNetwork(ctx context.Context, n provider.NetworkSpec) (provider.Network, error) {
	if n.Cluster == "" || n.Region == "" {
		return provider.Network{}, fmt.Errorf("create network: cluster and region are required: %w", provider.ErrInvalid)
	}
	if nets, err := p.ListNetworks(ctx, n.Cluster); err != nil || len(nets) > 0 {
		if err != nil {
			return provider.Network{}, err
		}
		return nets[0], nil
	}
	loc, _, err := p.api.Location.GetByName(ctx, strings.ToLower(n.Region))
	if err != nil {
		return provider.Network{}, apiError("get location "+n.Region, err)
	}
	if loc == nil {
		return provider.Network{}, fmt.Errorf("location %q: %w", n.Region, provider.ErrInvalid)
	}
	cidr := n.CIDR
	if cidr == "" {
		cidr = defaultCIDR
	}
	_, ipRange, err := net.ParseCIDR(cidr)
	if err != nil {
		return provider.Network{}, fmt.Errorf("network CIDR %q: %w", cidr, provider.ErrInvalid)
	}
	res, _, err := p.api.Network.Create(ctx, hcloud.NetworkCreateOpts{
		Name:    n.Cluster,
		IPRange: ipRange,
		Subnets: []hcloud.NetworkSubnet{{Type: hcloud.NetworkSubnetTypeCloud, IPRange: ipRange, NetworkZone: loc.NetworkZone}},
		Labels:  map[string]string{LabelCluster: n.Cluster},
	})
	if err != nil {
		return provider.Network{}, apiError("create network "+n.Cluster, err)
	}
	return networkOf(res, n.Region), nil
}

// ListNetworks returns the cluster's networks.
func (p *Provider) ListNetworks(ctx context.Context, cluster string) ([]provider.Network, error) {
	nets, err := p.api.Network.AllWithOpts(ctx, hcloud.NetworkListOpts{ListOpts: hcloud.ListOpts{LabelSelector: clusterSelector(cluster)}})
	if err != nil {
		return nil, apiError("list networks of "+cluster, err)
	}
	out := make([]provider.Network, 0, len(nets))
	for _, n := range nets {
		zone := ""
		if len(n.Subnets) > 0 {
			zone = string(n.Subnets[0].NetworkZone)
		}
		out = append(out, networkOf(n, zone))
	}
	return out, nil
}

func networkOf(n *hcloud.Network, region string) provider.Network {
	out := provider.Network{ID: strconv.FormatInt(n.ID, 10), Name: n.Name, Region: region}
	if n.IPRange != nil {
		out.CIDR = n.IPRange.String()
	}
	return out
}

func assignmentID(networkID, serverID string) string { return networkID + ":" + serverID }

// AssignServer attaches a server to the network without waiting; the
// attachment shows as pending in ListAssignments until it is done.
func (p *Provider) AssignServer(ctx context.Context, networkID, serverID string) (provider.Assignment, error) {
	nid, err := parseID("network", networkID)
	if err != nil {
		return provider.Assignment{}, err
	}
	sid, err := parseID("server", serverID)
	if err != nil {
		return provider.Assignment{}, err
	}
	a := provider.Assignment{ID: assignmentID(networkID, serverID), NetworkID: networkID, ServerID: serverID, Status: provider.AssignmentPending, RawStatus: "attaching"}
	_, _, err = p.api.Server.AttachToNetwork(ctx, &hcloud.Server{ID: sid}, hcloud.ServerAttachToNetworkOpts{Network: &hcloud.Network{ID: nid}})
	if hcloud.IsError(err, hcloud.ErrorCodeServerAlreadyAttached) {
		a.Status, a.RawStatus = provider.AssignmentConnected, "ok"
		return a, nil
	}
	if err != nil {
		return provider.Assignment{}, apiError(fmt.Sprintf("attach server %s to network %s", serverID, networkID), err)
	}
	return a, nil
}

// ListAssignments returns the network's servers with their attachment
// state, in one request per 50 members.
func (p *Provider) ListAssignments(ctx context.Context, networkID string) ([]provider.Assignment, error) {
	nid, err := parseID("network", networkID)
	if err != nil {
		return nil, err
	}
	members, err := p.api.Network.AllMembersWithOpts(ctx, &hcloud.Network{ID: nid}, hcloud.NetworkMemberListOpts{Type: []hcloud.NetworkMemberType{hcloud.NetworkMemberTypeServer}})
	if err != nil {
		return nil, apiError("list members of network "+networkID, err)
	}
	out := make([]provider.Assignment, 0, len(members))
	for _, m := range members {
		sid := strconv.FormatInt(m.ID, 10)
		a := provider.Assignment{ID: assignmentID(networkID, sid), NetworkID: networkID, ServerID: sid, Status: provider.AssignmentPending, RawStatus: string(m.Status)}
		if m.Status == hcloud.NetworkMemberStatusOK {
			a.Status = provider.AssignmentConnected
		}
		if m.IP != nil {
			a.PrivateIP = m.IP.String()
		}
		out = append(out, a)
	}
	return out, nil
}

// DeleteNetwork deletes the network, and first the cluster's load
// balancers (which hold on to it); the cluster's placement group goes too.
func (p *Provider) DeleteNetwork(ctx context.Context, id string) error {
	n, err := existing(ctx, "network", id, p.api.Network.GetByID)
	if n == nil || err != nil {
		return err
	}
	if cluster := n.Labels[LabelCluster]; cluster != "" {
		if err := p.deleteLoadBalancers(ctx, cluster); err != nil {
			return err
		}
	}
	if _, err := p.api.Network.Delete(ctx, n); err != nil && !hcloud.IsError(err, hcloud.ErrorCodeNotFound) {
		return apiError("delete network "+id, err)
	}
	if cluster := n.Labels[LabelCluster]; cluster != "" {
		if err := p.deleteClusterSnapshots(ctx, cluster); err != nil {
			return err
		}
		return p.deletePlacementGroups(ctx, cluster)
	}
	return nil
}

// deleteClusterExtras removes what a cluster has besides servers and
// networks: load balancers, the Talos snapshots it built and placement
// groups.
func (p *Provider) deleteClusterExtras(ctx context.Context, cluster string) error {
	if err := p.deleteLoadBalancers(ctx, cluster); err != nil {
		return err
	}
	if err := p.deleteClusterSnapshots(ctx, cluster); err != nil {
		return err
	}
	return p.deletePlacementGroups(ctx, cluster)
}

func (p *Provider) deleteLoadBalancers(ctx context.Context, cluster string) error {
	lbs, err := p.api.LoadBalancer.AllWithOpts(ctx, hcloud.LoadBalancerListOpts{ListOpts: hcloud.ListOpts{LabelSelector: clusterSelector(cluster)}})
	if err != nil {
		return apiError("list load balancers of "+cluster, err)
	}
	for _, lb := range lbs {
		if _, err := p.api.LoadBalancer.Delete(ctx, lb); err != nil && !hcloud.IsError(err, hcloud.ErrorCodeNotFound) {
			return apiError("delete load balancer "+lb.Name, err)
		}
	}
	return nil
}

// deletePlacementGroups removes the cluster's placement groups. A group
// still holding servers on their way out is retried while they go (about a
// minute at most); one left after that costs nothing and is reused by the
// next deploy of the same name.
func (p *Provider) deletePlacementGroups(ctx context.Context, cluster string) error {
	pgs, err := p.api.PlacementGroup.AllWithOpts(ctx, hcloud.PlacementGroupListOpts{ListOpts: hcloud.ListOpts{LabelSelector: clusterSelector(cluster)}})
	if err != nil {
		return apiError("list placement groups of "+cluster, err)
	}
	for _, pg := range pgs {
		for attempt := 0; ; attempt++ {
			_, err := p.api.PlacementGroup.Delete(ctx, pg)
			if err == nil || hcloud.IsError(err, hcloud.ErrorCodeNotFound) {
				break
			}
			if !hcloud.IsError(err, hcloud.ErrorCodeConflict) {
				return apiError("delete placement group "+pg.Name, err)
			}
			if attempt >= 30 {
				break
			}
			if err := p.clock.Sleep(ctx, 2*time.Second); err != nil {
				return err
			}
		}
	}
	return nil
}

// LoadBalancerName is the API load balancer of a cluster.
func LoadBalancerName(cluster string) string { return cluster + "-api" }

// NeedsLoadBalancer reports whether a cluster's Kubernetes API gets a load
// balancer: with three or more control planes no single node may be the
// endpoint.
func NeedsLoadBalancer(controlPlanes int) bool { return controlPlanes >= minLoadBalancedControlPlanes }

const minLoadBalancedControlPlanes = 3

// LoadBalancerType is the type of the API load balancer: the smallest,
// whose 25 targets and 5 services cover any cluster cto builds.
const LoadBalancerType = "lb11"

// APIEndpoint is where the cluster's Kubernetes API answers; an empty
// LoadBalancerID means the first control plane is the endpoint.
type APIEndpoint = provider.APIEndpoint

// DeleteLoadBalancer deletes one load balancer; one already gone is not an
// error.
func (p *Provider) DeleteLoadBalancer(ctx context.Context, id string) error {
	n, err := parseID("load balancer", id)
	if err != nil {
		return nil
	}
	if _, err := p.api.LoadBalancer.Delete(ctx, &hcloud.LoadBalancer{ID: n}); err != nil && !hcloud.IsError(err, hcloud.ErrorCodeNotFound) {
		return apiError("delete load balancer "+id, err)
	}
	return nil
}

// EnsureAPIEndpoint gets or creates, for 3+ control planes, an lb11 in the
// region forwarding TCP 6443 to every server labelled as the cluster's
// control plane (a label-selector target, so replaced control planes join
// by themselves). For fewer control planes it creates nothing and returns
// an empty endpoint: the control plane's own address is the endpoint. The
// caller journals LoadBalancerID; destroying the cluster's last server or
// its network deletes the load balancer.
func (p *Provider) EnsureAPIEndpoint(ctx context.Context, cluster, region string, controlPlanes int) (APIEndpoint, error) {
	if !NeedsLoadBalancer(controlPlanes) {
		return APIEndpoint{}, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	name := LoadBalancerName(cluster)
	lb, _, err := p.api.LoadBalancer.GetByName(ctx, name)
	if err != nil {
		return APIEndpoint{}, apiError("get load balancer "+name, err)
	}
	if lb == nil {
		port := 6443
		res, _, err := p.api.LoadBalancer.Create(ctx, hcloud.LoadBalancerCreateOpts{
			Name:             name,
			LoadBalancerType: &hcloud.LoadBalancerType{Name: LoadBalancerType},
			Location:         &hcloud.Location{Name: strings.ToLower(region)},
			Algorithm:        &hcloud.LoadBalancerAlgorithm{Type: hcloud.LoadBalancerAlgorithmTypeRoundRobin},
			Labels:           map[string]string{LabelCluster: cluster},
			Services: []hcloud.LoadBalancerCreateOptsService{{
				Protocol: hcloud.LoadBalancerServiceProtocolTCP, ListenPort: &port, DestinationPort: &port,
			}},
			Targets: []hcloud.LoadBalancerCreateOptsTarget{{
				Type:          hcloud.LoadBalancerTargetTypeLabelSelector,
				LabelSelector: hcloud.LoadBalancerCreateOptsTargetLabelSelector{Selector: controlPlaneSelector(cluster)},
			}},
		})
		if err != nil {
			return APIEndpoint{}, apiError("create load balancer "+name, err)
		}
		lb = res.LoadBalancer
	}
	return APIEndpoint{LoadBalancerID: strconv.FormatInt(lb.ID, 10), IPv4: lb.PublicNet.IPv4.IP.String()}, nil
}

func controlPlaneSelector(cluster string) string {
	return LabelCluster + "==" + cluster + "," + LabelRole + "==" + string(provider.RoleControlPlane)
}
