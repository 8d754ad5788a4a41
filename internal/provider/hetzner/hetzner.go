// Package hetzner is the Hetzner Cloud provider (--provider hetzner), built
// on the official hcloud-go SDK. Servers, networks, placement groups and
// load balancers carry the labels cto.cluster=<name> (and cto.role for
// servers), which is how everything of a cluster is found again. Prices are
// the API's live net prices in EUR. Talos boots from Hetzner's public Talos
// ISO when its version matches, otherwise from a snapshot built once per
// Talos version and schematic (see talos.go).
package hetzner

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hetznercloud/hcloud-go/v2/hcloud"

	"github.com/cto-platform/cto/internal/clock"
	"github.com/cto-platform/cto/internal/httpx"
	"github.com/cto-platform/cto/internal/provider"
	"github.com/cto-platform/cto/internal/provider/hetzner/rescue"
)

// Name is the provider's flag value.
const Name = "hetzner"

// Label keys every resource of a cluster carries.
const (
	LabelCluster = "cto.cluster"
	LabelRole    = "cto.role"
	// LabelState marks a server whose creation or boot failed, so every
	// later read reports it failed and the pipeline replaces it.
	LabelState = "cto.state"
)

// Config is what New needs. Zero values pick production defaults.
type Config struct {
	Token string
	// Endpoint overrides the API URL (HCLOUD_ENDPOINT, --api-url).
	Endpoint string
	// HTTPClient defaults to one with a 60s timeout and the request budget.
	HTTPClient *http.Client
	// PollBackoff paces the action waiter (default: 1s growing to 10s).
	PollBackoff hcloud.BackoffFunc
	// RetryBackoff paces the SDK's retries of conflicts, rate limits, 502
	// and 504 (default: the SDK's exponential backoff with jitter).
	RetryBackoff hcloud.BackoffFunc
	// Clock paces the provider's own waits (default real time).
	Clock clock.Clock
	// DialRescue maps a server's public IPv4 to the SSH address of its
	// rescue system (default ip:22).
	DialRescue func(ip string) string
	// Version is cto's version, sent in the User-Agent.
	Version string
}

// Provider is one Hetzner Cloud project.
type Provider struct {
	api   *hcloud.Client
	cfg   Config
	clock clock.Clock

	// mu serialises the get-or-create of per-cluster resources (placement
	// groups, load balancers, snapshots), so concurrent creates of one
	// cluster's servers make one of each.
	mu sync.Mutex
	// unbooted are the servers CreateServer left stopped for FinishServer.
	unbooted provider.Unfinished[isoBoot]
}

// What this provider implements, checked by the compiler.
var (
	_ provider.Provider        = (*Provider)(nil)
	_ provider.APILoadBalancer = (*Provider)(nil)
	_ provider.Charger         = (*Provider)(nil)
	_ provider.ISODetacher     = (*Provider)(nil)
	_ provider.Finisher        = (*Provider)(nil)
)

// ConfigFromEnv reads a provider's configuration from HCLOUD_TOKEN,
// HCLOUD_ENDPOINT and HCLOUD_RESCUE_SSH_PORT; apiURL (--api-url) wins over
// the endpoint. A missing token names the variable.
func ConfigFromEnv(apiURL, version string) (Config, error) {
	token := os.Getenv("HCLOUD_TOKEN")
	if token == "" {
		return Config{}, errors.New("HCLOUD_TOKEN is not set: create an API token (Read & Write) in the Hetzner Cloud console and export HCLOUD_TOKEN")
	}
	endpoint := apiURL
	if endpoint == "" {
		endpoint = os.Getenv("HCLOUD_ENDPOINT")
	}
	dial, err := rescue.AddrFromEnv(RescuePortEnv)
	if err != nil {
		return Config{}, err
	}
	return Config{Token: token, Endpoint: endpoint, Version: version, DialRescue: dial}, nil
}

