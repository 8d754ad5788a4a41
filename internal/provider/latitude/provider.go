package latitude

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cto-platform/cto/internal/clock"
	"github.com/cto-platform/cto/internal/httpx"
	"github.com/cto-platform/cto/internal/provider"
)

// Latitude's published budget, the low figure: 60 reads and 20 writes per
// minute per API key.
const (
	DefaultReadsPerMinute  = 60
	DefaultWritesPerMinute = 20
)

// Environment variables, in the order they are looked at.
var (
	TokenEnv   = []string{"LATITUDESH_AUTH_TOKEN", "LATITUDE_API_KEY"}
	ProjectEnv = []string{"LATITUDESH_PROJECT", "LATITUDE_PROJECT_ID"}
	APIURLEnv  = "LATITUDESH_API_URL"
	// NoDHCPEnv set to true says the account boots custom images without
	// DHCP.
	NoDHCPEnv = "LATITUDESH_NO_DHCP"
)

// AddressPlaceholders are what Latitude fills in a custom iPXE script for
// an account without DHCP (latitude-api.md: "scripts there use
// placeholders the platform fills in ({{ PUBLIC_IP }}, {{ NETMASK }},
// {{ PUBLIC_GW }}, {{ INTERFACE_ID }})"); iPXE's own ${ip} is empty there.
var AddressPlaceholders = provider.AddressTemplate{Address: "{{ PUBLIC_IP }}", Gateway: "{{ PUBLIC_GW }}", Netmask: "{{ NETMASK }}"}

// Config configures a Provider.
type Config struct {
	Token string
	// Project is an ID (proj_...) or slug; empty finds or creates a project
	// named after the cluster.
	Project string
	APIURL  string

	// NoDHCP is an account whose custom images get no DHCP: Latitude fills
	// the address placeholders of an iPXE script instead (NoDHCPEnv).
	NoDHCP bool

	ReadsPerMinute  int // 0: DefaultReadsPerMinute; <0: unlimited
	WritesPerMinute int // 0: DefaultWritesPerMinute; <0: unlimited
	MaxAttempts     int
	// Timeout bounds one HTTP attempt (0: httpx's default, 30s).
	Timeout    time.Duration
	Clock      clock.Clock
	HTTPClient *http.Client
	Logger     *slog.Logger
}

// ErrNoToken is a missing token; its message names the variable to set.
var ErrNoToken = fmt.Errorf("no Latitude.sh API token: set %s (or %s)", TokenEnv[0], TokenEnv[1])

// ConfigFromEnv fills a Config from the environment and the given values;
// explicit values win over the environment.
func ConfigFromEnv(project, apiURL string) (Config, error) {
	cfg := Config{Token: firstEnv(TokenEnv...), Project: project, APIURL: apiURL}
	if cfg.Token == "" {
		return cfg, ErrNoToken
	}
	if cfg.Project == "" {
		cfg.Project = firstEnv(ProjectEnv...)
	}
	if cfg.APIURL == "" {
		cfg.APIURL = firstEnv(APIURLEnv)
	}
	if v := firstEnv("LATITUDESH_READS_PER_MINUTE"); v != "" {
		cfg.ReadsPerMinute, _ = strconv.Atoi(v)
	}
	if v := firstEnv("LATITUDESH_WRITES_PER_MINUTE"); v != "" {
		cfg.WritesPerMinute, _ = strconv.Atoi(v)
	}
	if v := firstEnv(NoDHCPEnv); v != "" {
		cfg.NoDHCP, _ = strconv.ParseBool(v)
	}
	if v := firstEnv("LATITUDESH_TIMEOUT"); v != "" {
		cfg.Timeout, _ = time.ParseDuration(v)
	}
	return cfg, nil
}

func firstEnv(names ...string) string {
	for _, n := range names {
		if v := strings.TrimSpace(os.Getenv(n)); v != "" {
			return v
		}
	}
	return ""
}

