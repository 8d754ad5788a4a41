package deploy

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/siderolabs/talos/pkg/machinery/api/storage"

	"github.com/cto-platform/cto/internal/clock"
	"github.com/cto-platform/cto/internal/events"
	"github.com/cto-platform/cto/internal/kubeconfig"
	"github.com/cto-platform/cto/internal/pipeline"
	"github.com/cto-platform/cto/internal/provider"
	"github.com/cto-platform/cto/internal/provider/latitude"
	latfake "github.com/cto-platform/cto/internal/provider/latitude/fake"
	"github.com/cto-platform/cto/internal/spec"
	"github.com/cto-platform/cto/internal/state"
	"github.com/cto-platform/cto/internal/talos"
	"github.com/cto-platform/cto/internal/talos/fake"
	"github.com/cto-platform/cto/internal/talos/talostest"
)

// addWorker starts a fake worker next to the control planes, getting its
// certificate from their trustd, and records it in the journal.
func (w *talosWorld) addWorker() *fake.Node {
	w.t.Helper()
	// On the wall clock of these tests, Talos's trustd retries (seconds)
	// are scaled down to milliseconds.
	return w.addWorkerWith(func(n *fake.Node) { n.TrustdRetryUnit = 10 * time.Millisecond })
}

// addWorkerWith is addWorker whose node setup adjusts before it starts.
func (w *talosWorld) addWorkerWith(setup func(*fake.Node)) *fake.Node {
	w.t.Helper()
	worker := &fake.Node{Name: "demo-worker1", Disks: disksFor(9), Trustd: w.trustd, PullsInstaller: true}
	setup(worker)
	ip := strings.Split(w.nodes[0].Addr(), ":")[0]
	workerIP := ip[:strings.LastIndex(ip, ".")] + ".9"
	if err := worker.Start(fmt.Sprintf("%s:%d", workerIP, w.port)); err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(worker.Stop)
	w.spec.Nodes++
	_, j := w.journal()
	if err := j.Update(func(j *state.Journal) {
		j.Nodes = append(j.Nodes, &state.Node{Name: worker.Name, Role: talos.RoleWorker, Index: 1, PublicIP: workerIP, PrivateIP: "10.8.0.21"})
	}); err != nil {
		w.t.Fatal(err)
	}
	return worker
}

// schematicFact is the factory id the journal holds for the schematic of
// a node class.
func schematicFact(t *testing.T, r *pipeline.Run, gpu bool) string {
	t.Helper()
	s, err := nodeSchematic(r, gpu)
	if err != nil {
		t.Fatal(err)
	}
	return r.Journal.FactsCopy().Schematics[s.ID()]
}

func TestTalosStepGPUWorkers(t *testing.T) {
	w := newTalosWorld(t, 1)
	w.spec.GPU = true
	worker := w.addWorker()
	ip := strings.Split(w.nodes[0].Addr(), ":")[0]

	r, err := w.run(context.Background(), events.Discard)
	if err != nil {
		t.Fatal(err)
	}
	modules := func(n *fake.Node) []string {
		var out []string
		for _, m := range n.Config().Machine().Kernel().Modules() {
			out = append(out, m.Name())
		}
		return out
	}
	if got := modules(worker); !slices.Equal(got, talos.GPUKernelModules) {
		t.Errorf("GPU worker modules = %v", got)
	}
	if got := modules(w.nodes[0]); len(got) != 0 {
		t.Errorf("control plane of a GPU cluster loads %v", got)
	}
	gpuID, plainID := schematicFact(t, r, true), schematicFact(t, r, false)
	if gpuID == "" || plainID == "" || gpuID == plainID {
		t.Fatalf("schematic facts: plain %q gpu %q", plainID, gpuID)
	}
	if img := worker.Config().Machine().Install().Image(); !strings.Contains(img, "/metal-installer/"+gpuID+":") {
		t.Errorf("GPU worker installs %s, want the GPU schematic %s", img, gpuID)
	}
	if img := w.nodes[0].Config().Machine().Install().Image(); !strings.Contains(img, "/metal-installer/"+plainID+":") {
		t.Errorf("control plane installs %s, want the plain schematic", img)
	}
	if sel := w.nodes[0].Config().RawV1Alpha1().MachineConfig.MachineInstall.InstallDiskSelector; sel == nil || sel.WWID != "eui.0000" {
		t.Errorf("install disk selector = %+v, want the NVMe's WWID (not the CD-ROM)", sel)
	}
	if got := w.nodes[0].Config().Cluster().Endpoint().Host; got != net.JoinHostPort(ip, "6443") {
		t.Errorf("endpoint host = %s, want the first control plane's public IP", got)
	}
}

