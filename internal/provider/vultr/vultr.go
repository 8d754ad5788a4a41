// Package vultr is the Vultr bare-metal provider: plans and stock from
// /v2/plans-metal, servers booted into Talos by iPXE chain loading, and one
// VPC per cluster attached to every server.
package vultr

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vultr/govultr/v3"

	"github.com/cto-platform/cto/internal/clock"
	"github.com/cto-platform/cto/internal/provider"
)

const (
	// DefaultURL is Vultr's API.
	DefaultURL = "https://api.vultr.com"
	// CustomOSID is the "Custom" operating system: the server boots its
	// ipxe_chain_url instead of an image.
	CustomOSID = 159
	// clusterTag prefixes the tag (servers) and description (VPCs) that
	// mark a resource as the cluster's.
	clusterTag = "cto.cluster="
	roleTag    = "cto.role="
	perPage    = 500
)

// Config configures New. Zero values take the defaults.
type Config struct {
	Token   string
	BaseURL string
	// Clock paces retries and the request budget (default: real time).
	Clock clock.Clock
	// RequestsPerSecond is the request budget (default 30, Vultr's limit).
	RequestsPerSecond float64
	// MaxRetries of a rate-limited or failed request (default 4).
	MaxRetries int
}

// Provider is one Vultr account.
type Provider struct {
	api *govultr.Client
}

// What this provider implements, checked by the compiler.
var (
	_ provider.Provider = (*Provider)(nil)
)

// ConfigFromEnv reads a provider's configuration from VULTR_API_KEY and
// VULTR_API_URL; apiURL (--api-url) wins over the variable. A missing key
// names the variable.
func ConfigFromEnv(apiURL string) (Config, error) {
	token := strings.TrimSpace(os.Getenv("VULTR_API_KEY"))
	if token == "" {
		return Config{}, errors.New("VULTR_API_KEY is not set: create an API key in the Vultr customer portal (Account > API) and export VULTR_API_KEY")
	}
	if apiURL == "" {
		apiURL = strings.TrimSpace(os.Getenv("VULTR_API_URL"))
	}
	return Config{Token: token, BaseURL: apiURL}, nil
}

// New returns a provider for the account of cfg.Token.
func New(cfg Config) (*Provider, error) {
	if cfg.Token == "" {
		return nil, fmt.Errorf("vultr: no API key: %w", provider.ErrUnauthorized)
	}
	return newProvider(cfg)
}

// NewCatalog returns a provider without an account that can only list
// plans and regions: Vultr serves both to anyone, without an API key
// (its official Node.js client, vultr/vultr-node, marks /plans-metal and
// /regions apiKeyRequired: false). Any other call is refused by the API.
func NewCatalog(cfg Config) (*Provider, error) {
	cfg.Token = ""
	return newProvider(cfg)
}

func newProvider(cfg Config) (*Provider, error) {
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultURL
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.RequestsPerSecond == 0 {
		cfg.RequestsPerSecond = 30
	}
	if cfg.MaxRetries == 0 {
		cfg.MaxRetries = 4
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("vultr: API URL %q is not an http(s) URL: %w", cfg.BaseURL, provider.ErrInvalid)
	}
	hc := &http.Client{Transport: newTransport(cfg.Token, cfg.Clock, cfg.RequestsPerSecond, cfg.MaxRetries), Timeout: 2 * time.Minute}
	api := govultr.NewClient(hc)
	api.SetRetryLimit(0) // the transport retries
	api.SetUserAgent("cto")
	if err := api.SetBaseURL(strings.TrimSuffix(cfg.BaseURL, "/")); err != nil {
		return nil, err
	}
	return &Provider{api: api}, nil
}

func (p *Provider) Name() string { return "vultr" }

func (p *Provider) Capabilities() provider.Capabilities {
	return provider.Capabilities{
		PrivateNetworks: true,
		DHCP:            true,
		Currency:        "USD",
	}
}