// RescuePortEnv is the rescue systems' SSH port (default 22), where a
// simulated datacenter serves them elsewhere.
const RescuePortEnv = "HCLOUD_RESCUE_SSH_PORT"

// New returns a provider for cfg.
func New(cfg Config) *Provider {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 60 * time.Second}
	}
	// Every request passes the hourly budget, whatever transport the
	// caller brought.
	hc := *cfg.HTTPClient
	hc.Transport = &budget{next: hc.Transport, clock: cfg.Clock}
	if cfg.PollBackoff == nil {
		cfg.PollBackoff = hcloud.ExponentialBackoffWithOpts(hcloud.ExponentialBackoffOpts{Base: time.Second, Multiplier: 1.5, Cap: 10 * time.Second})
	}
	if cfg.DialRescue == nil {
		cfg.DialRescue = rescue.DefaultAddr
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	opts := []hcloud.ClientOption{
		hcloud.WithToken(cfg.Token),
		hcloud.WithApplication("cto", cfg.Version),
		hcloud.WithHTTPClient(&hc),
		hcloud.WithPollOpts(hcloud.PollOpts{BackoffFunc: cfg.PollBackoff}),
	}
	if cfg.RetryBackoff != nil {
		opts = append(opts, hcloud.WithRetryOpts(hcloud.RetryOpts{BackoffFunc: cfg.RetryBackoff, MaxRetries: 5}))
	}
	if cfg.Endpoint != "" {
		opts = append(opts, hcloud.WithEndpoint(cfg.Endpoint))
	}
	return &Provider{api: hcloud.NewClient(opts...), cfg: cfg, clock: cfg.Clock}
}

func (p *Provider) Name() string { return Name }

func (p *Provider) Capabilities() provider.Capabilities {
	return provider.Capabilities{
		PrivateNetworks: true,
		DHCP:            true,
		Currency:        "EUR",
		// Cloud networks are routed: each server gets its address and the
		// route to the network's gateway by DHCP on its private NIC.
		PrivateDHCP: true,
		// A server's private network interface has MTU 1450, its public
		// one 1500 (Hetzner Cloud docs, Networks > Technical concepts >
		// Architecture, docs.hetzner.com/cloud/networks/technical-concepts/architecture).
		// Cilium takes it so its VXLAN packets fit. The private link's
		// config sets it too: Talos merges a link's settings by layer, and
		// the machine config outranks the DHCP operator
		// (network.ConfigMachineConfiguration > ConfigOperator), so the
		// link gets 1450 whether or not the lease carries option 26, and
		// the same value when it does.
		PrivateMTU: 1450,
	}
}

// Authenticate lists the locations: the cheapest call that needs a token.
func (p *Provider) Authenticate(ctx context.Context) error {
	if _, _, err := p.api.Location.List(ctx, hcloud.LocationListOpts{ListOpts: hcloud.ListOpts{PerPage: 1}}); err != nil {
		return apiError("check the API token", err)
	}
	return nil
}

// ListRegions returns the locations.
func (p *Provider) ListRegions(ctx context.Context) ([]provider.Region, error) {
	locs, err := p.api.Location.All(ctx)
	if err != nil {
		return nil, apiError("list locations", err)
	}
	out := make([]provider.Region, 0, len(locs))
	for _, l := range locs {
		out = append(out, provider.Region{Slug: l.Name, Name: l.City, Country: l.Country})
	}
	return out, nil
}

// ListPlans returns the server types with their live per-location net
// prices in EUR and whether they can be created there now.
func (p *Provider) ListPlans(ctx context.Context, f provider.PlanFilter) ([]provider.Plan, error) {
	types, err := p.api.ServerType.All(ctx)
	if err != nil {
		return nil, apiError("list server types", err)
	}
	var out []provider.Plan
	for _, t := range types {
		if plan := planOf(t); f.Match(plan) {
			out = append(out, plan)
		}
	}
	return out, nil
}

