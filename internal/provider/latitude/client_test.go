package latitude

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cto-platform/cto/internal/httpx"
	"github.com/cto-platform/cto/internal/provider"
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
