package latitude

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cto-platform/cto/internal/provider"
	"github.com/cto-platform/cto/internal/provider/latitude/fake"
)

// serveFake serves a double made with opts over HTTP until the test ends
// and returns it with its URL.
func serveFake(t testing.TB, opts fake.Options) (*fake.Fake, string) {
	t.Helper()
	f := fake.New(opts)
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv.URL
}

// providerOn is a provider with cfg that calls the API at url with the
// double's key (url is the double's, or a handler's in front of it).
func providerOn(t testing.TB, f *fake.Fake, url string, cfg Config) *Provider {
	t.Helper()
	cfg.Token, cfg.APIURL = f.Token(), url
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// ipxeServer is the spec of a c2-small-x86 server in DAL that boots url
// over iPXE.
func ipxeServer(cluster, hostname, url string) provider.ServerSpec {
	return provider.ServerSpec{Cluster: cluster, Hostname: hostname, Plan: "c2-small-x86", Region: "DAL",
		Boot: provider.Boot{Method: provider.BootIPXE, URL: url}}
}

// mustCreate orders spec through p and fails the test on an error.
func mustCreate(t testing.TB, p provider.Provider, spec provider.ServerSpec) provider.Server {
	t.Helper()
	s, err := provider.Create(context.Background(), p, spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// serverOnVLAN orders spec's server, a VLAN of its cluster in its region
// and the server's assignment to that VLAN.
func serverOnVLAN(t testing.TB, p *Provider, spec provider.ServerSpec) provider.Server {
	t.Helper()
	s := mustCreate(t, p, spec)
	ctx := context.Background()
	n, err := p.CreateNetwork(ctx, provider.NetworkSpec{Cluster: spec.Cluster, Region: spec.Region})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.AssignServer(ctx, n.ID, s.ID); err != nil {
		t.Fatal(err)
	}
	return s
}

// sendFake sends one request to the double at url with its key and reads
// the whole answer.
func sendFake(t testing.TB, f *fake.Fake, url, method, path, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", f.Token())
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, data
}

// callFake is sendFake with the answer decoded (nil when it is not JSON).
func callFake(t testing.TB, f *fake.Fake, url, method, path, body string) (int, map[string]any) {
	t.Helper()
	resp, data := sendFake(t, f, url, method, path, body)
	var out map[string]any
	_ = json.Unmarshal(data, &out)
	return resp.StatusCode, out
}

// instantClock never waits.
type instantClock struct{}

func (instantClock) Now() time.Time                                   { return time.Now() }
func (instantClock) Sleep(ctx context.Context, _ time.Duration) error { return ctx.Err() }
