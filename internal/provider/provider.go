// Package provider defines what cto needs from a server provider: the
// Provider interface, the domain types every provider maps its API onto, and
// the typed errors the pipeline acts on.
package provider

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Provider is one account at one server provider. Every call is safe to make
// concurrently. Implementations translate their API's values into the domain
// types below and their API's failures into the typed errors of this package.
type Provider interface {
	// Name is the provider's flag value, e.g. "latitude".
	Name() string
	Capabilities() Capabilities

	// Authenticate proves the credentials work with one cheap read.
	Authenticate(ctx context.Context) error
	ListPlans(ctx context.Context, f PlanFilter) ([]Plan, error)
	ListRegions(ctx context.Context) ([]Region, error)

	// CreateServer orders one server and returns as soon as the API holds
	// it, with the ID the provider assigned, so the caller journals it
	// before anything waits. What needs the ID first is a Finisher's.
	CreateServer(ctx context.Context, s ServerSpec) (Server, error)
	GetServer(ctx context.Context, id string) (Server, error)
	// ListServers returns every server tagged with the cluster name, in as
	// few calls as the API allows (one per page), so a status poll of a whole
	// cluster never costs one call per server.
	ListServers(ctx context.Context, cluster string) ([]Server, error)
	// DeleteServer releases a server. Deleting one that is already gone is
	// not an error.
	DeleteServer(ctx context.Context, id string) error

	CreateNetwork(ctx context.Context, n NetworkSpec) (Network, error)
	// ListNetworks returns the private networks that belong to the cluster.
	ListNetworks(ctx context.Context, cluster string) ([]Network, error)
	// AssignServer connects a server to a private network.
	AssignServer(ctx context.Context, networkID, serverID string) (Assignment, error)
	// ListAssignments returns the server connections of one network.
	ListAssignments(ctx context.Context, networkID string) ([]Assignment, error)
	// DeleteNetwork removes a network and its assignments. Deleting one that
	// is already gone is not an error.
	DeleteNetwork(ctx context.Context, id string) error
}

// BootMethod is how a provider gets an operating system of our choice onto a
// server.
type BootMethod string

const (
	BootIPXE   BootMethod = "ipxe"         // chain-load an iPXE URL or script
	BootISO    BootMethod = "iso"          // attach an ISO image
	BootRescue BootMethod = "rescue-image" // rescue system, then write a raw image
	BootNone   BootMethod = "none"         // the provider hands out Kubernetes itself
	// BootImage creates the server from an image kept at the provider (a
	// snapshot built once per Talos version and schematic); URL is its ID.
	BootImage BootMethod = "image"
)

// Capabilities says what a provider can do, so the pipeline can pick the
// right path without knowing the provider.
type Capabilities struct {
	PrivateNetworks bool
	// DHCP is false when servers booted from custom media must be given
	// their address on the kernel command line.
	DHCP bool
	// AddressTemplate, without DHCP, names the placeholders the provider
	// fills with the server's address in a boot script before it runs
	// (empty fields: the boot loader's own settings).
	AddressTemplate AddressTemplate
	// Currency of every price the provider reports, e.g. "USD" or "EUR".
	Currency string
	// PrivateDHCP: the private network hands out its addresses by DHCP
	// (a routed network, where a static on-link prefix carries nothing).
	PrivateDHCP bool
	// PrivateMTU is the private network's MTU, 0 for the NIC's own.
	PrivateMTU int
	// PrivateLayer2: the private network is one layer-2 segment, so a
	// Layer2 VIP (announced by gratuitous ARP) moves to whichever control
	// plane holds it. A routed network carries no such address.
	PrivateLayer2 bool
}

// AddressTemplate is how a boot script names a server's address, gateway
// and netmask for the provider to fill in.
type AddressTemplate struct {
	Address, Gateway, Netmask string
}

// PlanFilter narrows ListPlans. Zero values mean "any".
type PlanFilter struct {
	Region     string
	GPU        bool
	InStock    bool
	MinRAMGB   int
	Slug       string
	TalosReady bool
}

// Match reports whether plan p passes the filter: every provider that
// cannot filter on its API's side filters its plans with it.
func (f PlanFilter) Match(p Plan) bool {
	switch {
	case f.Slug != "" && p.Slug != f.Slug,
		f.GPU && p.GPUCount == 0,
		f.MinRAMGB > 0 && p.MemoryGB < f.MinRAMGB,
		f.TalosReady && !p.TalosCapable:
		return false
	}
	if f.Region != "" {
		at, ok := p.At(f.Region)
		return ok && (!f.InStock || at.InStock)
	}
	return !f.InStock || slices.ContainsFunc(p.Regions, func(r PlanRegion) bool { return r.InStock })
}

