package latitude

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cto-platform/cto/internal/clock"

	"github.com/cto-platform/cto/internal/httpx"
	"github.com/cto-platform/cto/internal/provider"
	"github.com/cto-platform/cto/internal/provider/latitude/fake"
)

func TestMapStatus(t *testing.T) {
	for raw, want := range map[string]provider.Status{
		"on": provider.StatusReady, "failed_deployment": provider.StatusFailed,
		"deploying": provider.StatusPending, "starting_deploy": provider.StatusPending, "inventory": provider.StatusPending,
		"provisioning": provider.StatusPending, "off": provider.StatusPending, "unknown": provider.StatusPending,
		"something_new": provider.StatusPending, "disk_erasing": provider.StatusPending, "deleted": provider.StatusDeleting,
	} {
		if got := mapStatus(raw); got != want {
			t.Errorf("mapStatus(%q) = %s, want %s", raw, got, want)
		}
	}
}

// pagedServer serves n rows of /regions; ignorePaging answers every row to
// every page, as an endpoint without paging does.
func pagedServer(t *testing.T, n int, ignorePaging bool) (*httptest.Server, *atomic.Int32) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		size, _ := strconv.Atoi(r.URL.Query().Get("page[size]"))
		num, _ := strconv.Atoi(r.URL.Query().Get("page[number]"))
		if size == 0 || num == 0 {
			t.Errorf("list call without page parameters: %s", r.URL)
		}
		start, end := (num-1)*size, num*size
		if ignorePaging {
			start, end = 0, n
		}
		var rows []string
		for i := start; i < min(end, n); i++ {
			rows = append(rows, fmt.Sprintf(`{"id":"loc_%d","type":"regions","attributes":{"slug":"S%d","name":"Site %d"}}`, i, i, i))
		}
		w.Header().Set("Content-Type", "application/vnd.api+json")
		fmt.Fprintf(w, `{"data":[%s],"meta":{}}`, strings.Join(rows, ","))
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func TestListsPaginateToTheEnd(t *testing.T) {
	for _, c := range []struct {
		name      string
		rows      int
		ignore    bool
		wantCalls int32
	}{
		{"short last page", 230, false, 4},
		{"exact pages end on an empty one", 200, false, 3},
		{"one short page", 19, false, 2},
		{"endpoint ignoring paging", PageSize, true, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv, calls := pagedServer(t, c.rows, c.ignore)
			cl := NewClient(srv.URL, "t", httpx.New(httpx.Options{}))
			got, err := cl.Regions(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != c.rows || calls.Load() != c.wantCalls {
				t.Errorf("got %d rows in %d calls, want %d in %d", len(got), calls.Load(), c.rows, c.wantCalls)
			}
		})
	}
}

func TestErrorsMapToProviderErrors(t *testing.T) {
	for _, c := range []struct {
		status int
		body   string
		want   error
	}{
		{401, `{"errors":[{"code":"UNAUTHORIZED","status":"401","title":"Unauthorized"}]}`, provider.ErrUnauthorized},
		{404, `{"errors":[{"code":"not_found","status":"404","title":"Specified Record Not Found"}]}`, provider.ErrNotFound},
		{422, `{"errors":[{"code":"SERVERS_OUT_OF_STOCK","status":"422","detail":"No stock availability"}]}`, provider.ErrOutOfStock},
		{422, `{"errors":[{"code":"VALIDATION_ERROR","status":"422","detail":"plan is not valid"}]}`, provider.ErrInvalid},
		{429, `{"errors":[{"code":"RATE_LIMIT_EXCEEDED","status":"429","meta":{"retry_after":12}}]}`, provider.ErrRateLimited},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(c.status)
			fmt.Fprint(w, c.body)
		}))
		cl := NewClient(srv.URL, "t", httpx.New(httpx.Options{MaxAttempts: 1}))
		_, err := cl.GetServer(context.Background(), "sv_x")
		srv.Close()
		if !errors.Is(err, c.want) {
			t.Errorf("%d %s: %v, want %v", c.status, c.body, err, c.want)
		}
		if c.status == 429 {
			var rl *provider.RateLimitError
			if !errors.As(err, &rl) || rl.RetryAfter.Seconds() != 12 {
				t.Errorf("429: RetryAfter not carried: %v", err)
			}
		}
	}
}