// A worker whose server comes up after the control plane took its config
// (ordered later in a large cluster, or a replacement with a new address)
// still gets its certificate from the control plane's trustd: the control
// plane's firewall cannot name an address it never saw.
func TestWorkerWhoseServerComesAfterTheControlPlaneJoins(t *testing.T) {
	w := newTalosWorld(t, 1)
	if _, err := w.runSteps(context.Background(), events.Discard, talosStep{}); err != nil {
		t.Fatal(err)
	}
	worker := w.addWorker()
	_, j := w.journal()
	j.Update(func(j *state.Journal) { delete(j.Steps, StepTalos) }) // it had waited for this server
	r, err := w.runSteps(context.Background(), events.Discard, talosStep{})
	if err != nil {
		t.Fatalf("worker added after the control plane was configured: %v", err)
	}
	for _, n := range r.Journal.NodesCopy() {
		if !n.Configured {
			t.Errorf("%s not recorded as configured", n.Name)
		}
	}
	if worker.Config() == nil {
		t.Error("the worker runs no config")
	}
}

func TestBootstrapAfterCrashBetweenCallAndRecord(t *testing.T) {
	w := newTalosWorld(t, 3)
	ctx := context.Background()
	// The talos step configures the nodes and bootstraps the first
	// control plane as soon as it runs its config.
	r, err := w.runSteps(ctx, events.Discard, talosStep{})
	if err != nil {
		t.Fatal(err)
	}
	if n := w.bootstrapCalls(); n != 1 || r.Journal.FactsCopy().Bootstrap != "done" {
		t.Fatalf("after the talos step: %d bootstrap calls, fact %q; want 1 and done", n, r.Journal.FactsCopy().Bootstrap)
	}
	// The crash: Bootstrap went out, "done" never saved, and the intent
	// names another control plane.
	if err := r.Journal.SetFacts(func(f *state.Facts) { f.Bootstrap = "intent:demo-cp2" }); err != nil {
		t.Fatal(err)
	}
	// The rerun sees etcd on cp1 and calls Bootstrap nowhere.
	if _, err := w.run(ctx, events.Discard); err != nil {
		t.Fatal(err)
	}
	if n := w.bootstrapCalls(); n != 1 {
		t.Errorf("bootstrap calls = %d, want exactly 1", n)
	}
	if _, err := os.Stat(filepath.Join(w.root, "clusters/demo", kubeconfig.File)); err != nil {
		t.Errorf("no kubeconfig: %v", err)
	}
}

func TestBootstrapIntentStaysWithItsNode(t *testing.T) {
	w := newTalosWorld(t, 3)
	ctx := context.Background()
	w.nodes[2].Faults.BootstrapFailures = 2 // time not in sync yet: retried
	_, j := w.journal()
	// A crash after journaling the intent for cp3, before the call went out.
	if err := j.SetFacts(func(f *state.Facts) { f.Bootstrap = "intent:demo-cp3" }); err != nil {
		t.Fatal(err)
	}
	if _, err := w.run(ctx, events.Discard); err != nil {
		t.Fatal(err)
	}
	if w.nodes[2].BootstrapCalls() != 3 || w.bootstrapCalls() != 3 {
		t.Errorf("bootstrap calls per node: %d %d %d, want 0 0 3 (two refusals, then success on cp3)", w.nodes[0].BootstrapCalls(), w.nodes[1].BootstrapCalls(), w.nodes[2].BootstrapCalls())
	}
}

