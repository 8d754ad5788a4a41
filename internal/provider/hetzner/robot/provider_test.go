package robot_test

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cto-platform/cto/internal/provider"
	"github.com/cto-platform/cto/internal/provider/hetzner/robot"
	"github.com/cto-platform/cto/internal/provider/hetzner/robot/fake"
)

const pxeURL = "https://pxe.factory.test/pxe/376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba/v1.13.9/metal-amd64"
const rawURL = "https://factory.test/image/376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba/v1.13.9/metal-amd64.raw.xz"

func serverState(t *testing.T, f *fake.Fake, n int) fake.Server {
	t.Helper()
	for _, s := range f.Snapshot().Servers {
		if s.Number == n {
			return s
		}
	}
	t.Fatalf("server %d is gone from the account", n)
	return fake.Server{}
}

func TestAdoptInstallAndReleaseNeverCancels(t *testing.T) {
	e := newEnv(t, 2)
	p := robot.New(e.config())
	c := testContext(t)
	var journaled []string
	// The boot a deploy asks for: an iPXE URL dedicated servers cannot
	// chain-load, and the Talos build whose raw image (rawURL) the rescue
	// system writes.
	boot := provider.Boot{Method: provider.BootIPXE, URL: "https://pxe.factory.test/pxe/376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba/v1.13.9/metal-amd64",
		Talos: provider.TalosImage{Factory: "https://factory.test", Schematic: "376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba", Version: "v1.13.9"}}
	s, err := provider.Create(c, p, provider.ServerSpec{Cluster: "dc", Hostname: "dc-cp1", Role: provider.RoleControlPlane, Plan: "AX42", Region: "FSN1",
		Boot: boot}, func(s provider.Server) error {
		if written := serverState(t, e.f, e.numbers[0]).Written; len(written) != 0 {
			t.Errorf("the server was handed out after the image was written (%v), not before", written)
		}
		journaled = append(journaled, s.ID)
		return nil
	})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	n := e.numbers[0]
	if s.ID != strconv.Itoa(n) || s.Status != provider.StatusReady || s.Hostname != "dc-cp1" {
		t.Fatalf("adopted %+v, want server %d ready", s, n)
	}
	if len(journaled) != 1 || journaled[0] != s.ID {
		t.Errorf("handed out %v before the install, want [%s]", journaled, s.ID)
	}
	st := serverState(t, e.f, n)
	if st.Name != "cto:dc:controlplane:dc-cp1" {
		t.Errorf("server name = %q, want the cluster tag", st.Name)
	}
	// The fake's disks: two 4 TB spinning disks and two 512 GB NVMe. Talos
	// must land on nvme0n1 and nowhere else.
	if len(st.Written) != 1 || st.Written["nvme0n1"] != rawURL {
		t.Errorf("image writes = %v, want only nvme0n1 <- %s", st.Written, rawURL)
	}
	var wrote, listed, rebooted bool
	for _, cmd := range st.Commands {
		listed = listed || strings.HasPrefix(cmd, "lsblk")
		wrote = wrote || strings.Contains(cmd, "dd of=/dev/nvme0n1 ")
		rebooted = rebooted || cmd == "reboot"
	}
	if !listed || !wrote || !rebooted {
		t.Errorf("rescue commands = %q, want lsblk, the dd onto nvme0n1 and reboot", st.Commands)
	}
	e.f.Settle()
	if st := serverState(t, e.f, n); st.Booted != "talos" {
		t.Errorf("after the install the server runs %q, want talos", st.Booted)
	}
	// A rerun creating the same node must not write the disk again: the
	// node may already hold its config.
	again, err := provider.Create(c, p, provider.ServerSpec{Cluster: "dc", Hostname: "dc-cp1", Role: provider.RoleControlPlane, Plan: "AX42", Region: "FSN1",
		Boot: boot}, nil)
	if err != nil || again.ID != s.ID {
		t.Fatalf("rerun CreateServer = %+v, %v", again, err)
	}
	if cmds := serverState(t, e.f, n).Commands; len(cmds) != len(st.Commands) {
		t.Errorf("the rerun ran %q on the installed server", cmds[len(st.Commands):])
	}

	net, err := p.CreateNetwork(c, provider.NetworkSpec{Cluster: "dc", Region: "FSN1", CIDR: "10.8.0.0/24"})
	if err != nil || net.VLAN < 4000 || net.VLAN > 4091 {
		t.Fatalf("CreateNetwork = %+v, %v; want a vSwitch on VLAN 4000-4091", net, err)
	}
	if _, err := p.AssignServer(c, net.ID, s.ID); err != nil {
		t.Fatal(err)
	}
	e.f.Settle()

	resetsBefore := serverState(t, e.f, n).Resets
	if err := p.DeleteServer(c, s.ID); err != nil {
		t.Fatalf("DeleteServer: %v", err)
	}
	e.f.Settle()
	st = serverState(t, e.f, n)
	if st.Cancellations != 0 || st.Cancelled {
		t.Errorf("release cancelled the server: %+v", st)
	}
	if st.Resets != resetsBefore+1 || st.Booted != "rescue" || st.Name != robot.ReleasedName {
		t.Errorf("released server = resets %d (before %d), booted %q, name %q; want one reset into rescue and the tag cleared", st.Resets, resetsBefore, st.Booted, st.Name)
	}
	for _, v := range e.f.Snapshot().VSwitches {
		if _, ok := v.Members[n]; ok {
			t.Errorf("server %d is still on vSwitch %d", n, v.ID)
		}
	}
	if _, err := p.GetServer(c, s.ID); !errors.Is(err, provider.ErrNotFound) {
		t.Errorf("GetServer of a released server = %v, want ErrNotFound", err)
	}
	var rel provider.Releaser = p
	if !strings.Contains(rel.ReleaseNote(), "still rented") {
		t.Errorf("ReleaseNote %q does not say the servers are still rented", rel.ReleaseNote())
	}
}