// call runs one API call and turns its failure into the typed errors of
// package provider, with the API's own message.
func (p *Provider) call(ctx context.Context, op string, fn func(ctx context.Context) error) error {
	ctx, a := withAnswer(ctx)
	err := fn(ctx)
	if err == nil {
		return nil
	}
	if a.Status == 0 {
		if ctx.Err() != nil {
			return fmt.Errorf("vultr: %s: %w", op, ctx.Err())
		}
		return fmt.Errorf("vultr: %s: %v", op, err)
	}
	msg := a.Message
	switch {
	case a.Status == http.StatusUnauthorized || a.Status == http.StatusForbidden:
		return fmt.Errorf("vultr: %s: %s: %w (check VULTR_API_KEY and the key's allowed IPs)", op, msg, provider.ErrUnauthorized)
	case a.Status == http.StatusNotFound:
		return fmt.Errorf("vultr: %s: %s: %w", op, msg, provider.ErrNotFound)
	case a.Status == http.StatusTooManyRequests:
		return fmt.Errorf("vultr: %s: %w", op, &provider.RateLimitError{RetryAfter: a.RetryAfter, Detail: msg})
	case a.Status < 500 && outOfStock(msg):
		return fmt.Errorf("vultr: %s: %s: %w", op, msg, provider.ErrOutOfStock)
	case a.Status == http.StatusBadRequest || a.Status == http.StatusUnprocessableEntity:
		return fmt.Errorf("vultr: %s: %s: %w", op, msg, provider.ErrInvalid)
	}
	return &apiError{op: op, status: a.Status, msg: msg}
}

// apiError is an answer none of the typed errors describe (5xx mostly).
type apiError struct {
	op     string
	status int
	msg    string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("vultr: %s: HTTP %d: %s", e.op, e.status, e.msg)
}

func outOfStock(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "not available") || strings.Contains(m, "out of stock") || strings.Contains(m, "sold out") || strings.Contains(m, "insufficient")
}

func (p *Provider) Authenticate(ctx context.Context) error {
	return p.call(ctx, "read account", func(ctx context.Context) error {
		_, _, err := p.api.Account.Get(ctx)
		return err
	})
}

// rawPlan is a /v2/plans-metal entry as the API sends it: govultr's
// BareMetalPlan lacks the hourly price and the GPU fields.
type rawPlan struct {
	ID          string   `json:"id"`
	CPUCount    int      `json:"cpu_count"`
	CPUCores    int      `json:"cpu_cores"`
	CPUThreads  int      `json:"cpu_threads"`
	CPUModel    string   `json:"cpu_model"`
	RAM         int      `json:"ram"` // MB
	Disk        float64  `json:"disk"`
	DiskCount   int      `json:"disk_count"`
	MonthlyCost float64  `json:"monthly_cost"`
	HourlyCost  float64  `json:"hourly_cost"`
	Type        string   `json:"type"`
	Locations   []string `json:"locations"`
	GPUCount    int      `json:"gpu_count"`
	GPUType     string   `json:"gpu_type"`
	GPUVRAMGB   int      `json:"gpu_vram_gb"`
}

type rawPlans struct {
	Plans []rawPlan     `json:"plans_metal"`
	Meta  *govultr.Meta `json:"meta"`
}

// gpuPlanID matches GPU bare-metal plan IDs such as
// vbm-112c-2048gb-8-h100-gpu: the count and model of the GPUs.
var gpuPlanID = regexp.MustCompile(`-(\d+)-([a-z0-9]+)-gpu$`)

func (p *Provider) ListPlans(ctx context.Context, f provider.PlanFilter) ([]provider.Plan, error) {
	var out []provider.Plan
	err := p.listAll(ctx, "list bare-metal plans", &govultr.ListOptions{}, func(ctx context.Context, o *govultr.ListOptions) (*govultr.Meta, error) {
		q := url.Values{"per_page": {strconv.Itoa(o.PerPage)}}
		if o.Cursor != "" {
			q.Set("cursor", o.Cursor)
		}
		req, err := p.api.NewRequest(ctx, http.MethodGet, "/v2/plans-metal?"+q.Encode(), nil)
		if err != nil {
			return nil, err
		}
		var page rawPlans
		if _, err := p.api.DoWithContext(ctx, req, &page); err != nil {
			return nil, err
		}
		for _, r := range page.Plans {
			if pl := planFromRaw(r); f.Match(pl) {
				out = append(out, pl)
			}
		}
		return page.Meta, nil
	})
	return out, err
}