// Provider is one Latitude.sh account.
//
// Cluster membership: Latitude tags are team-wide objects addressed by ID
// (tag_...), and a server cannot be tagged in its create call. The provider
// finds or creates one tag named after the cluster, tags every server and
// VLAN with it right after creating it (PATCH), and lists a cluster with
// filter[project] + filter[tags]: one call per page for the whole cluster.
// A create first looks the hostname up in the project, so a create whose
// answer was lost (a crash, a timeout) is adopted rather than repeated.
type Provider struct {
	api *Client
	cfg Config

	// resolving serializes finding-or-creating projects and tags, so
	// concurrent creates make one of each.
	resolving sync.Mutex
	mu        sync.Mutex
	projects  map[string]string            // project key -> ID
	tags      map[string]string            // cluster -> tag ID
	osOn      map[string]map[string]bool   // OS slug -> plan names it is provisionable on
	paths     map[string]provider.BootPath // plan slug -> the boot path that worked

	// listing serializes the one listing of a project's hostnames that a
	// batch of creates shares; hosts holds it and ordered what this
	// Provider ordered since (see needsLookup).
	listing sync.Mutex
	hosts   map[string]map[string]bool // project ID -> hostnames of live servers
	ordered map[string]bool            // project ID + "/" + hostname

	// untagged are the servers CreateServer returned that FinishServer
	// tags, as the API answered for them.
	untagged provider.Unfinished[resource[ServerAttrs]]
}

// What this provider implements, checked by the compiler.
var (
	_ provider.Provider         = (*Provider)(nil)
	_ provider.Tagger           = (*Provider)(nil)
	_ provider.ServerFinder     = (*Provider)(nil)
	_ provider.SilentNodeHinter = (*Provider)(nil)
	_ provider.PublicNetworker  = (*Provider)(nil)
	_ provider.Reinstaller      = (*Provider)(nil)
	_ provider.BootPathLearner  = (*Provider)(nil)
	_ provider.Paced            = (*Provider)(nil)
	_ provider.Finisher         = (*Provider)(nil)
)