func TestExplicitInstallDisk(t *testing.T) {
	e := newEnv(t, 1)
	cfg := e.config()
	cfg.InstallDisk = "nvme1n1"
	// A rescue boot someone left pending (with a password, no key) is
	// replaced by one admitting cto's key.
	api := robot.NewClient(e.url, fake.User, fake.Password, nil, e.f.Clock())
	if _, err := api.ActivateRescue(testContext(t), e.numbers[0], ""); err != nil {
		t.Fatal(err)
	}
	disk, err := robot.New(cfg).InstallTalos(testContext(t), e.numbers[0], rawURL)
	if err != nil || disk != "nvme1n1" {
		t.Fatalf("InstallTalos = %q, %v", disk, err)
	}
	if w := serverState(t, e.f, e.numbers[0]).Written; len(w) != 1 || w["nvme1n1"] != rawURL {
		t.Errorf("writes = %v, want only nvme1n1", w)
	}
}

func TestAdoptionPicksOnlyFittingServers(t *testing.T) {
	e := newEnv(t, 0)
	cancelled := e.f.AddServer("AX42", "FSN1-DC14")
	e.f.CancelServer(cancelled)
	other := e.f.AddServer("EX130-R", "FSN1-DC14")
	helsinki := e.f.AddServer("AX42", "HEL1-DC2")
	taken := e.f.AddServer("AX42", "FSN1-DC14")
	good := e.f.AddServer("AX42", "FSN1-DC14")
	e.numbers = []int{cancelled, other, helsinki, taken, good}
	p := robot.New(e.config())
	c := testContext(t)
	if _, err := provider.Create(c, p, provider.ServerSpec{Cluster: "other", Hostname: "other-n1", Role: provider.RoleWorker, Plan: "EX130-R", Region: "FSN1"}, nil); err != nil {
		t.Fatal(err)
	}
	// "other" took the EX130-R; now the AX42 in another cluster's hands:
	cfg := e.config()
	cfg.Servers = []string{strconv.Itoa(taken)}
	if _, err := provider.Create(c, robot.New(cfg), provider.ServerSpec{Cluster: "third", Hostname: "third-n1", Role: provider.RoleWorker, Plan: "AX42", Region: "FSN1"}, nil); err != nil {
		t.Fatal(err)
	}
	if n, err := p.Adoptable(c, "dc", "AX42", "FSN1"); err != nil || n != 1 {
		t.Errorf("Adoptable = %d, %v; want 1", n, err)
	}
	s, err := provider.Create(c, p, provider.ServerSpec{Cluster: "dc", Hostname: "dc-n1", Role: provider.RoleWorker, Plan: "AX42", Region: "fsn1"}, nil)
	if err != nil || s.ID != strconv.Itoa(good) {
		t.Fatalf("CreateServer adopted %+v, %v; want server %d", s, err, good)
	}
	again, err := provider.Create(c, p, provider.ServerSpec{Cluster: "dc", Hostname: "dc-n1", Role: provider.RoleWorker, Plan: "AX42", Region: "FSN1"}, nil)
	if err != nil || again.ID != s.ID {
		t.Errorf("a resumed create = %+v, %v; want the same server %s", again, err, s.ID)
	}
	_, err = provider.Create(c, p, provider.ServerSpec{Cluster: "dc", Hostname: "dc-n2", Role: provider.RoleWorker, Plan: "AX42", Region: "FSN1"}, nil)
	if !errors.Is(err, provider.ErrOutOfStock) || !strings.Contains(err.Error(), "--order") {
		t.Errorf("CreateServer with nothing left = %v, want ErrOutOfStock naming --order", err)
	}
	if tx := e.f.Snapshot().Transactions; len(tx) != 0 {
		t.Errorf("an order was placed without --order: %+v", tx)
	}
}

