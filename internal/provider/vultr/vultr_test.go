package vultr_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cto-platform/cto/internal/provider"
	"github.com/cto-platform/cto/internal/provider/providertest"
	"github.com/cto-platform/cto/internal/provider/vultr"
	"github.com/cto-platform/cto/internal/provider/vultr/fake"
)

// sleepless is a clock whose sleeps return at once and are recorded, so
// retry waits cost nothing and can be asserted.
type sleepless struct {
	mu     sync.Mutex
	slept  []time.Duration
	offset time.Duration
	// frozen, when set, stops the wall clock: only sleeps move time.
	frozen time.Time
}

func (c *sleepless) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.frozen.IsZero() {
		return c.frozen.Add(c.offset)
	}
	return time.Now().Add(c.offset)
}

func (c *sleepless) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.slept = append(c.slept, d)
	c.offset += d
	return ctx.Err()
}

func (c *sleepless) sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.slept...)
}

type env struct {
	api   *fake.API
	srv   *httptest.Server
	p     *vultr.Provider
	clock *sleepless
}

func newEnv(t *testing.T, o fake.Options) *env {
	t.Helper()
	api := fake.New(o)
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	c := &sleepless{}
	p, err := vultr.New(vultr.Config{Token: api.Token(), BaseURL: srv.URL, Clock: c})
	if err != nil {
		t.Fatal(err)
	}
	return &env{api: api, srv: srv, p: p, clock: c}
}