// New returns a Provider for cfg.
func New(cfg Config) (*Provider, error) {
	if cfg.Token == "" {
		return nil, ErrNoToken
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	reads, writes := cfg.ReadsPerMinute, cfg.WritesPerMinute
	if reads == 0 {
		reads = DefaultReadsPerMinute
	}
	if writes == 0 {
		writes = DefaultWritesPerMinute
	}
	h := httpx.New(httpx.Options{
		HTTPClient: cfg.HTTPClient, Clock: cfg.Clock, MaxAttempts: cfg.MaxAttempts, Timeout: cfg.Timeout,
		ReadsPerMinute: max(reads, 0), WritesPerMinute: max(writes, 0),
		Secrets: []string{cfg.Token}, Logger: cfg.Logger, RetryAfterBody: RetryAfterBody,
	})
	return &Provider{api: NewClient(cfg.APIURL, cfg.Token, h), cfg: cfg,
		projects: map[string]string{}, tags: map[string]string{}, paths: map[string]provider.BootPath{},
		hosts: map[string]map[string]bool{}, ordered: map[string]bool{}}, nil
}

// Paced reports that the provider holds its requests to Latitude's budget
// itself, so a caller may start every create at once: they wait in order
// inside the client instead of hammering the API.
func (p *Provider) Paced() bool { return p.cfg.WritesPerMinute >= 0 }

// Client is the underlying API client.
func (p *Provider) Client() *Client { return p.api }

func (p *Provider) Name() string { return "latitude" }

func (p *Provider) Capabilities() provider.Capabilities {
	c := provider.Capabilities{
		PrivateNetworks: true,
		DHCP:            !p.cfg.NoDHCP,
		Currency:        "USD",
		// "The VLAN is plain L2 with no DHCP and no IPAM" (latitude-api.md).
		PrivateLayer2: true,
	}
	if p.cfg.NoDHCP {
		c.AddressTemplate = AddressPlaceholders
	}
	return c
}

// SilentNodeHint: an account whose custom images get no DHCP (the API
// does not say which mode an account has) boots a Talos without an
// address when cto assumed DHCP (latitude-api.md: "Older custom-image mode
// has no DHCP ... so Talos needs an ip= kernel argument"). The servers
// keep the boot script they were given, so they must be ordered again.
func (p *Provider) SilentNodeHint(cluster string) string {
	if p.cfg.NoDHCP {
		return ""
	}
	return fmt.Sprintf("if this Latitude.sh account boots custom images without DHCP, Talos got no address: "+
		"set %s=true, run `cto destroy --name %s`, then deploy again", NoDHCPEnv, cluster)
}

func (p *Provider) Authenticate(ctx context.Context) error {
	q := filters()
	q.Set("page[size]", "1")
	var out listEnvelope[ProjectAttrs]
	if err := p.api.do(ctx, http.MethodGet, "/projects", q, nil, &out); err != nil {
		if errors.Is(err, provider.ErrUnauthorized) {
			return fmt.Errorf("%w: Latitude.sh refused the token in %s: %v", provider.ErrUnauthorized, TokenEnv[0], err)
		}
		if errors.Is(err, provider.ErrForbidden) {
			return fmt.Errorf("%w: the token in %s is valid but lacks a permission (give its user a role that may manage projects and servers): %v",
				provider.ErrForbidden, TokenEnv[0], err)
		}
		return err
	}
	return nil
}

// ListPlans maps GET /plans; talos_capable is the ipxe operating system
// being provisionable on the plan (GET /plans/operating_systems names
// plans with dots).
func (p *Provider) ListPlans(ctx context.Context, f provider.PlanFilter) ([]provider.Plan, error) {
	q := filters("slug", f.Slug)
	raw, err := p.api.Plans(ctx, q)
	if err != nil {
		return nil, err
	}
	on, err := p.systems(ctx)
	if err != nil {
		return nil, err
	}
	var out []provider.Plan
	for _, r := range raw {
		pl := planFromWire(r.Attributes, on[IPXEOS])
		if pl.TalosCapable {
			pl.BootPath = p.bootPath(pl.Slug)
		}
		if f.Match(pl) {
			out = append(out, pl)
		}
	}
	return out, nil
}

// systems maps each operating system to the plans it is provisionable on,
// read once.
func (p *Provider) systems(ctx context.Context) (map[string]map[string]bool, error) {
	p.mu.Lock()
	cached := p.osOn
	p.mu.Unlock()
	if cached != nil {
		return cached, nil
	}
	oses, err := p.api.OperatingSystems(ctx)
	if err != nil {
		return nil, err
	}
	on := map[string]map[string]bool{}
	for _, o := range oses {
		plans := map[string]bool{}
		for _, name := range o.Attributes.ProvisionableOn {
			plans[name] = true
		}
		on[o.Attributes.Slug] = plans
	}
	p.mu.Lock()
	p.osOn = on
	p.mu.Unlock()
	return on, nil
}

func planFromWire(a PlanAttrs, ipxe map[string]bool) provider.Plan {
	// specs.cpu.cores already counts every CPU: the recorded c2.large.x86
	// (two 10-core Silver 4210) says cores 20, count 2.
	pl := provider.Plan{
		Slug: a.Slug, Name: a.Name, Cores: a.Specs.CPU.Cores, CPU: a.Specs.CPU.Type,
		MemoryGB: int(a.Specs.Memory.Total), GPUCount: a.Specs.GPU.Count, GPUType: a.Specs.GPU.Type,
		TalosCapable: ipxe[a.Name] || ipxe[strings.ReplaceAll(a.Slug, "-", ".")], Currency: "USD",
	}
	for _, d := range a.Specs.Drives {
		pl.Drives = append(pl.Drives, provider.Drive{Count: d.Count, SizeGB: sizeGB(d.Size), Type: d.Type})
	}
	for _, reg := range a.Regions {
		price := reg.Pricing["USD"]
		for _, site := range reg.Locations.Available {
			pl.Regions = append(pl.Regions, provider.PlanRegion{
				Site: strings.ToUpper(site), InStock: slices.Contains(reg.Locations.InStock, site),
				Hourly: price.Hour, Monthly: price.Month,
			})
		}
	}
	return pl
}

var sizeRE = regexp.MustCompile(`(?i)^\s*([0-9.]+)\s*([KMGTP]?B)?\s*$`)

// sizeGB reads "500 GB", "3.8TB", "960GB" as gigabytes.
func sizeGB(s string) float64 {
	m := sizeRE.FindStringSubmatch(s)
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	switch strings.ToUpper(m[2]) {
	case "TB":
		return v * 1000
	case "PB":
		return v * 1000 * 1000
	case "MB":
		return v / 1000
	}
	return v
}

func (p *Provider) ListRegions(ctx context.Context) ([]provider.Region, error) {
	raw, err := p.api.Regions(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]provider.Region, 0, len(raw))
	for _, r := range raw {
		out = append(out, provider.Region{Slug: strings.ToUpper(r.Attributes.Slug), Name: r.Attributes.Name, Country: r.Attributes.Country.Name})
	}
	return out, nil
}