func TestTalosDryRunWritesConfigs(t *testing.T) {
	for _, withNodes := range []bool{false, true} {
		t.Run(fmt.Sprint("nodes=", withNodes), func(t *testing.T) {
			r := newRun(t, t.TempDir())
			c, j := r.Cluster, r.Journal
			if withNodes {
				j.Update(func(j *state.Journal) {
					j.Nodes = []*state.Node{{Name: "demo-cp1", Role: talos.RoleControlPlane, PublicIP: "203.0.113.5", PrivateIP: "10.8.0.11"}}
				})
			}
			sp := spec.Defaults()
			sp.Name, sp.Provider, sp.Nodes, sp.ControlPlanes = "demo", "latitude", 3, 3
			sp.DNS.Domain = "example.com"
			rec := r.Events.(*events.Recorder)
			r.Deps.Spec = sp
			if err := (&pipeline.Engine{Steps: []pipeline.Step{talosStep{}}}).Execute(context.Background(), r, pipeline.Options{DryRun: true}); err != nil {
				t.Fatal(err)
			}
			files, _ := filepath.Glob(filepath.Join(c.Dir, "dry-run", "*.yaml"))
			want := 1
			if !withNodes {
				want = 3
			}
			if len(files) != want {
				t.Fatalf("dry run wrote %v, want %d configs", files, want)
			}
			var said string
			for _, e := range rec.Events {
				said += e.Message + "\n"
			}
			for _, f := range files {
				if !strings.Contains(said, f) {
					t.Errorf("dry run did not print %s", f)
				}
				if !withNodes && !strings.Contains(f, "placeholder") {
					t.Errorf("placeholder config %s is not marked", f)
				}
				data, _ := os.ReadFile(f)
				if _, err := talos.ParseConfig(data); err != nil {
					t.Errorf("%s: %v", f, err)
				}
				if !strings.Contains(string(data), "https://api.demo.example.com:6443") {
					t.Errorf("%s does not use the DNS endpoint", f)
				}
				if fi, _ := os.Stat(f); fi.Mode().Perm() != 0o600 {
					t.Errorf("%s mode %o", f, fi.Mode().Perm())
				}
			}
			if _, err := os.Stat(c.Path(talos.SecretsFile)); err == nil {
				t.Error("a dry run stored secrets")
			}
			for k := range j.FactsCopy().Schematics {
				t.Errorf("a dry run journaled schematic %s", k)
			}
		})
	}
}

// TestTalosDryRunWithoutDHCPShowsStaticPublicLinks: the configs a dry run
// writes for a provider without DHCP address the public link as a deploy
// would (static address and default route), not by a DHCP lease the
// network would never answer.
func TestTalosDryRunWithoutDHCPShowsStaticPublicLinks(t *testing.T) {
	for _, dhcp := range []bool{true, false} {
		t.Run(fmt.Sprint("dhcp=", dhcp), func(t *testing.T) {
			r := newRun(t, t.TempDir())
			sp := spec.Defaults()
			sp.Name, sp.Provider, sp.Nodes, sp.ControlPlanes = "demo", "latitude", 1, 1
			r.Deps.Spec, r.Deps.Provider = sp, noDHCP{dhcp: dhcp}
			rec := r.Events.(*events.Recorder)
			if err := (&pipeline.Engine{Steps: []pipeline.Step{talosStep{}}}).Execute(context.Background(), r, pipeline.Options{DryRun: true}); err != nil {
				t.Fatal(err)
			}
			files, _ := filepath.Glob(filepath.Join(r.Cluster.Dir, "dry-run", "*.yaml"))
			if len(files) != 1 {
				t.Fatalf("dry run wrote %v, want one config", files)
			}
			data, _ := os.ReadFile(files[0])
			if _, err := talos.ParseConfig(data); err != nil {
				t.Fatal(err)
			}
			static := strings.Contains(string(data), "address: 192.0.2.10/31") && strings.Contains(string(data), "gateway: 192.0.2.11")
			lease := strings.Contains(string(data), "kind: DHCPv4Config\nname: public")
			if static == dhcp || lease != dhcp {
				t.Errorf("dhcp=%v: static public address %v, DHCP lease on the public link %v:\n%s", dhcp, static, lease, data)
			}
			var said string
			for _, e := range rec.Events {
				said += e.Message + "\n"
			}
			if !dhcp && !strings.Contains(said, "no DHCP at latitude") {
				t.Errorf("the dry run does not say the static addresses are placeholders:\n%s", said)
			}
		})
	}
}