func TestConformance(t *testing.T) {
	providertest.Run(t, func(t *testing.T) providertest.Fixture {
		e := newEnv(t, fake.Options{})
		return providertest.Fixture{
			Provider: e.p,
			Plan:     "vbm-4c-32gb",
			Region:   "EWR",
			Settle:   e.api.Settle,
			BadCredentials: func() provider.Provider {
				p, err := vultr.New(vultr.Config{Token: "wrong", BaseURL: e.srv.URL, Clock: e.clock})
				if err != nil {
					t.Fatal(err)
				}
				return p
			},
			OutOfStock: func() { e.api.OutOfStock("vbm-4c-32gb", "ewr") },
			FailNext:   func() { e.api.FailNext(1) },
		}
	})
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

func spec(cluster, host string) provider.ServerSpec {
	return provider.ServerSpec{Cluster: cluster, Hostname: host, Role: provider.RoleWorker, Plan: "vbm-4c-32gb", Region: "EWR",
		Boot: provider.Boot{Method: provider.BootIPXE, URL: "http://127.0.0.1:9/pxe/abc/v1.13.9/metal-amd64"}}
}

// fakeState reads GET /_fake/state.
func fakeState(t *testing.T, e *env) map[string]json.RawMessage {
	t.Helper()
	resp, err := http.Get(e.srv.URL + "/_fake/state")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st map[string]json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

func TestCreateServerSendsTalosBootAndTags(t *testing.T) {
	e := newEnv(t, fake.Options{})
	s, err := provider.Create(ctx(t), e.p, spec("alpha", "alpha-cp1"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Status != provider.StatusPending || s.Hostname != "alpha-cp1" || s.Region != "EWR" {
		t.Errorf("new server = %+v, want pending alpha-cp1 in EWR", s)
	}
	var servers []struct {
		OSID  int      `json:"os_id"`
		IPXE  string   `json:"ipxe_chain_url"`
		Tags  []string `json:"tags"`
		Label string   `json:"label"`
		Host  string   `json:"hostname"`
	}
	if err := json.Unmarshal(fakeState(t, e)["bare_metals"], &servers); err != nil {
		t.Fatal(err)
	}
	if len(servers) != 1 {
		t.Fatalf("fake holds %d servers, want 1", len(servers))
	}
	got := servers[0]
	if got.OSID != vultr.CustomOSID || !strings.HasSuffix(got.IPXE, "/metal-amd64") || got.Label != "alpha-cp1" || got.Host != "alpha-cp1" {
		t.Errorf("server as ordered: %+v", got)
	}
	if strings.Join(got.Tags, ",") != "cto.cluster=alpha,cto.role=worker" {
		t.Errorf("tags = %v", got.Tags)
	}

	bad := spec("alpha", "alpha-w1")
	bad.Boot = provider.Boot{Method: provider.BootISO, URL: "http://127.0.0.1:9/talos.iso"}
	if _, err := provider.Create(ctx(t), e.p, bad, nil); !errors.Is(err, provider.ErrInvalid) {
		t.Errorf("create with an ISO = %v, want ErrInvalid", err)
	}
}

func TestRateLimitIsRetriedAfterRetryAfter(t *testing.T) {
	e := newEnv(t, fake.Options{})
	e.api.RateLimit(2, 3*time.Second)
	if _, err := e.p.ListRegions(ctx(t)); err != nil {
		t.Fatalf("ListRegions through two 429s: %v", err)
	}
	var waited []time.Duration
	for _, d := range e.clock.sleeps() {
		if d >= time.Second {
			waited = append(waited, d)
		}
	}
	if len(waited) != 2 || waited[0] != 3*time.Second || waited[1] != 3*time.Second {
		t.Errorf("waits = %v, want two of 3s (the Retry-After)", waited)
	}

	// More 429s than retries: a typed error that says when to come back.
	e.api.RateLimit(10, 7*time.Second)
	_, err := e.p.ListRegions(ctx(t))
	var rl *provider.RateLimitError
	if !errors.As(err, &rl) || !errors.Is(err, provider.ErrRateLimited) || rl.RetryAfter != 7*time.Second {
		t.Errorf("persistent 429 = %v, want RateLimitError after 7s", err)
	}
}

func TestServerErrorsRetryReadsButNeverCreates(t *testing.T) {
	e := newEnv(t, fake.Options{})
	e.api.Break(3, http.StatusBadGateway)
	if _, err := e.p.ListServers(ctx(t), "alpha"); err != nil {
		t.Fatalf("ListServers through a burst of 502s: %v", err)
	}

	e.api.Break(1, http.StatusInternalServerError)
	before := e.api.Requests()
	_, err := provider.Create(ctx(t), e.p, spec("alpha", "alpha-cp1"), nil)
	if err == nil || !strings.Contains(err.Error(), "HTTP 500") {
		t.Fatalf("create answered 500 = %v, want the 500 reported", err)
	}
	if e.api.Creates() != 0 {
		t.Errorf("a create answered 500 was sent again: %d servers ordered", e.api.Creates())
	}
	// One POST, then one list to look for a server the 500 might hide.
	if n := e.api.Requests() - before; n != 2 {
		t.Errorf("create answered 500 took %d requests, want 2 (create, list)", n)
	}
}

func TestPaginationFollowsCursors(t *testing.T) {
	e := newEnv(t, fake.Options{MaxPerPage: 2})
	var ids []string
	for _, h := range []string{"p-1", "p-2", "p-3", "p-4", "p-5"} {
		s, err := provider.Create(ctx(t), e.p, spec("paged", h), nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, s.ID)
	}
	before := e.api.Requests()
	got, err := e.p.ListServers(ctx(t), "paged")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 {
		t.Fatalf("ListServers over pages of 2 = %d servers, want 5", len(got))
	}
	if n := e.api.Requests() - before; n != 3 {
		t.Errorf("5 servers in pages of 2 took %d requests, want 3", n)
	}
	regions, err := e.p.ListRegions(ctx(t))
	if err != nil || len(regions) != 6 {
		t.Errorf("ListRegions over pages = %d regions, %v; want 6", len(regions), err)
	}
	plans, err := e.p.ListPlans(ctx(t), provider.PlanFilter{})
	if err != nil || len(plans) != 4 {
		t.Errorf("ListPlans over pages = %d plans, %v; want 4", len(plans), err)
	}
}

func TestPlansCarryPricesGPUsAndStock(t *testing.T) {
	e := newEnv(t, fake.Options{})
	plans, err := e.p.ListPlans(ctx(t), provider.PlanFilter{GPU: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(plans) != 1 {
		t.Fatalf("GPU plans = %+v, want the H100 plan only", plans)
	}
	g := plans[0]
	if g.GPUCount != 8 || g.GPUType != "NVIDIA_H100" || g.MemoryGB != 2048 || g.Cores != 112 {
		t.Errorf("GPU plan = %+v", g)
	}
	at, ok := g.At("EWR")
	if !ok || at.Hourly != 24 || at.Monthly != 17520 {
		t.Errorf("GPU plan at EWR = %+v (%v)", at, ok)
	}
	fra, err := e.p.ListPlans(ctx(t), provider.PlanFilter{Region: "FRA", InStock: true})
	if err != nil || len(fra) != 1 || fra[0].Slug != "vbm-8c-132gb" {
		t.Errorf("plans in stock at FRA = %+v, %v", fra, err)
	}
	e.api.OutOfStock("vbm-8c-132gb", "fra")
	if fra, _ := e.p.ListPlans(ctx(t), provider.PlanFilter{Region: "FRA", InStock: true}); len(fra) != 0 {
		t.Errorf("after FRA sold out, plans in stock there = %+v", fra)
	}
}

func TestDestroyFindsVPCByDescriptionAndDetaches(t *testing.T) {
	e := newEnv(t, fake.Options{})
	c := ctx(t)
	s, err := provider.Create(c, e.p, spec("beta", "beta-cp1"), nil)
	if err != nil {
		t.Fatal(err)
	}
	n, err := e.p.CreateNetwork(c, provider.NetworkSpec{Cluster: "beta", Region: "EWR", CIDR: "10.8.0.0/24"})
	if err != nil {
		t.Fatal(err)
	}
	if n.CIDR != "10.8.0.0/24" || n.Region != "EWR" {
		t.Errorf("network = %+v", n)
	}
	if _, err := e.p.CreateNetwork(c, provider.NetworkSpec{Cluster: "beta-2", Region: "EWR"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.p.AssignServer(c, n.ID, s.ID); err != nil {
		t.Fatal(err)
	}
	as, _ := e.p.ListAssignments(c, n.ID)
	if len(as) != 1 || as[0].Status != provider.AssignmentPending {
		t.Errorf("assignment before it settles = %+v, want one pending", as)
	}
	nets, err := e.p.ListNetworks(c, "beta")
	if err != nil || len(nets) != 1 || nets[0].ID != n.ID {
		t.Fatalf("ListNetworks(beta) = %+v, %v; want only %s (not beta-2's)", nets, err, n.ID)
	}
	if err := e.p.DeleteNetwork(c, n.ID); err != nil {
		t.Fatalf("DeleteNetwork with a server attached: %v", err)
	}
	if nets, _ := e.p.ListNetworks(c, "beta-2"); len(nets) != 1 {
		t.Errorf("beta-2's network was touched: %+v", nets)
	}
}

func TestNewRefusesWithoutKey(t *testing.T) {
	if _, err := vultr.New(vultr.Config{}); !errors.Is(err, provider.ErrUnauthorized) {
		t.Errorf("New without a key = %v, want ErrUnauthorized", err)
	}
	if _, err := vultr.New(vultr.Config{Token: "k", BaseURL: "not a url"}); !errors.Is(err, provider.ErrInvalid) {
		t.Errorf("New with a bad URL = %v, want ErrInvalid", err)
	}
}

// Errors must never carry the API key.
func TestErrorsHideTheKey(t *testing.T) {
	e := newEnv(t, fake.Options{})
	_, err := e.p.GetServer(ctx(t), "nope")
	if err == nil || strings.Contains(err.Error(), e.api.Token()) {
		t.Errorf("GetServer(unknown) = %v", err)
	}
}

func TestBudgetSpacesRequests(t *testing.T) {
	api := fake.New(fake.Options{})
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	c := &sleepless{frozen: time.Now()}
	p, err := vultr.New(vultr.Config{Token: api.Token(), BaseURL: srv.URL, Clock: c, RequestsPerSecond: 10})
	if err != nil {
		t.Fatal(err)
	}
	for range 15 {
		if err := p.Authenticate(ctx(t)); err != nil {
			t.Fatal(err)
		}
	}
	var total time.Duration
	for _, d := range c.sleeps() {
		total += d
	}
	// A burst of 10, then 5 more at 10 per second: 5 waits of 100ms.
	if total != 500*time.Millisecond {
		t.Errorf("15 requests at 10/s waited %s (%v), want 500ms", total, c.sleeps())
	}
}

func TestConcurrentCreatesAllLand(t *testing.T) {
	e := newEnv(t, fake.Options{})
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := provider.Create(ctx(t), e.p, spec("wide", "wide-"+string(rune('a'+i))), nil)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	got, err := e.p.ListServers(ctx(t), "wide")
	if err != nil || len(got) != n || e.api.Creates() != n {
		t.Errorf("after %d concurrent creates: listed %d (%v), ordered %d", n, len(got), err, e.api.Creates())
	}
}

func TestCatalogListsWithoutAKey(t *testing.T) {
	e := newEnv(t, fake.Options{})
	p, err := vultr.NewCatalog(vultr.Config{BaseURL: e.srv.URL, Clock: e.clock})
	if err != nil {
		t.Fatal(err)
	}
	plans, err := p.ListPlans(context.Background(), provider.PlanFilter{})
	if err != nil || len(plans) != 4 {
		t.Fatalf("plans without a key: %d, %v; want the fake's 4", len(plans), err)
	}
	if regions, err := p.ListRegions(context.Background()); err != nil || len(regions) == 0 {
		t.Fatalf("regions without a key: %v, %v", regions, err)
	}
	if _, err := p.ListServers(context.Background(), "c"); !errors.Is(err, provider.ErrUnauthorized) {
		t.Errorf("listing servers without a key = %v, want ErrUnauthorized", err)
	}
}