// Drive is one group of identical drives in a plan.
type Drive struct {
	Count  int     `json:"count"`
	SizeGB float64 `json:"size_gb"`
	Type   string  `json:"type"`
}

// PlanRegion is a plan's stock and price at one site.
type PlanRegion struct {
	Site    string  `json:"site"`
	InStock bool    `json:"in_stock"`
	Hourly  float64 `json:"hourly"`
	Monthly float64 `json:"monthly"`
	// Setup is a one-off fee per server, where the provider charges one.
	Setup float64 `json:"setup,omitempty"`
}

// Plan is a server type. Prices are in the provider's currency
// (Capabilities.Currency), which Currency names.
type Plan struct {
	Slug         string  `json:"slug"`
	Name         string  `json:"name"`
	Cores        int     `json:"cores"`
	CPU          string  `json:"cpu,omitempty"`
	MemoryGB     int     `json:"memory_gb"`
	Drives       []Drive `json:"drives"`
	GPUCount     int     `json:"gpu_count"`
	GPUType      string  `json:"gpu_type"`
	TalosCapable bool    `json:"talos_capable"`
	// BootPath is how this plan's servers reach the Talos media when the
	// provider knows it from an earlier deploy ("" when not known yet).
	BootPath BootPath     `json:"boot_path,omitempty"`
	Currency string       `json:"currency"`
	Regions  []PlanRegion `json:"regions"`
}

// At returns the plan's stock and price at a site (case-insensitive).
func (p Plan) At(site string) (PlanRegion, bool) {
	for _, r := range p.Regions {
		if strings.EqualFold(r.Site, site) {
			return r, true
		}
	}
	return PlanRegion{}, false
}

// Region is a site or location servers can be created in.
type Region struct {
	Slug    string `json:"slug"`
	Name    string `json:"name"`
	Country string `json:"country"`
}

// Role is a server's part in the cluster.
type Role string

const (
	RoleControlPlane Role = "controlplane"
	RoleWorker       Role = "worker"
)

// Boot is the operating system a new server should start.
type Boot struct {
	Method BootMethod
	// URL is an iPXE chain URL, an ISO or a raw image, per Method.
	URL string
	// Script is a whole iPXE script, used instead of URL when set.
	Script string
	// Talos is the Talos build the boot starts. A provider that cannot
	// chain-load iPXE makes its own media from it (an ISO or a snapshot,
	// a raw image written from a rescue system).
	Talos TalosImage
}

// TalosImage is one Talos build: the Image Factory that serves it, the
// schematic (extensions) and the version.
type TalosImage struct {
	Factory   string
	Schematic string
	Version   string
}

// ServerSpec is what CreateServer needs.
type ServerSpec struct {
	Cluster  string
	Hostname string
	Role     Role
	Plan     string
	Region   string
	Project  string
	Boot     Boot
}

// Status is a provider-neutral server state.
type Status string

const (
	StatusPending  Status = "pending"  // ordered, not usable yet (also any unknown raw value)
	StatusReady    Status = "ready"    // powered on with our operating system booting
	StatusFailed   Status = "failed"   // the provider gave up; replace it
	StatusDeleting Status = "deleting" // on its way out
	StatusUnknown  Status = "unknown"  // the provider itself does not know
)

// Server is one machine as the provider reports it.
type Server struct {
	ID         string    `json:"id"`
	Hostname   string    `json:"hostname"`
	Status     Status    `json:"status"`
	RawStatus  string    `json:"raw_status"`
	PublicIPv4 string    `json:"public_ipv4,omitempty"`
	Plan       string    `json:"plan,omitempty"`
	Region     string    `json:"region,omitempty"`
	Tags       []string  `json:"tags,omitempty"`
	CreatedAt  time.Time `json:"created_at,omitempty"`
	// NeedsBoot: the server runs the provider's stock system, not the
	// requested media; a Reinstaller boots it into the media once it is
	// ready.
	NeedsBoot bool `json:"needs_boot,omitempty"`
	// NICs are the server's network interfaces the provider reports, so
	// its Talos config can name each link by MAC address.
	NICs []NIC `json:"nics,omitempty"`
}

// NICRole is what a network interface carries.
type NICRole string

const (
	NICPublic  NICRole = "public"  // the server's public address
	NICPrivate NICRole = "private" // the cluster's private network
)

// NIC is one network interface of a server.
type NIC struct {
	Role NICRole `json:"role"`
	MAC  string  `json:"mac"` // lower-case, colon-separated
}