// project returns the project ID for a cluster: the configured one (ID or
// slug), else a project named after the cluster, created (on_demand) when
// create is set. "" without error means none exists yet.
func (p *Provider) project(ctx context.Context, explicit, cluster string, create bool) (string, error) {
	p.resolving.Lock()
	defer p.resolving.Unlock()
	key := explicit
	if key == "" {
		key = p.cfg.Project
	}
	byName := key == ""
	if byName {
		key = "name:" + cluster
	}
	return p.cached(p.projects, key, func() (string, error) {
		switch {
		case !byName && strings.HasPrefix(key, "proj_"):
			return key, nil
		case !byName:
			found, err := p.api.Projects(ctx, filters("slug", key))
			if err != nil {
				return "", err
			}
			id := ""
			for _, r := range found {
				if strings.EqualFold(r.Attributes.Slug, key) || r.ID == key {
					id = r.ID
				}
			}
			if id == "" {
				return "", fmt.Errorf("%w: Latitude.sh project %q (give an ID or slug with --project or %s)", provider.ErrNotFound, key, ProjectEnv[0])
			}
			return id, nil
		default:
			return findOrCreate(ctx, p, "project", cluster, create,
				func(ctx context.Context) ([]resource[ProjectAttrs], error) {
					return p.api.Projects(ctx, filters("name", cluster))
				},
				func(a ProjectAttrs) string { return a.Name },
				func(ctx context.Context) (resource[ProjectAttrs], error) { return p.api.CreateProject(ctx, cluster) })
		}
	})
}

// tag returns the ID of the tag named after the cluster, creating it when
// create is set. "" without error means none exists yet.
func (p *Provider) tag(ctx context.Context, cluster string, create bool) (string, error) {
	p.resolving.Lock()
	defer p.resolving.Unlock()
	return p.cached(p.tags, cluster, func() (string, error) {
		return findOrCreate(ctx, p, "tag", cluster, create, p.api.Tags,
			func(a TagAttrs) string { return a.Name },
			func(ctx context.Context) (resource[TagAttrs], error) {
				return p.api.CreateTag(ctx, cluster, "cto cluster "+cluster)
			})
	})
}

// cached is the ID ids holds for key or else the one resolve finds, which
// ids then keeps; an ID not found ("") is not kept, so it is looked up
// again next time.
func (p *Provider) cached(ids map[string]string, key string, resolve func() (string, error)) (string, error) {
	p.mu.Lock()
	id, ok := ids[key]
	p.mu.Unlock()
	if ok {
		return id, nil
	}
	id, err := resolve()
	if err != nil || id == "" {
		return "", err
	}
	p.mu.Lock()
	ids[key] = id
	p.mu.Unlock()
	return id, nil
}

// findOrCreate is the ID of the resource named name that list finds (the
// last one listed) or, there being none and create set, of the one
// createOne creates, sent as createOnce sends it (its find: the first one
// listed). "" without error means none exists.
func findOrCreate[T any](ctx context.Context, p *Provider, what, name string, create bool,
	list func(context.Context) ([]resource[T], error), nameOf func(T) string,
	createOne func(context.Context) (resource[T], error)) (string, error) {
	found, err := list(ctx)
	if err != nil {
		return "", err
	}
	id := ""
	for _, r := range found {
		if nameOf(r.Attributes) == name {
			id = r.ID
		}
	}
	if id != "" || !create {
		return id, nil
	}
	r, err := createOnce(ctx, p, createOne, func(ctx context.Context) (resource[T], bool, error) {
		found, err := list(ctx)
		for _, r := range found {
			if nameOf(r.Attributes) == name {
				return r, true, nil
			}
		}
		return resource[T]{}, false, err
	})
	if err != nil {
		return "", fmt.Errorf("create %s %q: %w", what, name, err)
	}
	return r.ID, nil
}

// CreateServer orders a server booting the iPXE media; FinishServer tags
// it with the cluster, since a create cannot. A server of the same hostname
// already in the project is adopted.
func (p *Provider) CreateServer(ctx context.Context, s provider.ServerSpec) (provider.Server, error) {
	if s.Boot.Method != "" && s.Boot.Method != provider.BootIPXE {
		return provider.Server{}, fmt.Errorf("%w: Latitude.sh boots custom systems with iPXE only, not %s", provider.ErrInvalid, s.Boot.Method)
	}
	proj, err := p.project(ctx, s.Project, s.Cluster, true)
	if err != nil {
		return provider.Server{}, err
	}
	if _, err := p.tag(ctx, s.Cluster, true); err != nil {
		return provider.Server{}, err
	}
	r, stock, err := p.orderOnce(ctx, proj, s)
	if err != nil {
		return provider.Server{}, err
	}
	srv := toServer(r)
	srv.NeedsBoot = srv.NeedsBoot || stock
	if srv.Region == "" {
		srv.Region = strings.ToUpper(s.Region)
	}
	p.untagged.Put(r.ID, r)
	return srv, nil
}