func planFromRaw(r rawPlan) provider.Plan {
	cores := r.CPUCores
	if cores == 0 {
		cores = r.CPUCount
	}
	hourly := r.HourlyCost
	if hourly == 0 && r.MonthlyCost > 0 {
		hourly = r.MonthlyCost / 730 // Vultr bills at most 730 hours a month
	}
	pl := provider.Plan{
		Slug:     r.ID,
		Name:     r.ID,
		Cores:    cores,
		CPU:      r.CPUModel,
		MemoryGB: r.RAM / 1024,
		GPUCount: r.GPUCount,
		GPUType:  r.GPUType,
		// Every x86 bare-metal plan boots the Custom OS from an iPXE chain
		// URL; ARM plans (GH200) cannot run the amd64 Talos image.
		TalosCapable: !strings.Contains(r.ID, "gh200") && !strings.Contains(strings.ToLower(r.CPUModel), "grace"),
		Currency:     "USD",
	}
	if m := gpuPlanID.FindStringSubmatch(r.ID); m != nil {
		if pl.GPUCount == 0 {
			pl.GPUCount, _ = strconv.Atoi(m[1])
		}
		if pl.GPUType == "" {
			pl.GPUType = strings.ToUpper(m[2])
		}
	}
	if r.DiskCount > 0 {
		pl.Drives = []provider.Drive{{Count: r.DiskCount, SizeGB: r.Disk, Type: r.Type}}
	}
	for _, loc := range r.Locations {
		pl.Regions = append(pl.Regions, provider.PlanRegion{Site: strings.ToUpper(loc), InStock: true, Hourly: hourly, Monthly: r.MonthlyCost})
	}
	return pl
}

// listAll calls list once per page, following the API's cursor until the
// last page.
func (p *Provider) listAll(ctx context.Context, op string, opts *govultr.ListOptions, list func(ctx context.Context, o *govultr.ListOptions) (*govultr.Meta, error)) error {
	opts.PerPage = perPage
	for {
		var meta *govultr.Meta
		err := p.call(ctx, op, func(ctx context.Context) (err error) {
			meta, err = list(ctx, opts)
			return err
		})
		if err != nil {
			return err
		}
		if meta == nil || meta.Links == nil || meta.Links.Next == "" {
			return nil
		}
		opts.Cursor = meta.Links.Next
	}
}

func (p *Provider) ListRegions(ctx context.Context) ([]provider.Region, error) {
	var out []provider.Region
	err := p.listAll(ctx, "list regions", &govultr.ListOptions{}, func(ctx context.Context, o *govultr.ListOptions) (*govultr.Meta, error) {
		regions, meta, _, err := p.api.Region.List(ctx, o)
		for _, r := range regions {
			out = append(out, provider.Region{Slug: strings.ToUpper(r.ID), Name: r.City, Country: r.Country})
		}
		return meta, err
	})
	return out, err
}

func tagOf(cluster string) string { return clusterTag + cluster }

func (p *Provider) CreateServer(ctx context.Context, s provider.ServerSpec) (provider.Server, error) {
	if s.Cluster == "" || s.Hostname == "" || s.Plan == "" || s.Region == "" {
		return provider.Server{}, fmt.Errorf("vultr: create server: cluster, hostname, plan and region are required: %w", provider.ErrInvalid)
	}
	if s.Boot.Method != provider.BootIPXE || s.Boot.URL == "" {
		return provider.Server{}, fmt.Errorf("vultr: create server %s: bare metal boots Talos only from an iPXE chain URL (got %q): %w", s.Hostname, s.Boot.Method, provider.ErrInvalid)
	}
	req := &govultr.BareMetalCreate{
		Region:          strings.ToLower(s.Region),
		Plan:            s.Plan,
		OsID:            CustomOSID,
		IPXEChainURL:    s.Boot.URL,
		Label:           s.Hostname,
		Hostname:        s.Hostname,
		Tags:            []string{tagOf(s.Cluster), roleTag + string(s.Role)},
		ActivationEmail: govultr.BoolToBoolPtr(false),
	}
	var bm *govultr.BareMetalServer
	err := p.call(ctx, "create server "+s.Hostname, func(ctx context.Context) (err error) {
		bm, _, err = p.api.BareMetalServer.Create(ctx, req)
		return err
	})
	var ae *apiError
	if errors.As(err, &ae) {
		// A 5xx may have come after the server was ordered: adopt it
		// rather than order a second one.
		if found, ok := p.findByLabel(ctx, s.Cluster, s.Hostname); ok {
			return found, nil
		}
	}
	if err != nil {
		return provider.Server{}, err
	}
	return serverFrom(*bm), nil
}