// MAC returns the address of the server's first NIC with a role, "" when
// the provider reports none.
func (s Server) MAC(role NICRole) string {
	for _, n := range s.NICs {
		if n.Role == role {
			return n.MAC
		}
	}
	return ""
}

// NetworkSpec is what CreateNetwork needs.
type NetworkSpec struct {
	Cluster     string
	Region      string
	Project     string
	Description string
	CIDR        string
}

// Network is a private L2/L3 network servers of one cluster share.
type Network struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Region string `json:"region"`
	// VLAN is the 802.1Q id hosts must tag, 0 when the provider does it.
	VLAN int    `json:"vlan,omitempty"`
	CIDR string `json:"cidr,omitempty"`
}

// AssignmentStatus says whether a server's link to a network is up.
type AssignmentStatus string

const (
	AssignmentPending   AssignmentStatus = "pending"
	AssignmentConnected AssignmentStatus = "connected"
)

// Assignment links one server to one network.
type Assignment struct {
	ID        string           `json:"id"`
	NetworkID string           `json:"network_id"`
	ServerID  string           `json:"server_id"`
	Status    AssignmentStatus `json:"status"`
	RawStatus string           `json:"raw_status,omitempty"`
	// PrivateIP is the server's address on the network when the provider
	// hands addresses out itself (empty when the hosts pick their own).
	PrivateIP string `json:"private_ip,omitempty"`
	// MAC is the server's NIC on the network when the attachment is a
	// NIC of its own (a Vultr VPC).
	MAC string `json:"mac,omitempty"`
}

// Typed errors. Providers wrap them (fmt.Errorf("...: %w", ErrNotFound)) so
// callers use errors.Is and still see the API's own words.
var (
	ErrUnauthorized = errors.New("credentials rejected")
	ErrOutOfStock   = errors.New("out of stock")
	ErrRateLimited  = errors.New("rate limited")
	ErrNotFound     = errors.New("not found")
	ErrInvalid      = errors.New("rejected as invalid")
	// ErrForbidden is a valid credential that lacks a permission.
	ErrForbidden = errors.New("permission denied")
	// ErrLocked is a resource its owner locked against changes.
	ErrLocked = errors.New("locked")
)

// RateLimitError is a rate-limit answer that said when to come back.
// errors.Is(err, ErrRateLimited) holds for it.
type RateLimitError struct {
	RetryAfter time.Duration
	Detail     string
}

func (e *RateLimitError) Error() string {
	msg := "rate limited"
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	if e.RetryAfter > 0 {
		msg += fmt.Sprintf(" (retry after %s)", e.RetryAfter)
	}
	return msg
}

func (e *RateLimitError) Is(target error) bool { return target == ErrRateLimited }

// Adopter is a provider whose CreateServer adopts servers the customer
// already rents (spec.Servers) before it would order any, e.g. Hetzner
// Robot. Validation asks it how many are left, so a deploy that would run
// out is refused before anything changes.
type Adopter interface {
	// Adoptable counts the servers CreateServer could still take for
	// cluster with this plan and region, the ones it already holds
	// included.
	Adoptable(ctx context.Context, cluster, plan, region string) (int, error)
}

// ServerFinder is a provider that can also find servers by hostname,
// tagged or not: destroy uses it for the nodes whose server the tag and the
// journal both missed (a create whose answer was lost).
type ServerFinder interface {
	FindServers(ctx context.Context, cluster string, hostnames []string) ([]Server, error)
}

// Finisher is a provider whose servers need more once the API holds them:
// what needs the server's ID (Latitude.sh tags it, its create cannot), or
// booting the Talos image where the create cannot (Hetzner Cloud attaches
// an ISO and powers the server on, Robot writes the image from the rescue
// system). FinishServer takes the server CreateServer returned; a boot
// that fails returns the server with StatusFailed, so it is replaced.
type Finisher interface {
	FinishServer(ctx context.Context, s ServerSpec, created Server) (Server, error)
}

// Create makes a server: CreateServer, then created with the server the
// API returned (the caller journals its ID there), then, for a Finisher,
// FinishServer. A server the API returned is returned with any error, so
// it is never lost.
func Create(ctx context.Context, p Provider, s ServerSpec, created func(Server) error) (Server, error) {
	srv, err := p.CreateServer(ctx, s)
	if srv.ID != "" && created != nil {
		if jerr := created(srv); jerr != nil {
			return srv, errors.Join(err, jerr)
		}
	}
	if err != nil {
		return srv, err
	}
	f, ok := p.(Finisher)
	if !ok {
		return srv, nil
	}
	done, err := f.FinishServer(ctx, s, srv)
	if done.ID == "" {
		done = srv
	}
	return done, err
}