// FinishServer tags a server CreateServer returned with the cluster. The
// tag only labels a server that is already journaled and found by hostname
// too: it waits until the orders queued for the write budget are sent, so
// every deploy starts as early as it can. When tagging fails the server is
// returned with the error.
func (p *Provider) FinishServer(ctx context.Context, s provider.ServerSpec, created provider.Server) (provider.Server, error) {
	ctx = httpx.WithPriority(ctx, httpx.PriorityLow)
	r, ok := p.untagged.Take(created.ID)
	var err error
	if ok {
		var tag string
		if tag, err = p.tag(ctx, s.Cluster, true); err == nil {
			err = p.addTag(ctx, r, tag)
		}
	} else {
		err = p.TagServer(ctx, s.Cluster, created.ID)
	}
	if err != nil {
		return created, fmt.Errorf("tag server %s (%s) with cluster %s: %w", created.ID, s.Hostname, s.Cluster, err)
	}
	created.Tags = []string{s.Cluster}
	return created, nil
}

// addTag adds a tag to the server's own: Latitude replaces a server's
// tags with the list a PATCH sends.
func (p *Provider) addTag(ctx context.Context, r resource[ServerAttrs], tag string) error {
	if r.Attributes.Tags.has(tag) {
		return nil
	}
	ids := []string{tag}
	for _, t := range r.Attributes.Tags {
		if t.ID != "" && t.ID != tag {
			ids = append(ids, t.ID)
		}
	}
	_, err := p.api.TagServer(ctx, r.ID, ids)
	return err
}

// TagServer labels a server with the cluster's tag, keeping its other tags
// (provider.Tagger).
func (p *Provider) TagServer(ctx context.Context, cluster, serverID string) error {
	tag, err := p.tag(ctx, cluster, true)
	if err != nil {
		return err
	}
	r, err := p.api.GetServer(ctx, serverID)
	if err != nil {
		return err
	}
	return p.addTag(ctx, r, tag)
}

// lostAnswerAttempts bounds the orders of one hostname whose answers were
// lost.
const lostAnswerAttempts = 4

// orderOnce returns the project's server of the hostname, ordering it only
// when none exists. An order whose answer is lost (a 5xx, a dropped
// connection) may have gone through, so the hostname is looked up again
// before ordering again: never two servers for one hostname.
//
// A plan that refuses the ipxe system at order time is ordered with a stock
// system instead (stock is then true: the caller reinstalls it with ipxe
// once it runs), and the plan's path is remembered, so the next order goes
// straight to it.
func (p *Provider) orderOnce(ctx context.Context, proj string, s provider.ServerSpec) (r resource[ServerAttrs], stock bool, err error) {
	os := IPXEOS
	if p.bootPath(s.Plan) == provider.BootPathReinstall {
		if os, err = p.stockSystem(ctx, s.Plan); err != nil {
			return r, false, err
		}
	}
	for attempt := 1; ; attempt++ {
		lookup, err := p.needsLookup(ctx, proj, s.Hostname, attempt)
		if err != nil {
			return resource[ServerAttrs]{}, false, err
		}
		if lookup {
			existing, err := p.api.Servers(ctx, filters("project", proj, "hostname", s.Hostname))
			if err != nil {
				return resource[ServerAttrs]{}, false, err
			}
			for _, e := range existing {
				if e.Attributes.Hostname == s.Hostname && mapStatus(e.Attributes.Status) != provider.StatusDeleting {
					return e, false, nil
				}
			}
		}
		p.listing.Lock()
		p.ordered[proj+"/"+s.Hostname] = true
		p.listing.Unlock()
		prio := httpx.PriorityHigh
		if s.Role == provider.RoleControlPlane {
			prio = httpx.PriorityFirst // workers can join only once a control plane runs
		}
		attrs := CreateServerAttrs{Project: proj, Plan: s.Plan, Site: strings.ToUpper(s.Region), OperatingSystem: os,
			Hostname: s.Hostname}
		// No billing: the project decides (hourly for an on-demand one,
		// yearly for a reserved one, which refuses hourly), as the
		// recorded create in a reserved project shows.
		if os == IPXEOS {
			attrs.IPXE = ipxeValue(s.Boot)
		}
		r, err := p.api.CreateServer(httpx.WithPriority(ctx, prio), attrs)
		switch {
		case err == nil && r.ID == "":
			return r, false, fmt.Errorf("create server %s: the API returned no ID", s.Hostname)
		case err == nil && os == IPXEOS:
			p.learn(s.Plan, provider.BootPathDirect)
			return r, false, nil
		case err == nil:
			return r, true, nil
		case os == IPXEOS && ipxeRefused(err):
			// Nothing was created: order again at once with a stock
			// system, and never try iPXE at create for this plan again.
			p.learn(s.Plan, provider.BootPathReinstall)
			if os, err = p.stockSystem(ctx, s.Plan); err != nil {
				return r, false, err
			}
			attempt--
			continue
		case !lostAnswer(err) || attempt == lostAnswerAttempts || ctx.Err() != nil:
			return r, false, fmt.Errorf("create server %s: %w", s.Hostname, err)
		}
		if err := p.cfg.Clock.Sleep(ctx, time.Duration(attempt)*2*time.Second); err != nil {
			return r, false, err
		}
	}
}