func planOf(t *hcloud.ServerType) provider.Plan {
	plan := provider.Plan{
		Slug:     t.Name,
		Name:     t.Description,
		Cores:    t.Cores,
		CPU:      fmt.Sprintf("%s vCPU (%s)", t.CPUType, t.Architecture),
		MemoryGB: int(t.Memory),
		Drives:   []provider.Drive{{Count: 1, SizeGB: float64(t.Disk), Type: string(t.StorageType)}},
		// The Talos media cto boots (ISO, hcloud-amd64 image) are x86.
		TalosCapable: t.Architecture == hcloud.ArchitectureX86,
		Currency:     "EUR",
	}
	available := map[string]bool{}
	for _, l := range t.Locations {
		if l.Location != nil {
			available[l.Location.Name] = l.Available && !l.IsDeprecated()
		}
	}
	for _, pr := range t.Pricings {
		if pr.Location == nil {
			continue
		}
		plan.Regions = append(plan.Regions, provider.PlanRegion{
			Site:    pr.Location.Name,
			InStock: available[pr.Location.Name],
			Hourly:  amount(pr.Hourly.Net),
			Monthly: amount(pr.Monthly.Net),
		})
	}
	return plan
}

func amount(s string) float64 {
	v, _ := strconv.ParseFloat(s, 64)
	return v
}

// apiError maps an hcloud error onto the typed errors of package provider,
// keeping the API's own words.
func apiError(op string, err error) error {
	if err == nil {
		return nil
	}
	var he hcloud.Error
	if errors.As(err, &he) {
		switch he.Code {
		case hcloud.ErrorCodeUnauthorized, hcloud.ErrorCodeForbidden:
			return fmt.Errorf("%s: %w (%s)", op, provider.ErrUnauthorized, he.Message)
		case hcloud.ErrorCodeNotFound:
			return fmt.Errorf("%s: %w (%s)", op, provider.ErrNotFound, he.Message)
		case hcloud.ErrorCodeResourceUnavailable, hcloud.ErrorCodePlacementError, hcloud.ErrorCodeResourceLimitExceeded:
			return fmt.Errorf("%s: %w (%s)", op, provider.ErrOutOfStock, he.Message)
		case hcloud.ErrorCodeInvalidInput, hcloud.ErrorCodeUniquenessError, hcloud.ErrorCodeInvalidServerType, hcloud.ErrorCodeJSONError:
			return fmt.Errorf("%s: %w (%s)", op, provider.ErrInvalid, he.Message)
		case hcloud.ErrorCodeRateLimitExceeded:
			rl := &provider.RateLimitError{Detail: he.Message}
			if resp := he.Response(); resp != nil && resp.Response != nil {
				if d, ok := httpx.RetryAfter(resp.Header, time.Now()); ok {
					rl.RetryAfter = d
				} else if !resp.Meta.Ratelimit.Reset.IsZero() {
					rl.RetryAfter = time.Until(resp.Meta.Ratelimit.Reset)
				}
			}
			return fmt.Errorf("%s: %w", op, rl)
		}
		return fmt.Errorf("%s: %s (%s)", op, he.Message, he.Code)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// parseID reads a provider ID; anything not a number cannot exist.
// existing gets a resource of kind by its ID with get, for a delete: a
// malformed ID or a resource already gone is nil, without error.
func existing[T any](ctx context.Context, kind, id string, get func(context.Context, int64) (*T, *hcloud.Response, error)) (*T, error) {
	n, err := parseID(kind, id)
	if err != nil {
		return nil, nil
	}
	v, _, err := get(ctx, n)
	if err != nil {
		return nil, apiError("get "+kind+" "+id, err)
	}
	return v, nil
}

func parseID(kind, id string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(id), 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%s %q: %w", kind, id, provider.ErrNotFound)
	}
	return n, nil
}