// Unfinished holds, per server ID, what a provider's CreateServer leaves
// for its FinishServer. Safe for concurrent use.
type Unfinished[T any] struct {
	mu sync.Mutex
	m  map[string]T
}

// Put keeps v for the server id.
func (u *Unfinished[T]) Put(id string, v T) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.m == nil {
		u.m = map[string]T{}
	}
	u.m[id] = v
}

// Take returns and forgets what was kept for the server id.
func (u *Unfinished[T]) Take(id string) (T, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	v, ok := u.m[id]
	delete(u.m, id)
	return v, ok
}

// ISODetacher is a provider whose servers boot Talos from an attached ISO
// (Hetzner Cloud): the ISO must come out once the node took its config, so
// the reboot after the install starts Talos from the disk rather than the
// ISO's maintenance mode again.
type ISODetacher interface {
	DetachISO(ctx context.Context, serverID string) error
}

// Paced is a provider that holds its requests to the API's budget itself,
// in order: every create may start at once and wait there, so the orders
// go out as fast as the budget allows, ahead of follow-up writes.
type Paced interface{ Paced() bool }

// OrderConfirmer is a provider whose orders cannot be undone at once
// (Hetzner Robot's dedicated servers are rented by the month): each order
// passes the deploy's own confirmation (--yes, or a question on a
// terminal) first.
type OrderConfirmer interface {
	ConfirmOrdersWith(confirm func(question string) error)
}

// Tagger is a provider that labels a server with its cluster in a call of
// its own after the order (Latitude.sh cannot tag in the create call). A
// run stopped between the two leaves a journaled server without the label;
// adopting it calls TagServer, so a sweep by tag still finds it without
// the journal. TagServer keeps the server's other tags.
type Tagger interface {
	TagServer(ctx context.Context, cluster, serverID string) error
}

// Releaser is a provider whose DeleteServer gives a server back without
// ending its rental (adopted dedicated servers are reset and released,
// never cancelled). `cto destroy` shows ReleaseNote instead of saying
// nothing is billing any more.
type Releaser interface {
	ReleaseNote() string
}

// SilentNodeHinter is a provider that knows a reason a server it reports
// as on may run a Talos nothing reaches (an account setting cto cannot
// read), and says what to do about it for the cluster; "" when it knows
// none.
type SilentNodeHinter interface {
	SilentNodeHint(cluster string) string
}

// PublicNetwork is a server's public IPv4 address with its prefix
// (e.g. 203.0.113.10/31) and its gateway.
type PublicNetwork struct {
	Address string
	Gateway string
}

// PublicNetworker is a provider whose servers can run without DHCP
// (Capabilities.DHCP false) and that reports each server's public
// network, so the node's config can address its public link statically.
type PublicNetworker interface {
	PublicNetwork(ctx context.Context, serverID string) (PublicNetwork, error)
}

// APIEndpoint is a load balancer in front of the control planes'
// Kubernetes API.
type APIEndpoint struct {
	// LoadBalancerID is empty when the provider made none (too few
	// control planes for one to be needed).
	LoadBalancerID string
	IPv4           string
}

// APILoadBalancer is a provider that puts a load balancer in front of the
// control planes where a shared address on the private network cannot
// move between hosts (Hetzner Cloud routes its networks).
type APILoadBalancer interface {
	// EnsureAPIEndpoint gets or creates the cluster's API load balancer;
	// with fewer control planes than it needs it creates nothing.
	EnsureAPIEndpoint(ctx context.Context, cluster, region string, controlPlanes int) (APIEndpoint, error)
	// DeleteLoadBalancer removes one; a load balancer already gone is not
	// an error.
	DeleteLoadBalancer(ctx context.Context, id string) error
}

// Charge is a price a deploy pays besides its servers: a load balancer, a
// private network, an address per server. Prices are in the provider's
// currency, as its API states them now.
type Charge struct {
	// Kind names what is bought, e.g. "load balancer lb11"; a charge that
	// applies must have a price at the cluster's site.
	Kind string `json:"kind"`
	// Site is where this price holds (case-insensitive); "" is everywhere.
	Site    string  `json:"site,omitempty"`
	Hourly  float64 `json:"hourly"`
	Monthly float64 `json:"monthly"`
	// PerServer charges are paid once for each server.
	PerServer bool `json:"per_server,omitempty"`
	// MinControlPlanes is the fewest control planes with which the deploy
	// creates it (0: always).
	MinControlPlanes int `json:"min_control_planes,omitempty"`
}

// Charger is a provider whose deploy creates billed resources besides
// servers. Charges lists their current prices from the provider's API.
type Charger interface {
	Charges(ctx context.Context) ([]Charge, error)
}