// noDHCP is a provider that only reports capabilities; the boot media
// code asks nothing else.
type noDHCP struct {
	provider.Provider
	dhcp bool
}

func (p noDHCP) Capabilities() provider.Capabilities {
	return provider.Capabilities{DHCP: p.dhcp}
}

func TestTalosBootMedia(t *testing.T) {
	w := newTalosWorld(t, 1)
	c, j := w.journal()
	for _, dhcp := range []bool{true, false} {
		r := &pipeline.Run{Cluster: c, Journal: j, Events: events.Discard, Deps: &pipeline.Deps{Spec: w.spec, Provider: noDHCP{dhcp: dhcp}}}
		boot, err := TalosBootMedia(context.Background(), r, false)
		if err != nil {
			t.Fatal(err)
		}
		id := schematicFact(t, r, false)
		if id == "" {
			t.Fatal("schematic id not journaled")
		}
		if boot.Method != provider.BootIPXE || boot.URL != w.fsrv.URL+"/pxe/"+id+"/v1.13.9/metal-amd64" {
			t.Errorf("boot = %+v", boot)
		}
		// Providers without iPXE make their media from the build itself.
		if want := (provider.TalosImage{Factory: w.fsrv.URL, Schematic: id, Version: "v1.13.9"}); boot.Talos != want {
			t.Errorf("boot names Talos build %+v, want %+v", boot.Talos, want)
		}
		if dhcp && boot.Script != "" {
			t.Errorf("DHCP provider got a script:\n%s", boot.Script)
		}
		if !dhcp && !strings.Contains(boot.Script, " ip=") {
			t.Errorf("provider without DHCP got no ip= argument:\n%s", boot.Script)
		}
	}
	if w.factory.Posts() != 1 {
		t.Errorf("factory posts = %d, want 1 (the id is journaled)", w.factory.Posts())
	}
	// An unreachable factory is an error naming it.
	// (The GPU schematic of a GPU cluster is not journaled yet.)
	sp := w.spec
	sp.GPU = true
	sp.Talos.ImageFactoryURL = "http://127.0.0.1:1"
	r := &pipeline.Run{Cluster: c, Journal: j, Events: events.Discard, Deps: &pipeline.Deps{Spec: sp}}
	if _, err := TalosBootMedia(context.Background(), r, true); err == nil || !strings.Contains(err.Error(), "http://127.0.0.1:1/schematics") {
		t.Errorf("got %v, want an error naming the factory URL", err)
	}
}

func TestTalosconfigFollowsReplacedControlPlanes(t *testing.T) {
	w := newTalosWorld(t, 1)
	c, j := w.journal()
	r := &pipeline.Run{Cluster: c, Journal: j, Events: events.Discard, Deps: &pipeline.Deps{Spec: w.spec, Talos: pipeline.TalosOptions{APIPort: w.port}}}
	s, err := loadOrCreateSecrets(r)
	if err != nil {
		t.Fatal(err)
	}
	endpointsOf := func() []string {
		t.Helper()
		if _, err := ensureTalosconfig(r, s, j.NodesCopy()); err != nil {
			t.Fatal(err)
		}
		data, _ := c.ReadFile(talos.TalosconfigFile)
		cfg, err := talos.ParseTalosconfig(data)
		if err != nil {
			t.Fatal(err)
		}
		return cfg.Contexts[cfg.Context].Endpoints
	}
	first := endpointsOf()
	before, _ := c.ReadFile(talos.TalosconfigFile)
	if again := endpointsOf(); !slices.Equal(first, again) {
		t.Fatalf("endpoints moved without a change: %v -> %v", first, again)
	}
	if after, _ := c.ReadFile(talos.TalosconfigFile); !bytes.Equal(before, after) {
		t.Error("talosconfig rewritten without a change")
	}
	j.Update(func(j *state.Journal) { j.Nodes[0].PublicIP = "127.0.0.77" })
	if got := endpointsOf(); len(got) != 1 || !strings.HasPrefix(got[0], "127.0.0.77:") {
		t.Errorf("endpoints after replacement = %v", got)
	}
}

