package latitude

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cto-platform/cto/internal/clock"
	"github.com/cto-platform/cto/internal/provider"
	"github.com/cto-platform/cto/internal/provider/latitude/fake"
)

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