func TestStopsAtTheFirst401(t *testing.T) {
	e := newEnv(t, 1)
	cfg := e.config()
	cfg.Password = "wrong"
	p := robot.New(cfg)
	c := testContext(t)
	if err := p.Authenticate(c); !errors.Is(err, provider.ErrUnauthorized) {
		t.Fatalf("Authenticate = %v, want ErrUnauthorized", err)
	}
	if _, err := p.ListPlans(c, provider.PlanFilter{}); !errors.Is(err, provider.ErrUnauthorized) {
		t.Errorf("ListPlans after a 401 = %v, want ErrUnauthorized without asking", err)
	}
	if _, err := p.ListServers(c, "x"); !errors.Is(err, robot.ErrLoginStopped) {
		t.Errorf("ListServers after a 401 = %v, want ErrLoginStopped", err)
	}
	if _, err := provider.Create(c, p, provider.ServerSpec{Cluster: "x", Hostname: "x-1", Plan: "AX42", Region: "FSN1"}, nil); err == nil {
		t.Errorf("CreateServer after a 401 succeeded")
	}
	st := e.f.Snapshot()
	if st.Unauthorized != 1 || st.Blocked {
		t.Errorf("the fake saw %d failed logins (blocked %v); want exactly 1", st.Unauthorized, st.Blocked)
	}
}

func TestOrderOnlyWithConfirmedCost(t *testing.T) {
	e := newEnv(t, 0)
	c := testContext(t)
	spec := provider.ServerSpec{Cluster: "buy", Hostname: "buy-n1", Role: provider.RoleWorker, Plan: "EX130-R", Region: "FSN1",
		Boot: provider.Boot{Method: provider.BootRescue, URL: rawURL}}

	cfg := e.config()
	cfg.Order = true
	cfg.ConfirmOrder = func(string) error { return errors.New("declined") }
	if _, err := provider.Create(c, robot.New(cfg), spec, nil); err == nil {
		t.Fatal("a declined order went through")
	}
	if tx := e.f.Snapshot().Transactions; len(tx) != 0 {
		t.Fatalf("a declined order was placed: %+v", tx)
	}

	var asked string
	cfg.ConfirmOrder = func(q string) error { asked = q; return nil }
	p := robot.New(cfg)
	s, err := provider.Create(c, p, spec, nil)
	if err != nil {
		t.Fatalf("CreateServer (order): %v", err)
	}
	if !strings.Contains(asked, "139.0000 EUR a month") || !strings.Contains(asked, "79.0000 EUR setup") {
		t.Errorf("the confirmation %q does not state the monthly and setup price in EUR", asked)
	}
	if !strings.HasPrefix(s.ID, "order-") || s.Status != provider.StatusPending {
		t.Fatalf("ordered server = %+v, want a pending order", s)
	}
	pending, err := p.ListServers(c, "buy")
	if err != nil || len(pending) != 1 || pending[0].ID != s.ID || pending[0].Hostname != "buy-n1" {
		t.Errorf("ListServers during delivery = %+v, %v; want the pending order", pending, err)
	}
	e.f.Settle()
	delivered, err := p.ListServers(c, "buy")
	if err != nil || len(delivered) != 1 || delivered[0].Hostname != "buy-n1" || strings.HasPrefix(delivered[0].ID, "order-") {
		t.Errorf("ListServers after delivery = %+v, %v; want the delivered server", delivered, err)
	}
	got, err := p.GetServer(c, s.ID)
	if err != nil || got.Status != provider.StatusPending || got.RawStatus != "installing Talos" || got.Hostname != "buy-n1" || strings.HasPrefix(got.ID, "order-") {
		t.Fatalf("GetServer(order) after delivery = %+v, %v; want the delivered server, tagged, Talos still to install", got, err)
	}
	listed, err := p.ListServers(c, "buy")
	if err != nil || len(listed) != 1 || listed[0].ID != got.ID {
		t.Errorf("ListServers = %+v, %v", listed, err)
	}
	// Creating the same hostname again installs Talos on the delivered
	// server instead of ordering another.
	again, err := provider.Create(c, p, spec, nil)
	if err != nil || again.ID != got.ID || again.Status != provider.StatusReady {
		t.Fatalf("CreateServer for the delivered hostname = %+v, %v; want server %s installed", again, err, got.ID)
	}
	num, _ := strconv.Atoi(got.ID)
	if w := serverState(t, e.f, num).Written; w["nvme0n1"] != rawURL {
		t.Errorf("delivered server writes = %v", w)
	}
	if tx := e.f.Snapshot().Transactions; len(tx) != 1 {
		t.Errorf("transactions = %d, want the one order", len(tx))
	}

	// Released, the delivered server stays out of the cluster even though
	// its order still carries the cluster's tag.
	if err := p.DeleteServer(c, got.ID); err != nil {
		t.Fatal(err)
	}
	if listed, err := p.ListServers(c, "buy"); err != nil || len(listed) != 0 {
		t.Errorf("ListServers after the release = %+v, %v; want none", listed, err)
	}
}