// A Latitude account without DHCP gets a script whose ip= argument uses
// the placeholders Latitude fills ({{ PUBLIC_IP }}...), not iPXE's own
// settings, which are empty there.
func TestTalosBootMediaForLatitudeWithoutDHCP(t *testing.T) {
	w := newTalosWorld(t, 1)
	c, j := w.journal()
	lat, err := latitude.New(latitude.Config{Token: "t", APIURL: "http://127.0.0.1:1", NoDHCP: true})
	if err != nil {
		t.Fatal(err)
	}
	r := &pipeline.Run{Cluster: c, Journal: j, Events: events.Discard, Deps: &pipeline.Deps{Spec: w.spec, Provider: lat}}
	boot, err := TalosBootMedia(context.Background(), r, false)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(boot.Script, " ip={{ PUBLIC_IP }}::{{ PUBLIC_GW }}:{{ NETMASK }}:") || strings.Contains(boot.Script, "${ip}") {
		t.Errorf("script for an account without DHCP:\n%s", boot.Script)
	}
	t.Setenv(latitude.NoDHCPEnv, "true")
	t.Setenv("LATITUDESH_AUTH_TOKEN", "t")
	cfg, err := latitude.ConfigFromEnv("", "")
	if err != nil || !cfg.NoDHCP {
		t.Errorf("%s=true read as NoDHCP %v (%v)", latitude.NoDHCPEnv, cfg.NoDHCP, err)
	}
}

// Workloads run on the control planes of a cluster without workers, and
// only there: with a worker the control planes keep their NoSchedule
// taint.
func TestControlPlanesScheduleWithoutWorkers(t *testing.T) {
	alone := newTalosWorld(t, 1)
	if _, err := alone.run(context.Background(), events.Discard); err != nil {
		t.Fatal(err)
	}
	if !alone.nodes[0].Config().Cluster().ScheduleOnControlPlanes() {
		t.Error("a cluster without workers keeps its control plane unschedulable: nothing can run")
	}
	withWorker := newTalosWorld(t, 1)
	worker := withWorker.addWorker()
	if _, err := withWorker.run(context.Background(), events.Discard); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*fake.Node{withWorker.nodes[0], worker} {
		if n.Config().Cluster().ScheduleOnControlPlanes() {
			t.Errorf("%s: a cluster with a worker schedules on its control planes", n.Name)
		}
	}
}

// A worker on --worker-plan installs to the OS drive of its own plan
// (c3-small-x86: NVMe), not of the control planes' plan.
func TestWorkerInstallsToItsOwnPlansDisk(t *testing.T) {
	w := newTalosWorld(t, 1)
	f := latfake.New(latfake.Options{})
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	p, err := latitude.New(latitude.Config{Token: f.Token(), APIURL: srv.URL, ReadsPerMinute: -1, WritesPerMinute: -1})
	if err != nil {
		t.Fatal(err)
	}
	w.provider = p
	w.spec.Plan, w.spec.WorkerPlan = "c1-tiny-x86", "c3-small-x86" // 250 GB SSD; 800 GB NVMe (as recorded)
	w.nodes[0].Disks = []*storage.Disk{{DeviceName: "/dev/sda", Type: storage.Disk_SSD, Size: 250e9, Serial: "SSD-CP"}}
	worker := w.addWorker()
	worker.Disks = []*storage.Disk{
		{DeviceName: "/dev/sda", Type: storage.Disk_SSD, Size: 250e9, Serial: "SSD-W"},
		{DeviceName: "/dev/nvme0n1", Type: storage.Disk_NVME, Size: 800e9, Serial: "NVME-W"},
	}
	if _, err := w.run(context.Background(), events.Discard); err != nil {
		t.Fatal(err)
	}
	if sel := worker.Config().RawV1Alpha1().MachineConfig.MachineInstall.InstallDiskSelector; sel == nil || sel.Serial != "NVME-W" {
		t.Errorf("worker install disk = %+v, want its plan's NVMe", sel)
	}
	if sel := w.nodes[0].Config().RawV1Alpha1().MachineConfig.MachineInstall.InstallDiskSelector; sel == nil || sel.Serial != "SSD-CP" {
		t.Errorf("control plane install disk = %+v, want its plan's SSD", sel)
	}
}

