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

// TestLostCreateAnswersMakeNoDuplicates: a project, tag, VLAN or
// assignment create whose answer is lost (the create went through) is
// looked up before it is sent again: one of each, the VLAN tagged.
func TestLostCreateAnswersMakeNoDuplicates(t *testing.T) {
	f, base := serveFake(t, fake.Options{})
	f.SetFaults(func(x *fake.Faults) {
		x.LoseAnswers = map[string]int{"POST /projects": 1, "POST /tags": 1, "POST /virtual_networks": 1, "POST /virtual_networks/assignments": 1}
	})
	p := providerOn(t, f, base, Config{ReadsPerMinute: -1, WritesPerMinute: -1, Clock: clock.NewScaled(100)})
	serverOnVLAN(t, p, ipxeServer("lost", "lost-cp1", "https://pxe.test/x"))
	st := f.State()
	if st.ServerErrors != 4 {
		t.Fatalf("the double lost %d answers, want 4", st.ServerErrors)
	}
	if len(st.Projects) != 1 || len(st.Tags) != 1 || len(st.Networks) != 1 || len(st.Assignments) != 1 {
		t.Fatalf("%d projects, %d tags, %d VLANs, %d assignments; want one of each", len(st.Projects), len(st.Tags), len(st.Networks), len(st.Assignments))
	}
	if tags := st.Networks[0].Tags; len(tags) != 1 || tags[0] != "lost" {
		t.Errorf("the VLAN carries tags %v, want the cluster's", tags)
	}
}

// A server create whose answer is lost is found and adopted, not
// ordered again.
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

// TestVLANLeftUntaggedIsAdopted: a run stopped between a VLAN's create and
// its tag left a VLAN the cluster's tag does not find. The next create
// adopts and tags it instead of making a second one, which nothing would
// ever delete.
func TestVLANLeftUntaggedIsAdopted(t *testing.T) {
	f, base := serveFake(t, fake.Options{})
	p := providerOn(t, f, base, Config{ReadsPerMinute: -1, WritesPerMinute: -1, Clock: clock.NewScaled(100)})
	ctx := context.Background()
	proj, err := p.project(ctx, "", "stop", true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.tag(ctx, "stop", true); err != nil {
		t.Fatal(err)
	}
	left, err := p.api.CreateVirtualNetwork(ctx, proj, "DAL", "cto cluster stop")
	if err != nil {
		t.Fatal(err)
	}
	if nets, err := p.ListNetworks(ctx, "stop"); err != nil || len(nets) != 0 {
		t.Fatalf("the cluster's tag finds %v (%v); want the untagged VLAN not found by it", nets, err)
	}
	n, err := p.CreateNetwork(ctx, provider.NetworkSpec{Cluster: "stop", Region: "DAL"})
	if err != nil {
		t.Fatal(err)
	}
	st := f.State()
	if n.ID != left.ID || len(st.Networks) != 1 {
		t.Fatalf("created %s; the double holds %d VLANs; want the one left (%s) adopted", n.ID, len(st.Networks), left.ID)
	}
	if tags := st.Networks[0].Tags; len(tags) != 1 || tags[0] != "stop" {
		t.Errorf("the adopted VLAN carries tags %v, want the cluster's", tags)
	}
}

// TestDiskErasingIsReinstalling: a server whose reinstall erases its disks
// is still the hostname's server. It is neither ordered a second time nor
// reported as leaving.
func TestDiskErasingIsReinstalling(t *testing.T) {
	f, base := serveFake(t, fake.Options{})
	ctx := context.Background()
	newP := func() *Provider { return providerOn(t, f, base, Config{ReadsPerMinute: -1, WritesPerMinute: -1}) }
	spec := ipxeServer("erase", "erase-cp1", "https://pxe.test/boot.ipxe")
	p := newP()
	s := deployedThenReinstalled(t, f, p, spec)
	f.Advance(fake.StaleReadAfterReinstall)
	got, err := p.GetServer(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.RawStatus != "disk_erasing" || got.Status != provider.StatusPending {
		t.Fatalf("reinstalling server reads %s (%s), want disk_erasing as pending", got.RawStatus, got.Status)
	}
	// A later deploy (a new process) finds the hostname taken by it.
	again, err := provider.Create(ctx, newP(), spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != s.ID || len(f.State().Servers) != 1 {
		t.Errorf("create during disk_erasing gave %s, fake holds %d servers; want the reinstalling %s adopted", again.ID, len(f.State().Servers), s.ID)
	}
}

// deployedThenReinstalled orders spec's server through p, lets it deploy
// and sends it to reinstall with spec's iPXE URL.
func deployedThenReinstalled(t *testing.T, f *fake.Fake, p *Provider, spec provider.ServerSpec) provider.Server {
	t.Helper()
	s := mustCreate(t, p, spec)
	f.Advance(time.Hour)
	if err := p.Client().Reinstall(context.Background(), s.ID, "ipxe", spec.Hostname, spec.Boot.URL); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestServersBillAsTheProjectAllows: a reserved project takes no hourly
// servers; the create leaves the cycle to the project, as the recorded
// create in a reserved project did, and an on-demand project bills hourly.
func TestServersBillAsTheProjectAllows(t *testing.T) {
	f, base := serveFake(t, fake.Options{})
	for _, c := range []struct{ typ, want string }{{"reserved", "yearly"}, {"on_demand", "hourly"}} {
		status, out := callFake(t, f, base, http.MethodPost, "/projects",
			`{"data":{"type":"projects","attributes":{"name":"bill-`+c.typ+`","provisioning_type":"`+c.typ+`","environment":"Production"}}}`)
		if status != http.StatusCreated {
			t.Fatalf("create %s project: %v %v", c.typ, status, out)
		}
		p := providerOn(t, f, base, Config{Project: "bill-" + c.typ, ReadsPerMinute: -1, WritesPerMinute: -1})
		s, err := provider.Create(context.Background(), p, ipxeServer("bill", "bill-"+c.typ, "https://pxe.test/x"), nil)
		if err != nil {
			t.Fatalf("%s project: %v", c.typ, err)
		}
		got, err := p.Client().GetServer(context.Background(), s.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Attributes.Plan.Billing != c.want {
			t.Errorf("%s project: server billed %q, want %q", c.typ, got.Attributes.Plan.Billing, c.want)
		}
	}
}
