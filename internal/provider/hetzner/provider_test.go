package hetzner_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hetznercloud/hcloud-go/v2/hcloud"
	"golang.org/x/crypto/ssh"

	"github.com/cto-platform/cto/internal/provider"
	"github.com/cto-platform/cto/internal/provider/hetzner"
	"github.com/cto-platform/cto/internal/provider/hetzner/fake"
	"github.com/cto-platform/cto/internal/provider/hetzner/rescue"
	rescuefake "github.com/cto-platform/cto/internal/provider/hetzner/rescue/fake"
)

// talosBoot is the boot a deploy asks for: an iPXE URL, which Hetzner
// Cloud cannot chain-load, and the Talos build it names.
var talosBoot = provider.Boot{Method: provider.BootIPXE,
	URL:   "https://pxe.factory.test/pxe/376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba/v1.13.9/metal-amd64",
	Talos: provider.TalosImage{Factory: "https://factory.test", Schematic: "376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba", Version: "v1.13.9"}}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

func TestChooseMedia(t *testing.T) {
	x86, arm := hcloud.ArchitectureX86, hcloud.ArchitectureARM
	isos := []*hcloud.ISO{
		{Name: "talos-v1.13.9-amd64.iso", Architecture: &x86},
		{Name: "talos-v1.14.0-arm64.iso", Architecture: &arm},
		{Name: "talos-v1.14.1-rc.0-amd64.iso", Architecture: &x86},
	}
	const schem = "376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba"
	snap := func(id int64, version, schematic string, status hcloud.ImageStatus) *hcloud.Image {
		return &hcloud.Image{ID: id, Status: status, Labels: map[string]string{
			hetzner.LabelImage: "talos", hetzner.LabelTalosVersion: version, hetzner.LabelTalosSchematic: schematic[:32]}}
	}
	snaps := []*hcloud.Image{
		snap(7, "v1.14.0", schem, hcloud.ImageStatusAvailable),
		snap(8, "v1.14.1", schem, hcloud.ImageStatusCreating),
		snap(9, "v1.14.1", "ffff67988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba", hcloud.ImageStatusAvailable),
	}
	for _, tc := range []struct {
		name, version string
		want          hetzner.Media
	}{
		{"public ISO of the version", "v1.13.9", hetzner.Media{ISO: "talos-v1.13.9-amd64.iso"}},
		{"arm ISO does not count; snapshot does", "v1.14.0", hetzner.Media{SnapshotID: 7}},
		{"a release candidate is not the release", "v1.14.1", hetzner.Media{Build: true}},
		{"rc version matches its own ISO", "v1.14.1-rc.0", hetzner.Media{ISO: "talos-v1.14.1-rc.0-amd64.iso"}},
		{"nothing for the version", "v1.15.0", hetzner.Media{Build: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := hetzner.ChooseMedia(isos, snaps, tc.version, schem); got != tc.want {
				t.Errorf("ChooseMedia(%s) = %+v, want %+v", tc.version, got, tc.want)
			}
		})
	}
}