func (p *Provider) findByLabel(ctx context.Context, cluster, label string) (provider.Server, bool) {
	servers, err := p.ListServers(ctx, cluster)
	if err != nil {
		return provider.Server{}, false
	}
	for _, s := range servers {
		if s.Hostname == label && s.Status != provider.StatusFailed {
			return s, true
		}
	}
	return provider.Server{}, false
}

func (p *Provider) GetServer(ctx context.Context, id string) (provider.Server, error) {
	var bm *govultr.BareMetalServer
	err := p.call(ctx, "get server "+id, func(ctx context.Context) (err error) {
		bm, _, err = p.api.BareMetalServer.Get(ctx, id)
		return err
	})
	if err != nil {
		return provider.Server{}, err
	}
	return serverFrom(*bm), nil
}

func (p *Provider) ListServers(ctx context.Context, cluster string) ([]provider.Server, error) {
	tag := tagOf(cluster)
	var out []provider.Server
	err := p.listAll(ctx, "list servers", &govultr.ListOptions{Tag: tag}, func(ctx context.Context, o *govultr.ListOptions) (*govultr.Meta, error) {
		bms, meta, _, err := p.api.BareMetalServer.List(ctx, o)
		for _, bm := range bms {
			// Filter here too: deleting by a list the API did not filter
			// would take other people's servers with it.
			if slices.Contains(bm.Tags, tag) {
				out = append(out, serverFrom(bm))
			}
		}
		return meta, err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (p *Provider) DeleteServer(ctx context.Context, id string) error {
	err := p.call(ctx, "delete server "+id, func(ctx context.Context) error {
		return p.api.BareMetalServer.Delete(ctx, id)
	})
	if errors.Is(err, provider.ErrNotFound) {
		return nil
	}
	return err
}

func serverFrom(bm govultr.BareMetalServer) provider.Server {
	s := provider.Server{
		ID:        bm.ID,
		Hostname:  bm.Label,
		RawStatus: bm.Status,
		Plan:      bm.Plan,
		Region:    strings.ToUpper(bm.Region),
		Tags:      bm.Tags,
	}
	switch bm.Status {
	case "active":
		s.Status = provider.StatusReady
	case "failed", "error":
		s.Status = provider.StatusFailed
	case "suspended":
		s.Status = provider.StatusUnknown
	default: // pending, and anything the API adds later
		s.Status = provider.StatusPending
	}
	if bm.MainIP != "" && bm.MainIP != "0.0.0.0" {
		s.PublicIPv4 = bm.MainIP
	}
	if t, err := time.Parse(time.RFC3339, bm.DateCreated); err == nil {
		s.CreatedAt = t
	}
	// The API reports the public NIC's MAC as an integer.
	if m := bm.MacAddress; m > 0 && m < 1<<48 {
		mac := make(net.HardwareAddr, 6)
		for i := range mac {
			mac[i] = byte(m >> (8 * (5 - i)))
		}
		s.NICs = append(s.NICs, provider.NIC{Role: provider.NICPublic, MAC: mac.String()})
	}
	return s
}

// CreateNetwork creates the cluster's VPC. VPCs carry no tags, so the
// description holds the cluster marker ListNetworks looks for.
func (p *Provider) CreateNetwork(ctx context.Context, n provider.NetworkSpec) (provider.Network, error) {
	if n.Cluster == "" || n.Region == "" {
		return provider.Network{}, fmt.Errorf("vultr: create network: cluster and region are required: %w", provider.ErrInvalid)
	}
	req := &govultr.VPCReq{Region: strings.ToLower(n.Region), Description: tagOf(n.Cluster)}
	if n.Description != "" && n.Description != n.Cluster {
		req.Description += " " + n.Description
	}
	if n.CIDR != "" {
		addr, bits, ok := strings.Cut(n.CIDR, "/")
		mask, err := strconv.Atoi(bits)
		if !ok || err != nil {
			return provider.Network{}, fmt.Errorf("vultr: create network: CIDR %q: %w", n.CIDR, provider.ErrInvalid)
		}
		req.V4Subnet, req.V4SubnetMask = addr, mask
	}
	var v *govultr.VPC
	err := p.call(ctx, "create VPC", func(ctx context.Context) (err error) {
		v, _, err = p.api.VPC.Create(ctx, req)
		return err
	})
	if err != nil {
		return provider.Network{}, err
	}
	return networkFrom(*v), nil
}

func networkFrom(v govultr.VPC) provider.Network {
	n := provider.Network{ID: v.ID, Name: v.Description, Region: strings.ToUpper(v.Region)}
	if v.V4Subnet != "" {
		n.CIDR = fmt.Sprintf("%s/%d", v.V4Subnet, v.V4SubnetMask)
	}
	return n
}

func ownedBy(description, cluster string) bool {
	tag := tagOf(cluster)
	return description == tag || strings.HasPrefix(description, tag+" ")
}

func (p *Provider) ListNetworks(ctx context.Context, cluster string) ([]provider.Network, error) {
	var out []provider.Network
	err := p.listAll(ctx, "list VPCs", &govultr.ListOptions{}, func(ctx context.Context, o *govultr.ListOptions) (*govultr.Meta, error) {
		vpcs, meta, _, err := p.api.VPC.List(ctx, o)
		for _, v := range vpcs {
			if ownedBy(v.Description, cluster) {
				out = append(out, networkFrom(v))
			}
		}
		return meta, err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// AssignServer attaches a bare-metal server to a VPC. The attachment has no
// ID of its own; the server's ID names it.
func (p *Provider) AssignServer(ctx context.Context, networkID, serverID string) (provider.Assignment, error) {
	err := p.call(ctx, "attach server "+serverID+" to VPC "+networkID, func(ctx context.Context) error {
		return p.api.BareMetalServer.AttachVPC(ctx, serverID, networkID)
	})
	if err != nil {
		return provider.Assignment{}, err
	}
	return provider.Assignment{ID: serverID, NetworkID: networkID, ServerID: serverID, Status: provider.AssignmentPending, RawStatus: "attaching"}, nil
}

// ListAssignments lists a VPC's attachments; one is connected once it has
// its private address.
func (p *Provider) ListAssignments(ctx context.Context, networkID string) ([]provider.Assignment, error) {
	var out []provider.Assignment
	err := p.listAll(ctx, "list attachments of VPC "+networkID, &govultr.ListOptions{}, func(ctx context.Context, o *govultr.ListOptions) (*govultr.Meta, error) {
		atts, meta, _, err := p.api.VPC.ListAttachments(ctx, networkID, o)
		for _, a := range atts {
			as := provider.Assignment{ID: a.ID, NetworkID: networkID, ServerID: a.ID, Status: provider.AssignmentPending, RawStatus: "attaching"}
			if a.IP.V4 != "" {
				as.Status, as.RawStatus, as.PrivateIP = provider.AssignmentConnected, "attached", a.IP.V4
			}
			// Each attachment is a NIC of its own.
			if mac, err := net.ParseMAC(a.MACAddress); err == nil {
				as.MAC = mac.String()
			}
			out = append(out, as)
		}
		return meta, err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteNetwork detaches every server, then deletes the VPC (the API
// refuses to delete a VPC that still has attachments).
func (p *Provider) DeleteNetwork(ctx context.Context, id string) error {
	atts, err := p.ListAssignments(ctx, id)
	if errors.Is(err, provider.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, a := range atts {
		err := p.call(ctx, "detach server "+a.ServerID+" from VPC "+id, func(ctx context.Context) error {
			return p.api.BareMetalServer.DetachVPC(ctx, a.ServerID, id)
		})
		if err != nil && !errors.Is(err, provider.ErrNotFound) {
			return err
		}
	}
	err = p.call(ctx, "delete VPC "+id, func(ctx context.Context) error {
		return p.api.VPC.Delete(ctx, id)
	})
	if errors.Is(err, provider.ErrNotFound) {
		return nil
	}
	return err
}
