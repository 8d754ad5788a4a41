package talos_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siderolabs/talos/pkg/machinery/api/storage"

	"github.com/cto-platform/cto/internal/talos"
	"github.com/cto-platform/cto/internal/talos/fake"
	"github.com/cto-platform/cto/internal/talos/talostest"
)

// oneNVMe is the disks of a node with one 480 GB NVMe drive, serial NVME-1.
func oneNVMe() []*storage.Disk {
	return []*storage.Disk{{DeviceName: "/dev/nvme0n1", Type: storage.Disk_NVME, Size: 480e9, Serial: "NVME-1"}}
}

func startNode(t *testing.T, n *fake.Node) {
	t.Helper()
	if err := n.Start(fake.LoopbackBlock() + "1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Stop)
}

func clientFor(t *testing.T, s *talos.Secrets, endpoint string) *talos.Client {
	t.Helper()
	data, err := talos.Talosconfig(s, "demo", []string{endpoint})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := talos.ParseTalosconfig(data)
	if err != nil {
		t.Fatal(err)
	}
	return &talos.Client{Talosconfig: cfg, CallTimeout: 2 * time.Second}
}

func nodeConfig(t *testing.T, s *talos.Secrets, role string) []byte {
	t.Helper()
	c := talos.ClusterInput{Name: "demo", Endpoint: "203.0.113.11", PrivateCIDR: "10.8.0.0/24", Secrets: s}
	return must(talos.Generate(c, talos.NodeInput{Name: "n1", Role: role, PrivateIP: "10.8.0.11", InstallImage: installer, Disk: talos.Disk{Serial: "NVME-1"}}))
}

func TestClientConfiguresFakeNode(t *testing.T) {
	s := talostest.FixedSecrets(t)
	n := &fake.Node{Name: "n1", Disks: oneNVMe()}
	startNode(t, n)
	c := clientFor(t, s, n.Addr())
	ctx := context.Background()

	if st := c.Probe(ctx, n.Addr()); st != talos.Maintenance {
		t.Fatalf("fresh node: %s, want maintenance", st)
	}
	disks, err := c.Disks(ctx, n.Addr())
	if err != nil || len(disks) != 1 || disks[0].Serial != "NVME-1" {
		t.Fatalf("disks = %v, %v", disks, err)
	}
	if _, err := c.Version(ctx, n.Addr()); err == nil {
		t.Fatal("authenticated Version succeeded against a maintenance-mode node")
	}
	if err := c.Apply(ctx, n.Addr(), []byte("machine: {type: nonsense}\n"), time.Second); err == nil || !strings.Contains(err.Error(), "InvalidArgument") {
		t.Fatalf("bad config: got %v, want InvalidArgument", err)
	}
	if err := c.Apply(ctx, n.Addr(), nodeConfig(t, s, talos.RoleControlPlane), time.Second); err != nil {
		t.Fatal(err)
	}
	if st := c.Probe(ctx, n.Addr()); st != talos.Configured {
		t.Fatalf("after apply: %s, want configured", st)
	}
	if tag, err := c.Version(ctx, n.Addr()); err != nil || tag != "v1.13.9" {
		t.Fatalf("mTLS Version = %q, %v", tag, err)
	}
	if _, err := c.Disks(ctx, n.Addr()); err == nil {
		t.Error("a configured node answered an insecure call")
	}
	// Another cluster's client (other CA) must not pass.
	other, _, err := talos.NewSecrets("")
	if err != nil {
		t.Fatal(err)
	}
	if st := clientFor(t, other, n.Addr()).Probe(ctx, n.Addr()); st != talos.Foreign {
		t.Errorf("other cluster sees %s, want foreign config", st)
	}
}

func TestClientApplyThatHangsIsMaybeApplied(t *testing.T) {
	s := talostest.FixedSecrets(t)
	n := &fake.Node{Name: "n1", Faults: fake.Faults{ApplyHangs: true}}
	startNode(t, n)
	c := clientFor(t, s, n.Addr())
	err := c.Apply(context.Background(), n.Addr(), nodeConfig(t, s, talos.RoleControlPlane), 200*time.Millisecond)
	if !errors.Is(err, talos.ErrMaybeApplied) {
		t.Fatalf("got %v, want ErrMaybeApplied", err)
	}
	if st := c.Probe(context.Background(), n.Addr()); st != talos.Configured {
		t.Errorf("after a hung apply: %s, want configured", st)
	}
}

func TestBootstrapAndKubeconfig(t *testing.T) {
	s := talostest.FixedSecrets(t)
	n := &fake.Node{Name: "n1", Faults: fake.Faults{BootstrapFailures: 1}, KubeconfigServer: "https://127.0.0.1:7443"}
	startNode(t, n)
	c := clientFor(t, s, n.Addr())
	ctx := context.Background()
	if err := c.Apply(ctx, n.Addr(), nodeConfig(t, s, talos.RoleControlPlane), time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := c.EtcdMembers(ctx, n.Addr()); err == nil {
		t.Error("etcd reported members before bootstrap")
	}
	if err := c.Bootstrap(ctx, n.Addr()); !talos.RetryableBootstrap(err) {
		t.Fatalf("first bootstrap: %v, want a retryable FailedPrecondition", err)
	}
	if err := c.Bootstrap(ctx, n.Addr()); err != nil {
		t.Fatal(err)
	}
	if err := c.Bootstrap(ctx, n.Addr()); err != nil {
		t.Fatalf("AlreadyExists must count as success: %v", err)
	}
	if got := n.BootstrapCalls(); got != 3 {
		t.Errorf("bootstrap calls = %d", got)
	}
	if m, err := c.EtcdMembers(ctx, n.Addr()); err != nil || m != 1 {
		t.Errorf("etcd members = %d, %v", m, err)
	}
	kc, err := c.Kubeconfig(ctx, n.Addr())
	if err != nil || !strings.Contains(string(kc), "server: https://127.0.0.1:7443") {
		t.Fatalf("kubeconfig = %s, %v", kc, err)
	}
}

func TestWorkerGetsCertificateFromTrustd(t *testing.T) {
	s := talostest.FixedSecrets(t)
	n := &fake.Node{Name: "w1", TrustdCA: s.Bundle.Certs.OS}
	startNode(t, n)
	c := clientFor(t, s, n.Addr())
	if err := c.Apply(context.Background(), n.Addr(), nodeConfig(t, s, talos.RoleWorker), time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Version(context.Background(), n.Addr()); err != nil {
		t.Fatalf("worker mTLS Version: %v", err)
	}
}

func TestEndpointAddsPortOnlyWhenMissing(t *testing.T) {
	for in, want := range map[string]string{"203.0.113.1": "203.0.113.1:50000", "127.0.0.5:1234": "127.0.0.5:1234", "::1": "[::1]:50000"} {
		if got := talos.Endpoint(in); got != want {
			t.Errorf("Endpoint(%s) = %s, want %s", in, got, want)
		}
	}
}

// stepClock is a clock the test moves.
type stepClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *stepClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *stepClock) Advance(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

// trustdNode starts a fake node of a cluster whose control planes share
// trustd, on clk, and a client for it.
func trustdNode(t *testing.T, s *talos.Secrets, trustd *fake.Trustd, clk *stepClock, name string) (*fake.Node, *talos.Client) {
	t.Helper()
	n := &fake.Node{Name: name, Trustd: trustd, Clock: clk}
	startNode(t, n)
	return n, clientFor(t, s, n.Addr())
}

// probeSettled probes a node until it reads want, for a second of wall
// time: the fake node looks at its clock every few milliseconds.
func probeSettled(c *talos.Client, addr string, want talos.NodeState) talos.NodeState {
	var st talos.NodeState
	for end := time.Now().Add(time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if st = c.Probe(context.Background(), addr); st == want {
			break
		}
	}
	return st
}

// A worker's apid does not listen until a control plane's trustd issued
// its certificate, and the worker asks on Talos's retry schedule (0, 0,
// 1, 4, 11, 26, 57 s after it booted): a control plane up at 2 s serves it
// at 4 s.
func TestWorkerWaitsForTrustd(t *testing.T) {
	s, trustd, clk := talostest.FixedSecrets(t), &fake.Trustd{}, &stepClock{t: time.Unix(1e9, 0)}
	worker, wc := trustdNode(t, s, trustd, clk, "w1")
	cp, cc := trustdNode(t, s, trustd, clk, "cp1")
	ctx := context.Background()
	if err := wc.Apply(ctx, worker.Addr(), nodeConfig(t, s, talos.RoleWorker), time.Second); err != nil {
		t.Fatal(err)
	}
	if st := wc.Probe(ctx, worker.Addr()); st != talos.Unreachable {
		t.Fatalf("worker before any control plane: %s, want unreachable (apid not listening)", st)
	}
	if why := worker.ApidWaits(); !strings.Contains(why, "trustd") {
		t.Errorf("worker waits for %q, want trustd", why)
	}
	clk.Advance(2 * time.Second)
	if err := cc.Apply(ctx, cp.Addr(), nodeConfig(t, s, talos.RoleControlPlane), time.Second); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	if st := probeSettled(wc, worker.Addr(), talos.Configured); st != talos.Unreachable {
		t.Fatalf("worker 1 s after its control plane came up, before its next attempt: %s, want unreachable", st)
	}
	clk.Advance(time.Second)
	if st := probeSettled(wc, worker.Addr(), talos.Configured); st != talos.Configured {
		t.Fatalf("worker at its attempt after the control plane came up: %s, want configured", st)
	}
}

// A control plane that installs for InstallTime runs trustd only once it
// rebooted into its config.
func TestWorkerWaitsForItsControlPlaneToInstall(t *testing.T) {
	s, trustd, clk := talostest.FixedSecrets(t), &fake.Trustd{}, &stepClock{t: time.Unix(1e9, 0)}
	worker, wc := trustdNode(t, s, trustd, clk, "w1")
	cp := &fake.Node{Name: "cp1", Trustd: trustd, Clock: clk, InstallTime: 3 * time.Minute}
	startNode(t, cp)
	cc := clientFor(t, s, cp.Addr())
	ctx := context.Background()
	for _, a := range []struct {
		c    *talos.Client
		addr string
		role string
	}{{cc, cp.Addr(), talos.RoleControlPlane}, {wc, worker.Addr(), talos.RoleWorker}} {
		if err := a.c.Apply(ctx, a.addr, nodeConfig(t, s, a.role), time.Second); err != nil {
			t.Fatal(err)
		}
	}
	// The worker's attempts fail for a minute, the controller restarts
	// after 0.5 s, 0.75 s, ...: attempts at 60.5, 61.5, ... 117.5 s, then
	// 121.25, ... 178.25 s, then 182.375 s.
	clk.Advance(181 * time.Second)
	if st := probeSettled(cc, cp.Addr(), talos.Configured); st != talos.Configured {
		t.Fatalf("control plane after its install: %s", st)
	}
	if st := probeSettled(wc, worker.Addr(), talos.Configured); st != talos.Unreachable {
		t.Fatalf("worker before its first attempt after the control plane came up: %s, want unreachable", st)
	}
	clk.Advance(1500 * time.Millisecond)
	if st := probeSettled(wc, worker.Addr(), talos.Configured); st != talos.Configured {
		t.Fatalf("worker at its attempt after the control plane came up: %s, want configured", st)
	}
}

func TestWorkerRefusedByTrustdFirewall(t *testing.T) {
	s, trustd := talostest.FixedSecrets(t), &fake.Trustd{}
	clk := &stepClock{t: time.Unix(1e9, 0)}
	worker, wc := trustdNode(t, s, trustd, clk, "w1")
	cp, cc := trustdNode(t, s, trustd, clk, "cp1")
	ctx := context.Background()
	// The control plane's firewall admits trustd's port only from the
	// private range, not from the worker's address.
	cpConfig := strings.Replace(string(nodeConfig(t, s, talos.RoleControlPlane)), "        - 50001\n", "", 1)
	cpConfig = strings.Replace(cpConfig, "        - 10250\n", "        - 10250\n        - 50001\n", 1)
	if err := cc.Apply(ctx, cp.Addr(), []byte(cpConfig), time.Second); err != nil {
		t.Fatal(err)
	}
	if err := wc.Apply(ctx, worker.Addr(), nodeConfig(t, s, talos.RoleWorker), time.Second); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Hour)
	if st := probeSettled(wc, worker.Addr(), talos.Configured); st != talos.Unreachable {
		t.Fatalf("worker whose address the control plane's trustd refuses: %s, want unreachable", st)
	}
	// A control plane with cto's own config lets it in.
	cp2, cc2 := trustdNode(t, s, trustd, clk, "cp2")
	if err := cc2.Apply(ctx, cp2.Addr(), nodeConfig(t, s, talos.RoleControlPlane), time.Second); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	if st := probeSettled(wc, worker.Addr(), talos.Configured); st != talos.Configured {
		t.Fatalf("worker with a control plane whose trustd is open: %s, want configured", st)
	}
}

func TestKubeconfigFailuresThenSuccess(t *testing.T) {
	s := talostest.FixedSecrets(t)
	n := &fake.Node{Name: "n1", Faults: fake.Faults{KubeconfigFailures: 2}}
	startNode(t, n)
	c := clientFor(t, s, n.Addr())
	ctx := context.Background()
	if err := c.Apply(ctx, n.Addr(), nodeConfig(t, s, talos.RoleControlPlane), time.Second); err != nil {
		t.Fatal(err)
	}
	if err := c.Bootstrap(ctx, n.Addr()); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if _, err := c.Kubeconfig(ctx, n.Addr()); err == nil || !strings.Contains(err.Error(), "not ready") {
			t.Fatalf("kubeconfig call %d: %v, want the injected failure", i+1, err)
		}
	}
	if kc, err := c.Kubeconfig(ctx, n.Addr()); err != nil || len(kc) == 0 {
		t.Fatalf("third kubeconfig call: %v", err)
	}
	if got := n.KubeconfigCalls(); got != 3 {
		t.Errorf("kubeconfig calls = %d, want 3", got)
	}
}

func TestForeignNodeResetAndNeverBoots(t *testing.T) {
	ours, other := talostest.FixedSecrets(t), talostest.FixedSecrets(t)
	if o, _, err := talos.NewSecrets(""); err == nil {
		other = o
	}
	n := &fake.Node{Name: "n1", Faults: fake.Faults{ForeignConfig: nodeConfig(t, other, talos.RoleControlPlane)}}
	startNode(t, n)
	c := clientFor(t, ours, n.Addr())
	ctx := context.Background()
	if st := c.Probe(ctx, n.Addr()); st != talos.Foreign {
		t.Fatalf("a node configured by someone else probes %s, want foreign", st)
	}
	n.Reset()
	if st := c.Probe(ctx, n.Addr()); st != talos.Maintenance {
		t.Fatalf("after a reset: %s, want maintenance", st)
	}

	dead := &fake.Node{Name: "n2", Faults: fake.Faults{NeverBoots: true}}
	if err := dead.Start(fake.LoopbackBlock() + "2:50000"); err != nil {
		t.Fatal(err)
	}
	defer dead.Stop()
	c.CallTimeout = 200 * time.Millisecond
	if st := c.Probe(ctx, dead.Addr()); st != talos.Unreachable {
		t.Fatalf("a node that never boots probes %s, want unreachable", st)
	}
}

// A node pulls its installer from the Image Factory's registry before it
// installs: an unknown schematic or a Talos version the factory does not
// serve fails the install, and the node boots maintenance mode again.
func TestInstallPullsTheInstallerFromTheFactory(t *testing.T) {
	s := talostest.FixedSecrets(t)
	factory := fake.NewFactory()
	srv := httptest.NewServer(factory)
	t.Cleanup(srv.Close)
	id, err := talos.Factory{URL: srv.URL}.EnsureSchematic(context.Background(), talos.SchematicFor(nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, image, problem string
	}{
		{"unknown schematic", talos.Factory{URL: srv.URL}.Images(strings.Repeat("0", 64), talos.DefaultTalosVersion).Installer(), "schematic " + strings.Repeat("0", 64) + " not found"},
		{"version not served", talos.Factory{URL: srv.URL}.Images(id, "v1.12.99").Installer(), "v1.12.99 is not served"},
		{"registered", talos.Factory{URL: srv.URL}.Images(id, talos.DefaultTalosVersion).Installer(), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := &fake.Node{Name: "n1", PullsInstaller: true}
			startNode(t, n)
			c := clientFor(t, s, n.Addr())
			cfg := must(talos.Generate(talos.ClusterInput{Name: "demo", Endpoint: "203.0.113.11", PrivateCIDR: "10.8.0.0/24", Secrets: s},
				talos.NodeInput{Name: "n1", Role: talos.RoleControlPlane, PrivateIP: "10.8.0.11", InstallImage: tc.image, Disk: talos.Disk{Serial: "NVME-1"}}))
			before := factory.TotalPulls()
			if err := c.Apply(context.Background(), n.Addr(), cfg, time.Second); err != nil {
				t.Fatalf("apply: %v (the install fails after the node took the config)", err)
			}
			st := c.Probe(context.Background(), n.Addr())
			if tc.problem == "" {
				if st != talos.Configured || n.InstallProblem() != "" {
					t.Fatalf("node with a pullable installer: %s, install problem %q", st, n.InstallProblem())
				}
				if got := factory.Pulls()["metal-installer/"+id+":"+talos.DefaultTalosVersion]; got != 1 || factory.TotalPulls() != before+1 {
					t.Errorf("installer pulls = %d (total %d), want 1", got, factory.TotalPulls()-before)
				}
				return
			}
			if st != talos.Maintenance {
				t.Errorf("node whose installer cannot be pulled: %s, want maintenance again", st)
			}
			if p := n.InstallProblem(); !strings.Contains(p, "MANIFEST_UNKNOWN") || !strings.Contains(p, tc.problem) {
				t.Errorf("install problem = %q, want MANIFEST_UNKNOWN: %s", p, tc.problem)
			}
			if factory.TotalPulls() != before {
				t.Errorf("a failed pull counted as a pull")
			}
		})
	}
}

// A control plane hands out its kubeconfig as soon as it has its config,
// before Bootstrap (Talos generates it from the config's CA), while its
// API server stays down until BootstrapTime after Bootstrap.
func TestKubeconfigBeforeBootstrapAPIServerLater(t *testing.T) {
	s := talostest.FixedSecrets(t)
	clk := &stepClock{t: time.Unix(1_700_000_000, 0)}
	n := &fake.Node{Name: "n1", BootstrapTime: 3 * time.Minute, Clock: clk}
	startNode(t, n)
	c := clientFor(t, s, n.Addr())
	ctx := context.Background()
	if err := c.Apply(ctx, n.Addr(), nodeConfig(t, s, talos.RoleControlPlane), time.Second); err != nil {
		t.Fatal(err)
	}
	if kc, err := c.Kubeconfig(ctx, n.Addr()); err != nil || !strings.Contains(string(kc), "server: https://") {
		t.Fatalf("kubeconfig before bootstrap = %s, %v; want it at once", kc, err)
	}
	if n.APIServerUp() {
		t.Error("the API server is up before bootstrap")
	}
	if err := c.Bootstrap(ctx, n.Addr()); err != nil {
		t.Fatal(err)
	}
	if n.APIServerUp() {
		t.Error("the API server is up at once after bootstrap, want it BootstrapTime later")
	}
	clk.Advance(3 * time.Minute)
	if !n.APIServerUp() {
		t.Error("the API server is not up BootstrapTime after bootstrap")
	}
}