// needsLookup says whether a create must look its hostname up before
// ordering. The project's hostnames are listed once (one call per page) for
// a whole batch of creates; a hostname in that listing, one this Provider
// ordered before (a replacement, a retry) or any retry after a lost answer
// is looked up on its own. A server of the batch cannot appear unseen in
// between: the cluster's lock keeps other deploys of it away, and other
// clusters use other hostnames.
func (p *Provider) needsLookup(ctx context.Context, proj, hostname string, attempt int) (bool, error) {
	if attempt > 1 {
		return true, nil
	}
	p.listing.Lock()
	defer p.listing.Unlock()
	if p.ordered[proj+"/"+hostname] {
		return true, nil
	}
	known, ok := p.hosts[proj]
	if !ok {
		all, err := p.api.Servers(ctx, filters("project", proj))
		if err != nil {
			return false, err
		}
		known = map[string]bool{}
		for _, e := range all {
			if mapStatus(e.Attributes.Status) != provider.StatusDeleting {
				known[e.Attributes.Hostname] = true
			}
		}
		p.hosts[proj] = known
	}
	return known[hostname], nil
}

// lostAnswer reports whether a request may have been carried out although
// it failed: a server error or no answer at all.
func lostAnswer(err error) bool {
	var api *APIError
	if errors.As(err, &api) {
		return api.StatusCode >= 500
	}
	var hx *httpx.Error
	return errors.As(err, &hx)
}

func (p *Provider) GetServer(ctx context.Context, id string) (provider.Server, error) {
	r, err := p.api.GetServer(ctx, id)
	if err != nil {
		return provider.Server{}, err
	}
	return toServer(r), nil
}

// PublicNetwork reads the server's public IPv4 address, prefix and
// gateway (GET /ips?filter[server]=..., latitude-api.md), the network an
// account without DHCP gets no lease for.
func (p *Provider) PublicNetwork(ctx context.Context, serverID string) (provider.PublicNetwork, error) {
	ips, err := p.api.IPs(ctx, serverID)
	if err != nil {
		return provider.PublicNetwork{}, err
	}
	for _, ip := range ips {
		a := ip.Attributes
		addr, err := netip.ParseAddr(a.Address)
		if err != nil || !addr.Is4() || !strings.EqualFold(a.Type, "public") {
			continue
		}
		bits := -1
		if pfx, err := netip.ParsePrefix(a.CIDR); err == nil {
			bits = pfx.Bits()
		} else if m := net.ParseIP(a.Netmask).To4(); m != nil {
			if ones, total := net.IPMask(m).Size(); total == 32 {
				bits = ones
			}
		}
		gw, err := netip.ParseAddr(a.Gateway)
		if bits < 0 || err != nil {
			return provider.PublicNetwork{}, fmt.Errorf("server %s: public address %s: the API reports no usable prefix (cidr %q, netmask %q) or gateway (%q)", serverID, a.Address, a.CIDR, a.Netmask, a.Gateway)
		}
		return provider.PublicNetwork{Address: netip.PrefixFrom(addr, bits).String(), Gateway: gw.String()}, nil
	}
	return provider.PublicNetwork{}, fmt.Errorf("server %s: the API reports no public IPv4 address", serverID)
}

// clusterFilter is the list filter of a cluster's resources: its project
// and its tag. A nil filter without error means the cluster has none yet.
func (p *Provider) clusterFilter(ctx context.Context, cluster string) (url.Values, string, error) {
	proj, err := p.project(ctx, "", cluster, false)
	if err != nil || proj == "" {
		return nil, "", err
	}
	tag, err := p.tag(ctx, cluster, false)
	if err != nil || tag == "" {
		return nil, "", err
	}
	return filters("project", proj, "tags", tag), tag, nil
}