func TestTokenSentRawAndNeverInErrors(t *testing.T) {
	const token = "lat_0123456789abcdef"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != token {
			t.Errorf("Authorization = %q, want the raw token", r.Header.Get("Authorization"))
		}
		w.WriteHeader(422)
		fmt.Fprintf(w, `{"errors":[{"status":"422","detail":"token %s is not allowed here"}]}`, token)
	}))
	defer srv.Close()
	p, err := New(Config{Token: token, APIURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.GetServer(context.Background(), "sv_x")
	if err == nil || strings.Contains(err.Error(), token) {
		t.Fatalf("error leaks the token or is nil: %v", err)
	}
}

func TestConfigFromEnv(t *testing.T) {
	t.Setenv("LATITUDESH_AUTH_TOKEN", "")
	t.Setenv("LATITUDE_API_KEY", "")
	if _, err := ConfigFromEnv("", ""); !errors.Is(err, ErrNoToken) || !strings.Contains(err.Error(), "LATITUDESH_AUTH_TOKEN") {
		t.Errorf("missing token: %v", err)
	}
	t.Setenv("LATITUDE_API_KEY", "k")
	t.Setenv("LATITUDESH_PROJECT", "")
	t.Setenv("LATITUDE_PROJECT_ID", "proj_abc")
	t.Setenv("LATITUDESH_API_URL", "http://127.0.0.1:9")
	cfg, err := ConfigFromEnv("", "")
	if err != nil || cfg.Token != "k" || cfg.Project != "proj_abc" || cfg.APIURL != "http://127.0.0.1:9" {
		t.Errorf("cfg = %+v, %v", cfg, err)
	}
	cfg, _ = ConfigFromEnv("my-proj", "http://127.0.0.1:8")
	if cfg.Project != "my-proj" || cfg.APIURL != "http://127.0.0.1:8" {
		t.Errorf("flags must win over the environment: %+v", cfg)
	}
}

func TestCreateWithALostAnswerOrdersOnce(t *testing.T) {
	f, base := serveFake(t, fake.Options{})
	p := providerOn(t, f, base, Config{Clock: instantClock{}})
	f.SetFaults(func(x *fake.Faults) { x.LoseCreateAnswers = 1 })
	s := mustCreate(t, p, ipxeServer("c", "c-cp1", "http://boot.test/x"))
	st := f.State()
	if len(st.Servers) != 1 || st.Servers[0].ID != s.ID || st.Requests["POST /servers"] != 1 {
		t.Fatalf("servers %+v after %d creates; want the one whose answer was lost, adopted", st.Servers, st.Requests["POST /servers"])
	}
	if !slices.Contains(st.Servers[0].Tags, "c") {
		t.Errorf("the adopted server was not tagged: %+v", st.Servers[0])
	}
}

// instantClock never waits.
type instantClock struct{}

func (instantClock) Now() time.Time                                   { return time.Now() }
func (instantClock) Sleep(ctx context.Context, _ time.Duration) error { return ctx.Err() }

// A batch of creates lists the project's hostnames once instead of looking
// each one up; a hostname already in the project is still adopted, and a
// hostname ordered again (a replacement) is looked up first.
func TestCreatesShareOneHostnameListing(t *testing.T) {
	f := fake.New(fake.Options{})
	var lookups, listings atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Path == "/servers" {
			if r.URL.Query().Get("filter[hostname]") != "" {
				lookups.Add(1)
			} else if r.URL.Query().Get("filter[tags]") == "" {
				listings.Add(1)
			}
		}
		f.ServeHTTP(w, r)
	}))
	defer srv.Close()
	spec := func(host string) provider.ServerSpec { return ipxeServer("c", host, "http://boot.test/x") }
	cfg := Config{Clock: instantClock{}, ReadsPerMinute: -1, WritesPerMinute: -1}
	// An earlier run (another process) ordered c-cp1.
	earlier := mustCreate(t, providerOn(t, f, srv.URL, cfg), spec("c-cp1"))
	p := providerOn(t, f, srv.URL, cfg)
	lookups.Store(0)
	listings.Store(0)
	var wg sync.WaitGroup
	ids := make([]string, 10)
	for i := range ids {
		wg.Go(func() {
			s := spec(fmt.Sprintf("c-worker%d", i))
			if i == 0 {
				s = spec("c-cp1")
			}
			got, err := provider.Create(context.Background(), p, s, nil)
			if err != nil {
				t.Error(err)
			}
			ids[i] = got.ID
		})
	}
	wg.Wait()
	if listings.Load() != 1 || lookups.Load() != 1 {
		t.Fatalf("10 creates: %d project listings (want 1), %d hostname lookups (want 1: the hostname already there)", listings.Load(), lookups.Load())
	}
	if ids[0] != earlier.ID {
		t.Errorf("c-cp1 is %s, want the earlier run's %s adopted", ids[0], earlier.ID)
	}
	if st := f.State(); len(st.Servers) != 10 {
		t.Fatalf("%d servers, want 10", len(st.Servers))
	}
	// A replacement of a hostname this provider ordered looks it up again.
	if err := p.DeleteServer(context.Background(), ids[1]); err != nil {
		t.Fatal(err)
	}
	again, err := provider.Create(context.Background(), p, spec("c-worker1"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if lookups.Load() != 2 || again.ID == ids[1] {
		t.Fatalf("replacement: %d lookups (want 2), id %s (old %s)", lookups.Load(), again.ID, ids[1])
	}
}

// Under a tight write budget a control plane's order goes ahead of every
// worker order already waiting: the cluster's API comes up with it.
func TestControlPlaneOrdersGoFirst(t *testing.T) {
	f := fake.New(fake.Options{})
	var mu sync.Mutex
	var order []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/servers" {
			var body struct {
				Data struct{ Attributes struct{ Hostname string } }
			}
			data, _ := io.ReadAll(r.Body)
			_ = json.Unmarshal(data, &body)
			r.Body = io.NopCloser(bytes.NewReader(data))
			mu.Lock()
			order = append(order, body.Data.Attributes.Hostname)
			mu.Unlock()
		}
		f.ServeHTTP(w, r)
	}))
	defer srv.Close()
	// Two writes a minute on a clock 3000 times faster: a minute is 20 ms.
	p := providerOn(t, f, srv.URL, Config{Clock: clock.NewScaled(3000), ReadsPerMinute: -1, WritesPerMinute: 2})
	create := func(host string, role provider.Role) {
		spec := ipxeServer("c", host, "http://boot.test/x")
		spec.Role = role
		if _, err := provider.Create(context.Background(), p, spec, nil); err != nil {
			t.Error(err)
		}
	}
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Go(func() { create(fmt.Sprintf("c-worker%d", i+1), provider.RoleWorker) })
	}
	// The control plane asks once the workers already wait for the budget.
	time.Sleep(20 * time.Millisecond)
	wg.Go(func() { create("c-cp1", provider.RoleControlPlane) })
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if i := slices.Index(order, "c-cp1"); i < 0 || i > 3 {
		t.Fatalf("orders went out as %v; want c-cp1 ahead of the workers still waiting", order)
	}
}