func TestCreateServerLabelsPlacementAndISOBoot(t *testing.T) {
	p, f, _ := newTestProvider(t, fake.Options{})
	c := ctx(t)
	var created []provider.Server
	for i, role := range []provider.Role{provider.RoleControlPlane, provider.RoleControlPlane, provider.RoleWorker} {
		s, err := provider.Create(c, p, provider.ServerSpec{
			Cluster: "prod", Hostname: "prod-n" + strconv.Itoa(i), Role: role, Plan: "cx23", Region: "FSN1",
			Boot: talosBoot,
		}, func(s provider.Server) error { created = append(created, s); return nil })
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		if s.Status != provider.StatusReady {
			t.Errorf("server %s after the ISO boot: %s", s.Hostname, s.Status)
		}
	}
	if len(created) != 3 || created[0].Status != provider.StatusPending {
		t.Errorf("created before the boot: %+v, want 3, each pending", created)
	}
	st := f.Snapshot()
	if len(st.PlacementGroups) != 1 {
		t.Fatalf("placement groups = %+v, want one", st.PlacementGroups)
	}
	pg := st.PlacementGroups[0]
	if pg.Name != "prod-controlplanes" || pg.Type != "spread" || pg.Labels[hetzner.LabelCluster] != "prod" || len(pg.Servers) != 2 {
		t.Errorf("placement group = %+v, want spread prod-controlplanes with the 2 control planes", pg)
	}
	for _, s := range st.Servers {
		role := "worker"
		if s.Name != "prod-n2" {
			role = "controlplane"
		}
		if s.Labels[hetzner.LabelCluster] != "prod" || s.Labels[hetzner.LabelRole] != role {
			t.Errorf("server %s labels = %v", s.Name, s.Labels)
		}
		if (s.PlacementGroup != nil) != (role == "controlplane") {
			t.Errorf("server %s (%s) placement group = %v", s.Name, role, s.PlacementGroup)
		}
		if s.Booted != "iso:talos-v1.13.9-amd64.iso" || s.Location.Name != "fsn1" {
			t.Errorf("server %s booted %q in %s, want the Talos ISO in fsn1", s.Name, s.Booted, s.Location.Name)
		}
	}
	if err := p.DetachISO(c, created[0].ID); err != nil {
		t.Fatalf("DetachISO: %v", err)
	}
	for _, s := range f.Snapshot().Servers {
		if s.Name == "prod-n0" && s.ISO != nil {
			t.Errorf("ISO still attached after DetachISO")
		}
	}
}

func TestCreateServerFromFactoryURLWithoutISOBuildsSnapshot(t *testing.T) {
	p, f, hosts := newSnapshotEnv(t)
	f.RemoveISO("talos-v1.13.9-amd64.iso")
	c := ctx(t)
	for i := range 2 {
		s, err := provider.Create(c, p, provider.ServerSpec{Cluster: "c", Hostname: "c-n" + strconv.Itoa(i), Role: provider.RoleWorker, Plan: "ccx23", Region: "FSN1",
			Boot: talosBoot}, nil)
		if err != nil {
			t.Fatalf("CreateServer without an ISO: %v", err)
		}
		if s.Plan != "ccx23" {
			t.Errorf("server plan %s", s.Plan)
		}
	}
	f.Settle()
	st := f.Snapshot()
	if len(st.Images) != 1 || len(hosts.machines) != 1 {
		t.Fatalf("snapshots %d, rescue boots %d; want one of each for two servers", len(st.Images), len(hosts.machines))
	}
	var builders int
	for _, a := range st.Actions {
		if a.Command == "create_server" {
			builders++
		}
	}
	if builders != 3 {
		t.Errorf("create_server actions = %d, want 2 nodes + 1 builder", builders)
	}
	for _, s := range st.Servers {
		if s.Booted != "image:"+strconv.FormatInt(st.Images[0].ID, 10) {
			t.Errorf("server %s booted %q, want the snapshot", s.Name, s.Booted)
		}
	}
	// The builder ran on the cheapest x86 type in stock, so the snapshot
	// fits every type.
	for _, a := range st.Actions {
		if a.Command == "create_image" && st.Images[0].DiskSize != 40 {
			t.Errorf("snapshot disk %v GB, want the cx23 builder's 40", st.Images[0].DiskSize)
		}
	}
}