// A worker takes its config while its control plane still installs: the
// worker's apid refuses connections until the control plane's trustd
// issued its certificate, at the worker's next trustd attempt. Here the
// control plane comes up just before its own deadline, between two of
// the worker's attempts (Talos's retry schedule puts them at 663.4 s and
// 694.4 s after the worker took its config), so the certificate arrives
// after the worker's own deadline: only a deadline held while the control
// plane is not up lets the worker through.
func TestWorkerWaitsForASlowControlPlane(t *testing.T) {
	// At 60x the control plane's 15 s of slack before its deadline are a
	// quarter of a wall second: enough on a busy machine.
	clk := clock.NewScaled(60)
	w := newTalosWorldWith(t, 1, func(n *fake.Node) { n.Clock, n.InstallTime = clk, 670*time.Second })
	worker := w.addWorkerWith(func(n *fake.Node) { n.Clock, n.InstallTime = clk, time.Minute })
	w.clock = clk
	w.opts = &pipeline.TalosOptions{NodeTimeout: 685 * time.Second, Poll: 5 * time.Second, ApplyTimeout: time.Minute}
	var waited []string
	r, err := w.runSteps(context.Background(), events.SinkFunc(func(e events.Event) {
		if e.Type == events.NodeUpdate && e.Node == worker.Name && e.Status == "waiting" {
			waited = append(waited, e.Message)
		}
	}), talosStep{})
	if err != nil {
		t.Fatalf("worker with a slow control plane: %v", err)
	}
	for _, n := range r.Journal.NodesCopy() {
		if !n.Configured {
			t.Errorf("%s not recorded as configured", n.Name)
		}
	}
	if !slices.ContainsFunc(waited, func(m string) bool { return strings.Contains(m, "waiting for a control plane") }) {
		t.Errorf("the worker's progress never said it waits for its control plane: %q", waited)
	}
}

// A worker whose control plane never comes up fails once the control
// plane failed, saying why, rather than as a node that never answered.
func TestWorkerFailsClearlyWhenNoControlPlaneComesUp(t *testing.T) {
	clk := clock.NewScaled(600)
	w := newTalosWorldWith(t, 1, func(n *fake.Node) { n.Clock, n.InstallTime = clk, 24*time.Hour })
	w.addWorkerWith(func(n *fake.Node) { n.Clock, n.InstallTime = clk, time.Minute })
	w.clock = clk
	w.opts = &pipeline.TalosOptions{NodeTimeout: 10 * time.Minute, Poll: 5 * time.Second, ApplyTimeout: time.Minute}
	_, err := w.runSteps(context.Background(), events.Discard, talosStep{})
	if err == nil {
		t.Fatal("deploy with a control plane that never comes up succeeded")
	}
	if !strings.Contains(err.Error(), "node demo-worker1") || !strings.Contains(err.Error(), "no control plane came up") {
		t.Errorf("error = %v, want the worker to say no control plane came up", err)
	}
	if !strings.Contains(err.Error(), "node demo-cp1") {
		t.Errorf("error = %v, want the control plane's own failure", err)
	}
}

// Every node pulls its installer from the Image Factory once: the image
// cto names carries a schematic it registered, at a version the factory
// serves.
func TestEveryNodePullsItsInstallerOnce(t *testing.T) {
	w := newTalosWorld(t, 3)
	w.addWorker()
	r, err := w.runSteps(context.Background(), events.Discard, talosStep{})
	if err != nil {
		t.Fatal(err)
	}
	image := "metal-installer/" + schematicFact(t, r, false) + ":" + talos.DefaultTalosVersion
	if got := w.factory.Pulls(); len(got) != 1 || got[image] != 4 {
		t.Errorf("installer pulls = %v, want %s pulled once by each of the 4 nodes", got, image)
	}
	for _, n := range append(w.nodes, nil) {
		if n != nil && n.InstallProblem() != "" {
			t.Errorf("%s: %s", n.Name, n.InstallProblem())
		}
	}
}