func TestRobotRetriesAndRateLimits(t *testing.T) {
	e := newEnv(t, 1)
	p := robot.New(e.config())
	c := testContext(t)
	e.f.InjectServerErrors(2, 503)
	e.f.InjectRateLimit(1, 2)
	if _, err := p.ListServers(c, "x"); err != nil {
		t.Fatalf("ListServers through 503s and a 429: %v", err)
	}
	e.f.InjectRateLimit(1, 3600)
	_, err := p.ListServers(c, "x")
	var rl *provider.RateLimitError
	if !errors.As(err, &rl) || rl.RetryAfter.Hours() != 1 {
		t.Errorf("a 429 asking for an hour = %v, want a RateLimitError with Retry-After 1h", err)
	}
	// An endpoint's hourly limit (403 RATE_LIMIT_EXCEEDED) is not waited
	// out in-line: it says how long the window is.
	e.f.InjectEndpointLimit(1)
	sentBefore := e.f.Snapshot().Requests
	_, err = p.ListServers(c, "x")
	if !errors.As(err, &rl) || rl.RetryAfter.Hours() != 1 {
		t.Errorf("403 RATE_LIMIT_EXCEEDED = %v, want a RateLimitError over the 1h window", err)
	}
	if sent := e.f.Snapshot().Requests - sentBefore; sent != 1 {
		t.Errorf("a used-up endpoint was asked %d times, want once", sent)
	}

	// A write is not repeated after a 503: it may have happened.
	net, err := p.CreateNetwork(c, provider.NetworkSpec{Cluster: "x", Region: "FSN1"})
	if err != nil {
		t.Fatal(err)
	}
	e.f.InjectServerErrors(1, 503)
	before := e.f.Snapshot().Requests
	if _, err := p.AssignServer(c, net.ID, strconv.Itoa(e.numbers[0])); err == nil {
		t.Fatal("AssignServer through a 503 succeeded; the POST was repeated")
	}
	if sent := e.f.Snapshot().Requests - before; sent != 1 {
		t.Errorf("the POST was sent %d times, want once", sent)
	}
}

func TestRobotSlowResponsesTimeOut(t *testing.T) {
	e := newEnv(t, 1)
	cfg := e.config()
	cfg.HTTPClient = &http.Client{Timeout: 20 * time.Millisecond}
	p := robot.New(cfg)
	e.f.SetSlow(200 * time.Millisecond)
	if _, err := p.ListServers(testContext(t), "x"); err == nil {
		t.Fatal("a fake slower than the client's timeout answered in time")
	}
	e.f.SetSlow(0)
	if _, err := p.ListServers(testContext(t), "x"); err != nil {
		t.Fatalf("after the slowness: %v", err)
	}
}

func TestPlansCarryTheSetupFee(t *testing.T) {
	e := newEnv(t, 1)
	plans, err := robot.New(e.config()).ListPlans(testContext(t), provider.PlanFilter{})
	if err != nil {
		t.Fatal(err)
	}
	setup := map[string]float64{}
	for _, pl := range plans {
		at, _ := pl.At("FSN1")
		setup[pl.Slug] = at.Setup
	}
	// The fake's products: AX42 without a setup fee, EX130-R with 79 EUR.
	if len(setup) != 2 || setup["AX42"] != 0 || setup["EX130-R"] != 79 {
		t.Errorf("setup fees at FSN1 = %v, want AX42 0 and EX130-R 79 (the API's price_setup)", setup)
	}
}