func (p *Provider) ListServers(ctx context.Context, cluster string) ([]provider.Server, error) {
	return listTagged(ctx, p, cluster, p.api.Servers, func(a ServerAttrs) tagRefs { return a.Tags },
		func(r resource[ServerAttrs]) provider.Server {
			s := toServer(r)
			s.Tags = []string{cluster}
			return s
		})
}

// listTagged lists the cluster's resources of one kind with its project
// and tag filter, as the provider sees them.
func listTagged[A, R any](ctx context.Context, p *Provider, cluster string, list func(context.Context, url.Values) ([]resource[A], error),
	tagsOf func(A) tagRefs, view func(resource[A]) R) ([]R, error) {
	q, tag, err := p.clusterFilter(ctx, cluster)
	if err != nil || q == nil {
		return nil, err
	}
	raw, err := list(ctx, q)
	if err != nil {
		return nil, err
	}
	var out []R
	for _, r := range raw {
		if tags := tagsOf(r.Attributes); len(tags) > 0 && !tags.has(tag) {
			continue // an API that ignored the filter
		}
		out = append(out, view(r))
	}
	return out, nil
}

// FindServers returns the servers of the cluster's project with one of the
// hostnames, tagged or not: the sweep of `cto destroy` for a server whose
// tag never stuck.
func (p *Provider) FindServers(ctx context.Context, cluster string, hostnames []string) ([]provider.Server, error) {
	proj, err := p.project(ctx, "", cluster, false)
	if err != nil || proj == "" {
		return nil, err
	}
	var out []provider.Server
	for _, h := range hostnames {
		raw, err := p.api.Servers(ctx, filters("project", proj, "hostname", h))
		if err != nil {
			return nil, err
		}
		for _, r := range raw {
			if r.Attributes.Hostname == h {
				out = append(out, toServer(r))
			}
		}
	}
	return out, nil
}

func (p *Provider) DeleteServer(ctx context.Context, id string) error {
	err := p.api.DeleteServer(ctx, id)
	if errors.Is(err, provider.ErrNotFound) {
		return nil
	}
	return err
}

func (p *Provider) CreateNetwork(ctx context.Context, n provider.NetworkSpec) (provider.Network, error) {
	proj, err := p.project(ctx, n.Project, n.Cluster, true)
	if err != nil {
		return provider.Network{}, err
	}
	tag, err := p.tag(ctx, n.Cluster, true)
	if err != nil {
		return provider.Network{}, err
	}
	desc := n.Description
	if desc == "" {
		desc = "cto cluster " + n.Cluster
	}
	site := strings.ToUpper(n.Region)
	// An untagged VLAN of this description is one this cluster created
	// and did not tag: its answer was lost, or the run stopped before the
	// tag. It is adopted, never made twice.
	untagged := func(ctx context.Context) (resource[VLANAttrs], bool, error) {
		all, err := p.api.VirtualNetworks(ctx, filters("project", proj))
		for _, v := range all {
			if v.Attributes.Description == desc && toNetwork(v).Region == site && !v.Attributes.Tags.has(tag) {
				return v, true, nil
			}
		}
		return resource[VLANAttrs]{}, false, err
	}
	r, found, err := untagged(ctx)
	if err == nil && !found {
		r, err = createOnce(ctx, p, func(ctx context.Context) (resource[VLANAttrs], error) {
			return p.api.CreateVirtualNetwork(ctx, proj, site, desc)
		}, untagged)
	}
	if err != nil {
		return provider.Network{}, fmt.Errorf("create VLAN in %s: %w", n.Region, err)
	}
	net := toNetwork(r)
	net.CIDR = n.CIDR
	if err := p.api.TagVirtualNetwork(ctx, r.ID, []string{tag}); err != nil {
		return net, fmt.Errorf("tag VLAN %s with cluster %s: %w", r.ID, n.Cluster, err)
	}
	return net, nil
}

func (p *Provider) ListNetworks(ctx context.Context, cluster string) ([]provider.Network, error) {
	return listTagged(ctx, p, cluster, p.api.VirtualNetworks, func(a VLANAttrs) tagRefs { return a.Tags }, toNetwork)
}