// A Talos version the factory does not serve fails every install: the
// node takes its config and boots maintenance mode again, and cto says
// what to check rather than only that the node stays there.
func TestInstallerTheFactoryDoesNotServeFailsTheInstall(t *testing.T) {
	w := newTalosWorld(t, 1)
	w.spec.Talos.Version = "v1.13.8"
	_, err := w.runSteps(context.Background(), events.Discard, talosStep{})
	if err == nil {
		t.Fatal("a deploy whose installer the factory does not serve succeeded")
	}
	if p := w.nodes[0].InstallProblem(); !strings.Contains(p, "v1.13.8 is not served") {
		t.Errorf("install problem = %q, want the pull to fail on the version", p)
	}
	if !strings.Contains(err.Error(), "stays in maintenance mode") || !strings.Contains(err.Error(), "metal-installer/") {
		t.Errorf("error = %v, want the node staying in maintenance mode and the installer it could not install", err)
	}
	if w.factory.TotalPulls() != 0 {
		t.Errorf("pulls of an unserved version counted: %v", w.factory.Pulls())
	}
}

// On a Latitude account without DHCP the ip= of the boot script is gone
// once the node installed and booted from disk, so the config addresses
// the public link with the address, prefix and gateway GET /ips reports;
// with DHCP it asks for a lease as before.
func TestLatitudeWithoutDHCPAddressesThePublicLinkStatically(t *testing.T) {
	for _, noDHCP := range []bool{true, false} {
		t.Run(fmt.Sprintf("no-dhcp=%v", noDHCP), func(t *testing.T) {
			f := latfake.New(latfake.Options{NoDHCP: noDHCP})
			srv := httptest.NewServer(f)
			t.Cleanup(srv.Close)
			clk := clock.NewScaled(3000)
			lat, err := latitude.New(latitude.Config{Token: f.Token(), APIURL: srv.URL, Clock: clk, NoDHCP: noDHCP, ReadsPerMinute: -1, WritesPerMinute: -1})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			s, err := provider.Create(ctx, lat, provider.ServerSpec{Cluster: "demo", Hostname: "demo-cp1", Plan: "c2-small-x86",
				Region: "DAL", Boot: provider.Boot{Method: provider.BootIPXE, URL: "http://boot.test/x"}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			n := state.Node{Name: "demo-cp1", Role: talos.RoleControlPlane, ServerID: s.ID, PublicIP: s.PublicIPv4, PrivateIP: "10.8.0.11",
				PublicMAC: s.MAC(provider.NICPublic), PrivateMAC: s.MAC(provider.NICPrivate)}
			r := newRun(t, t.TempDir())
			sp := spec.Defaults()
			sp.Name, sp.Provider = "demo", "latitude"
			r.Deps = &pipeline.Deps{Spec: sp, Provider: lat}
			addr, gw, err := staticPublicNetwork(ctx, r, n)
			if err != nil {
				t.Fatal(err)
			}
			if !noDHCP {
				if addr != "" || gw != "" {
					t.Errorf("with DHCP: static public network %q via %q, want none", addr, gw)
				}
				return
			}
			a := net.ParseIP(s.PublicIPv4).To4()
			wantGW := net.IPv4(a[0], a[1], a[2], a[3]&^1)
			if wantGW.Equal(a) {
				wantGW = net.IPv4(a[0], a[1], a[2], a[3]|1)
			}
			if addr != s.PublicIPv4+"/31" || gw != wantGW.String() {
				t.Fatalf("static public network %q via %q, want %s/31 via %s", addr, gw, s.PublicIPv4, wantGW)
			}
			in := talos.ClusterInput{Name: "demo", Endpoint: s.PublicIPv4, PrivateCIDR: "10.8.0.0/24", VLAN: 2085, Secrets: talostest.FixedSecrets(t)}
			ni := talos.NodeInput{Name: n.Name, Role: n.Role, PrivateIP: n.PrivateIP, InstallImage: "factory.test/metal-installer/x:v1.13.9",
				Disk: talos.Disk{Serial: "S"}, PublicMAC: n.PublicMAC, PrivateMAC: n.PrivateMAC, PublicAddress: addr, PublicGateway: gw}
			cfg, err := talos.Generate(in, ni)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"address: " + addr, "gateway: " + gw} {
				if !strings.Contains(string(cfg), want) {
					t.Errorf("config lacks %q:\n%s", want, cfg)
				}
			}
			if strings.Contains(string(cfg), "kind: DHCPv4Config\nname: public") {
				t.Error("config asks for a DHCP lease on the public link of an account without DHCP")
			}
		})
	}
}