func TestAPIEndpointLoadBalancer(t *testing.T) {
	p, f, _ := newTestProvider(t, fake.Options{})
	c := ctx(t)
	ep, err := p.EnsureAPIEndpoint(c, "small", "fsn1", 1)
	if err != nil || ep != (hetzner.APIEndpoint{}) {
		t.Fatalf("EnsureAPIEndpoint(1 control plane) = %+v, %v; want none", ep, err)
	}
	if n := len(f.Snapshot().LoadBalancers); n != 0 {
		t.Fatalf("%d load balancers for one control plane", n)
	}
	ep, err = p.EnsureAPIEndpoint(c, "ha", "FSN1", 3)
	if err != nil || ep.IPv4 == "" || ep.LoadBalancerID == "" {
		t.Fatalf("EnsureAPIEndpoint(3) = %+v, %v", ep, err)
	}
	again, err := p.EnsureAPIEndpoint(c, "ha", "FSN1", 3)
	if err != nil || again != ep {
		t.Fatalf("second EnsureAPIEndpoint = %+v, %v; want the same %+v", again, err, ep)
	}
	lbs := f.Snapshot().LoadBalancers
	if len(lbs) != 1 {
		t.Fatalf("load balancers = %d, want 1", len(lbs))
	}
	lb := lbs[0]
	if lb.LoadBalancerType.Name != "lb11" || lb.Location.Name != "fsn1" || lb.Labels[hetzner.LabelCluster] != "ha" {
		t.Errorf("load balancer = %+v", lb)
	}
	if len(lb.Services) != 1 || lb.Services[0].Protocol != "tcp" || lb.Services[0].ListenPort != 6443 || lb.Services[0].DestinationPort != 6443 {
		t.Errorf("services = %+v, want tcp 6443 -> 6443", lb.Services)
	}
	if len(lb.Targets) != 1 || lb.Targets[0].LabelSelector == nil || lb.Targets[0].LabelSelector.Selector != "cto.cluster==ha,cto.role==controlplane" {
		t.Errorf("targets = %+v, want the cluster's control planes by label", lb.Targets)
	}

	// Destroying the cluster's last server takes the load balancer along.
	s, err := provider.Create(c, p, provider.ServerSpec{Cluster: "ha", Hostname: "ha-n1", Role: provider.RoleControlPlane, Plan: "cx23", Region: "fsn1",
		Boot: provider.Boot{Method: provider.BootISO, URL: "talos-v1.13.9-amd64.iso"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.DeleteServer(c, s.ID); err != nil {
		t.Fatal(err)
	}
	if n := len(f.Snapshot().LoadBalancers); n != 0 {
		t.Errorf("%d load balancers left after the cluster's last server went", n)
	}
}

// rescueHosts plays the rescue systems of the fake's servers over SSH.
type rescueHosts struct {
	t        *testing.T
	mu       sync.Mutex
	addrs    map[string]string
	machines map[int64]*rescuefake.Machine
	servers  map[int64]*rescuefake.Server
}

func (h *rescueHosts) RescueBooted(id int64, ip, password string) {
	m := rescuefake.NewMachine([]rescue.Disk{{Name: "sda", SizeBytes: 40 << 30, Type: "disk", Model: "QEMU HARDDISK", Rotational: true}})
	s, err := rescuefake.Start(m, func(user, pw string, _ ssh.PublicKey) bool { return user == "root" && pw == password })
	if err != nil {
		h.t.Errorf("start rescue SSH: %v", err)
		return
	}
	h.mu.Lock()
	h.addrs[ip], h.machines[id], h.servers[id] = s.Addr(), m, s
	h.mu.Unlock()
}

func (h *rescueHosts) RescueLeft(id int64) {
	h.mu.Lock()
	s := h.servers[id]
	h.mu.Unlock()
	if s != nil {
		s.Close()
	}
}

// newSnapshotEnv is a provider and fake whose rescue systems answer SSH.
func newSnapshotEnv(t *testing.T) (*hetzner.Provider, *fake.Fake, *rescueHosts) {
	f := fake.New(fake.Options{})
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	hosts := &rescueHosts{t: t, addrs: map[string]string{}, machines: map[int64]*rescuefake.Machine{}, servers: map[int64]*rescuefake.Server{}}
	f.SetRescueHost(hosts)
	p := hetzner.New(hetzner.Config{Token: fake.Token, Endpoint: srv.URL, Clock: f.Clock(),
		PollBackoff: hcloud.ConstantBackoff(time.Millisecond), RetryBackoff: hcloud.ConstantBackoff(time.Millisecond),
		DialRescue: func(ip string) string {
			hosts.mu.Lock()
			defer hosts.mu.Unlock()
			if addr, ok := hosts.addrs[ip]; ok {
				return addr
			}
			return "127.0.0.1:1"
		}})
	return p, f, hosts
}

func TestTalosMediaBuildsSnapshotOnceAndReusesIt(t *testing.T) {
	p, f, hosts := newSnapshotEnv(t)
	c := ctx(t)
	img := rescue.Image{Factory: "https://factory.test", Schematic: "376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba", Version: "v1.14.0"}
	req := hetzner.MediaRequest{Image: img, Cluster: "snap", Region: "fsn1", BuilderPlan: "cx23"}
	boot, err := p.TalosMedia(c, req)
	if err != nil {
		t.Fatalf("TalosMedia: %v", err)
	}
	if boot.Method != provider.BootImage || boot.URL == "" {
		t.Fatalf("TalosMedia without an ISO = %+v, want a snapshot", boot)
	}
	st := f.Snapshot()
	if len(st.Images) != 1 {
		t.Fatalf("images = %+v, want one snapshot", st.Images)
	}
	snap := st.Images[0]
	if strconv.FormatInt(snap.ID, 10) != boot.URL || snap.Type != "snapshot" || snap.Status != "available" ||
		snap.Labels[hetzner.LabelTalosVersion] != "v1.14.0" || snap.Labels[hetzner.LabelTalosSchematic] != img.Schematic[:32] || snap.Labels[hetzner.LabelImage] != "talos" {
		t.Errorf("snapshot = %+v", snap)
	}
	f.Settle()
	if n := len(f.Snapshot().Servers); n != 0 {
		t.Errorf("the builder server is still there: %+v", f.Snapshot().Servers)
	}
	if len(hosts.machines) != 1 {
		t.Fatalf("rescue systems booted = %d, want 1", len(hosts.machines))
	}
	for _, m := range hosts.machines {
		want := map[string]string{"sda": img.URL("hcloud-amd64.raw.xz")}
		if got := m.Written(); len(got) != 1 || got["sda"] != want["sda"] {
			t.Errorf("rescue wrote %v, want %v", got, want)
		}
	}

	again, err := p.TalosMedia(c, req)
	if err != nil || again != boot {
		t.Fatalf("second TalosMedia = %+v, %v; want the same snapshot %+v", again, err, boot)
	}
	if len(hosts.machines) != 1 || len(f.Snapshot().Images) != 1 {
		t.Errorf("the second call built again")
	}

	s, err := provider.Create(c, p, provider.ServerSpec{Cluster: "snap", Hostname: "snap-n1", Role: provider.RoleWorker, Plan: "cx33", Region: "fsn1", Boot: boot}, nil)
	if err != nil {
		t.Fatalf("CreateServer from the snapshot: %v", err)
	}
	f.Settle()
	for _, sv := range f.Snapshot().Servers {
		if strconv.FormatInt(sv.ID, 10) == s.ID && sv.Booted != "image:"+boot.URL {
			t.Errorf("server booted %q, want the snapshot", sv.Booted)
		}
	}

	n, err := p.DeleteTalosSnapshots(c)
	if err != nil || n != 1 || len(f.Snapshot().Images) != 0 {
		t.Errorf("DeleteTalosSnapshots = %d, %v; images left %d", n, err, len(f.Snapshot().Images))
	}
}

func TestRetriesAndRateLimits(t *testing.T) {
	p, f, _ := newTestProvider(t, fake.Options{})
	c := ctx(t)
	f.InjectServerErrors(3, 502)
	if _, err := p.ListRegions(c); err != nil {
		t.Fatalf("ListRegions through three 502s: %v", err)
	}
	f.InjectRateLimit(10, 30)
	_, err := p.ListRegions(c)
	var rl *provider.RateLimitError
	if !errors.Is(err, provider.ErrRateLimited) || !errors.As(err, &rl) || rl.RetryAfter != 30*time.Second {
		t.Fatalf("ListRegions under a lasting 429 = %v, want a RateLimitError with Retry-After 30s", err)
	}
	f.InjectServerErrors(1, 503)
	if _, err := p.ListRegions(c); err == nil {
		t.Errorf("a 503 passed as success")
	}
}

func TestRequestBudgetIsRespected(t *testing.T) {
	// A budget of 120 with no simulated time passing per request: the
	// provider must slow to the refill rate before the fake says 429.
	p, f, _ := newTestProvider(t, fake.Options{Budget: 120, Tick: -1})
	c := ctx(t)
	start := f.Clock().Now()
	for i := range 200 {
		if _, err := p.ListRegions(c); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	waited := f.Clock().Now().Sub(start)
	if waited < 150*time.Second {
		t.Errorf("200 requests against a budget of 120 took %s of simulated time; want the ones below the reserve paced at 1/s", waited)
	}
	if st := f.Snapshot(); st.BudgetRemaining < 1 {
		t.Errorf("budget drained to %d", st.BudgetRemaining)
	}
}

func TestPlansInEUR(t *testing.T) {
	p, _, _ := newTestProvider(t, fake.Options{})
	plans, err := p.ListPlans(ctx(t), provider.PlanFilter{Region: "ASH", InStock: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(plans) != 1 || plans[0].Slug != "ccx23" {
		t.Fatalf("plans in stock at ash = %+v, want ccx23 only", plans)
	}
	at, _ := plans[0].At("ash")
	if plans[0].Currency != "EUR" || at.Monthly != 29.99 || at.Hourly != 0.048 {
		t.Errorf("ccx23 at ash = %+v in %s, want the fake's net EUR prices", at, plans[0].Currency)
	}
	if p.Capabilities().Currency != "EUR" {
		t.Errorf("capabilities currency = %q", p.Capabilities().Currency)
	}
}

func TestSlowResponsesTimeOut(t *testing.T) {
	f := fake.New(fake.Options{})
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	p := hetzner.New(hetzner.Config{Token: fake.Token, Endpoint: srv.URL, Clock: f.Clock(),
		HTTPClient:  &http.Client{Timeout: 20 * time.Millisecond},
		PollBackoff: hcloud.ConstantBackoff(time.Millisecond), RetryBackoff: hcloud.ConstantBackoff(time.Millisecond)})
	f.SetSlow(200 * time.Millisecond)
	if _, err := p.ListRegions(ctx(t)); err == nil {
		t.Fatal("a fake slower than the client's timeout answered in time")
	}
	f.SetSlow(0)
	if _, err := p.ListRegions(ctx(t)); err != nil {
		t.Fatalf("after the slowness: %v", err)
	}
}

func TestResumedCreateFinishesTheISOBoot(t *testing.T) {
	p, f, srv := newTestProvider(t, fake.Options{})
	c := ctx(t)
	// A create cut short after the API made the server, before its ISO
	// boot: the server exists, stopped, with the cluster's labels.
	start := false
	labels := map[string]string{hetzner.LabelCluster: "r", hetzner.LabelRole: "worker"}
	raw := hcloud.NewClient(hcloud.WithToken(fake.Token), hcloud.WithEndpoint(srv.URL))
	if _, _, err := raw.Server.Create(c, hcloud.ServerCreateOpts{Name: "r-n1", ServerType: &hcloud.ServerType{Name: "cx23"},
		Image: &hcloud.Image{Name: "debian-12"}, Location: &hcloud.Location{Name: "fsn1"}, StartAfterCreate: &start, Labels: labels}); err != nil {
		t.Fatal(err)
	}
	f.Settle()
	s, err := provider.Create(c, p, provider.ServerSpec{Cluster: "r", Hostname: "r-n1", Role: provider.RoleWorker, Plan: "cx23", Region: "fsn1",
		Boot: provider.Boot{Method: provider.BootISO, URL: "talos-v1.13.9-amd64.iso"}}, nil)
	if err != nil || s.Status != provider.StatusReady {
		t.Fatalf("resumed CreateServer = %+v, %v; want the same server booted", s, err)
	}
	st := f.Snapshot()
	if len(st.Servers) != 1 || st.Servers[0].Booted != "iso:talos-v1.13.9-amd64.iso" {
		t.Errorf("servers = %+v, want the one server running the Talos ISO", st.Servers)
	}
}

func TestTheClusterThatBuiltASnapshotDeletesIt(t *testing.T) {
	p, f, _ := newSnapshotEnv(t)
	c := ctx(t)
	img := rescue.Image{Factory: "https://factory.test", Schematic: "376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba", Version: "v1.14.0"}
	boot, err := p.TalosMedia(c, hetzner.MediaRequest{Image: img, Cluster: "snap", Region: "fsn1", BuilderPlan: "cx23"})
	if err != nil {
		t.Fatal(err)
	}
	// Another cluster's snapshot stays.
	f.Settle()
	other, err := p.TalosMedia(c, hetzner.MediaRequest{Image: rescue.Image{Factory: img.Factory, Schematic: img.Schematic, Version: "v1.14.1"}, Cluster: "other", Region: "fsn1", BuilderPlan: "cx23"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := provider.Create(c, p, provider.ServerSpec{Cluster: "snap", Hostname: "snap-n1", Role: provider.RoleWorker, Plan: "cx23", Region: "fsn1", Boot: boot}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.Settle()
	if err := p.DeleteServer(c, s.ID); err != nil {
		t.Fatal(err)
	}
	imgs := f.Snapshot().Images
	if len(imgs) != 1 || strconv.FormatInt(imgs[0].ID, 10) != other.URL {
		t.Errorf("snapshots after snap's last server went: %+v; want only other's %s", imgs, other.URL)
	}
}

func TestChargesPriceTheAPILoadBalancerAndIPv4PerLocation(t *testing.T) {
	p, _, _ := newTestProvider(t, fake.Options{})
	charges, err := p.Charges(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	lbs, ips := map[string]provider.Charge{}, map[string]provider.Charge{}
	for _, c := range charges {
		switch c.Kind {
		case "load balancer lb11":
			lbs[c.Site] = c
		case "primary IPv4":
			ips[c.Site] = c
		default:
			t.Errorf("unexpected charge %+v", c)
		}
	}
	// The fake's prices: lb11 5.39 EUR a month in Europe, 6.49 at ash; an
	// IPv4 address 0.50, 0.60 at ash.
	if len(lbs) != 4 || lbs["fsn1"].Monthly != 5.39 || lbs["fsn1"].Hourly != 0.0088 || lbs["ash"].Monthly != 6.49 {
		t.Errorf("lb11 charges = %+v, want its net EUR price at each of the fake's 4 locations", lbs)
	}
	if fsn := lbs["fsn1"]; fsn.MinControlPlanes != 3 || fsn.PerServer || hetzner.NeedsLoadBalancer(fsn.MinControlPlanes-1) || !hetzner.NeedsLoadBalancer(fsn.MinControlPlanes) {
		t.Errorf("lb11 charge %+v must apply exactly when the deploy creates the load balancer", fsn)
	}
	if len(ips) != 4 || ips["nbg1"].Monthly != 0.5 || ips["ash"].Monthly != 0.6 || !ips["nbg1"].PerServer || ips["nbg1"].MinControlPlanes != 0 {
		t.Errorf("IPv4 charges = %+v, want one per server at every location", ips)
	}
}

// TestCreateServerNeedsTheTalosBuild: the Talos build comes with the boot,
// not out of its URL; an iPXE boot without one is refused before anything
// is created.
func TestCreateServerNeedsTheTalosBuild(t *testing.T) {
	p, f, _ := newTestProvider(t, fake.Options{})
	bare := talosBoot
	bare.Talos = provider.TalosImage{}
	_, err := provider.Create(ctx(t), p, provider.ServerSpec{Cluster: "c", Hostname: "c-n0", Role: provider.RoleWorker, Plan: "cx23", Region: "FSN1", Boot: bare}, nil)
	if !errors.Is(err, provider.ErrInvalid) || !strings.Contains(err.Error(), "names no Talos build") {
		t.Errorf("an iPXE boot without its Talos build: %v, want it refused as invalid", err)
	}
	if n := len(f.Snapshot().Servers); n != 0 {
		t.Errorf("%d server(s) created for a refused boot", n)
	}
}