func (p *Provider) AssignServer(ctx context.Context, networkID, serverID string) (provider.Assignment, error) {
	r, err := createOnce(ctx, p, func(ctx context.Context) (resource[AssignmentAttrs], error) {
		return p.api.Assign(ctx, networkID, serverID)
	}, func(ctx context.Context) (resource[AssignmentAttrs], bool, error) {
		all, err := p.api.Assignments(ctx, filters("virtual_network_id", networkID))
		for _, a := range all {
			if toAssignment(a).ServerID == serverID {
				return a, true, nil
			}
		}
		return resource[AssignmentAttrs]{}, false, err
	})
	if err != nil {
		return provider.Assignment{}, fmt.Errorf("assign %s to VLAN %s: %w", serverID, networkID, err)
	}
	a := toAssignment(r)
	if a.NetworkID == "" {
		a.NetworkID = networkID
	}
	if a.ServerID == "" {
		a.ServerID = serverID
	}
	return a, nil
}

func (p *Provider) ListAssignments(ctx context.Context, networkID string) ([]provider.Assignment, error) {
	raw, err := p.api.Assignments(ctx, filters("virtual_network_id", networkID))
	if err != nil {
		return nil, err
	}
	var out []provider.Assignment
	for _, r := range raw {
		a := toAssignment(r)
		if a.NetworkID != "" && a.NetworkID != networkID {
			continue
		}
		a.NetworkID = networkID
		out = append(out, a)
	}
	return out, nil
}

// DeleteNetwork removes the VLAN's assignments first, then the VLAN.
func (p *Provider) DeleteNetwork(ctx context.Context, id string) error {
	as, err := p.ListAssignments(ctx, id)
	if err != nil && !errors.Is(err, provider.ErrNotFound) {
		return err
	}
	for _, a := range as {
		if err := p.api.DeleteAssignment(ctx, a.ID); err != nil && !errors.Is(err, provider.ErrNotFound) {
			return err
		}
	}
	err = p.api.DeleteVirtualNetwork(ctx, id)
	if errors.Is(err, provider.ErrNotFound) {
		return nil
	}
	return err
}

// mapStatus turns Latitude's status into the domain's. Anything unknown is
// "not ready yet".
func mapStatus(raw string) provider.Status {
	switch strings.ToLower(raw) {
	case "on", "ready":
		return provider.StatusReady
	case "failed_deployment", "failed_disk_erasing":
		return provider.StatusFailed
	case "deleted", "deleting":
		return provider.StatusDeleting
	default: // deploying, starting_deploy, inventory, provisioning, off, unknown, rescue_mode...
		// disk_erasing is a reinstall under way (the OpenAPI document:
		// "The server is in reinstalling state"), not a server leaving.
		return provider.StatusPending
	}
}

func toServer(r resource[ServerAttrs]) provider.Server {
	a := r.Attributes
	s := provider.Server{ID: r.ID, Hostname: a.Hostname, Status: mapStatus(a.Status), RawStatus: a.Status,
		Plan: a.Plan.Slug, Region: strings.ToUpper(a.Region.Site.Slug), NICs: nics(a.Interfaces),
		// A server cto ordered runs ipxe; another system means it was
		// ordered with a stock one and waits for its reinstall.
		NeedsBoot: a.OperatingSystem.Slug != "" && a.OperatingSystem.Slug != IPXEOS}
	if s.Region == "" {
		s.Region = strings.ToUpper(a.Site)
	}
	if a.PrimaryIPv4 != nil {
		s.PublicIPv4 = *a.PrimaryIPv4
	}
	if a.CreatedAt != nil {
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999-07:00", "2006-01-02 15:04:05 -0700"} {
			if t, err := time.Parse(layout, *a.CreatedAt); err == nil {
				s.CreatedAt = t
				break
			}
		}
	}
	return s
}

func toNetwork(r resource[VLANAttrs]) provider.Network {
	a := r.Attributes
	site := a.Site
	if site == "" {
		site = a.Region.Site.Slug
	}
	name := a.Name
	if name == "" && site != "" && a.VID != 0 {
		name = fmt.Sprintf("%s-%d", site, a.VID)
	}
	return provider.Network{ID: r.ID, Name: name, Region: strings.ToUpper(site), VLAN: a.VID}
}

func toAssignment(r resource[AssignmentAttrs]) provider.Assignment {
	a := r.Attributes
	st := provider.AssignmentPending
	if strings.EqualFold(a.Status, "connected") {
		st = provider.AssignmentConnected
	}
	server := a.ServerID
	if server == "" {
		server = a.Server.ID
	}
	return provider.Assignment{ID: r.ID, NetworkID: a.VirtualNetworkID, ServerID: server, Status: st, RawStatus: a.Status}
}
