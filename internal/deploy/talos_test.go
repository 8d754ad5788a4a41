package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siderolabs/talos/pkg/machinery/api/storage"
	clientconfig "github.com/siderolabs/talos/pkg/machinery/client/config"

	"github.com/cto-platform/cto/internal/clock"
	"github.com/cto-platform/cto/internal/events"
	"github.com/cto-platform/cto/internal/pipeline"
	"github.com/cto-platform/cto/internal/provider"
	"github.com/cto-platform/cto/internal/spec"
	"github.com/cto-platform/cto/internal/state"
	"github.com/cto-platform/cto/internal/talos"
	"github.com/cto-platform/cto/internal/talos/fake"
)

// talosWorld is a cluster folder whose journal holds nodes as the servers
// and network steps leave them, one fake Talos node per journal node.
type talosWorld struct {
	t       *testing.T
	root    string
	nodes   []*fake.Node
	factory *fake.Factory
	trustd  *fake.Trustd
	fsrv    *httptest.Server
	port    int
	spec    spec.ClusterSpec
	// provider, when set, answers the steps' provider calls (plans).
	provider provider.Provider
	// clock and opts, when set, replace the wall clock and the short
	// wall-clock timeouts of runSteps.
	clock clock.Clock
	opts  *pipeline.TalosOptions
}

func disksFor(i int) []*storage.Disk {
	return []*storage.Disk{
		{DeviceName: "/dev/sr0", Type: storage.Disk_CD, Size: 1e9, Serial: "CDROM"},
		{DeviceName: "/dev/nvme0n1", Type: storage.Disk_NVME, Size: 480e9, Serial: fmt.Sprintf("NVME-%d", i), Wwid: fmt.Sprintf("eui.%04d", i)},
		{DeviceName: "/dev/sda", Type: storage.Disk_HDD, Size: 4000e9, Serial: fmt.Sprintf("HDD-%d", i)},
	}
}

func newTalosWorld(t *testing.T, controlPlanes int) *talosWorld {
	t.Helper()
	return newTalosWorldWith(t, controlPlanes, nil)
}

// newTalosWorldWith is newTalosWorld whose control planes setup adjusts
// before they start.
func newTalosWorldWith(t *testing.T, controlPlanes int, setup func(*fake.Node)) *talosWorld {
	t.Helper()
	w := &talosWorld{t: t, root: t.TempDir(), factory: fake.NewFactory(), trustd: &fake.Trustd{}}
	w.fsrv = httptest.NewServer(w.factory)
	t.Cleanup(w.fsrv.Close)
	block := fake.LoopbackBlock()
	// One port for all nodes, like 50000 on real ones: the first node picks it.
	for i := range controlPlanes {
		n := &fake.Node{Name: fmt.Sprintf("demo-cp%d", i+1), Disks: disksFor(i), KubeconfigServer: "https://127.0.0.1:6443", Trustd: w.trustd, PullsInstaller: true}
		if setup != nil {
			setup(n)
		}
		addr := fmt.Sprintf("%s%d:%d", block, i+1, w.port)
		if err := n.Start(addr); err != nil {
			t.Fatalf("start fake node on %s: %v", addr, err)
		}
		t.Cleanup(n.Stop)
		if w.port == 0 {
			fmt.Sscanf(n.Addr()[strings.LastIndex(n.Addr(), ":")+1:], "%d", &w.port)
		}
		w.nodes = append(w.nodes, n)
	}
	w.spec = spec.Defaults()
	w.spec.Name = "demo"
	w.spec.Provider = "latitude"
	w.spec.Nodes = controlPlanes
	w.spec.ControlPlanes = controlPlanes
	w.spec.Talos.ImageFactoryURL = w.fsrv.URL

	j := newRun(t, w.root).Journal
	if err := j.Update(func(j *state.Journal) {
		for i, n := range w.nodes {
			ip := strings.Split(n.Addr(), ":")[0]
			j.Nodes = append(j.Nodes, &state.Node{Name: n.Name, Role: talos.RoleControlPlane, Index: i, PublicIP: ip, PrivateIP: fmt.Sprintf("10.8.0.%d", 11+i)})
		}
		j.Resources = append(j.Resources, &state.Resource{Kind: state.KindNetwork, ID: "vlan_1", Attrs: map[string]string{vlanAttr: "2085"}})
	}); err != nil {
		t.Fatal(err)
	}
	return w
}

// journal loads the cluster's journal from disk.
func (w *talosWorld) journal() (*state.Cluster, *state.Journal) {
	w.t.Helper()
	c, err := state.Open(w.root, "demo", false)
	if err != nil {
		w.t.Fatal(err)
	}
	j, err := c.Load()
	if err != nil {
		w.t.Fatal(err)
	}
	return c, j
}

// run runs the talos and kubernetes steps.
func (w *talosWorld) run(ctx context.Context, events events.Sink) (*pipeline.Run, error) {
	return w.runSteps(ctx, events, talosStep{}, kubernetesStep{})
}

// runSteps loads the journal from disk, as a fresh `cto deploy` would, and
// runs steps.
func (w *talosWorld) runSteps(ctx context.Context, events events.Sink, steps ...pipeline.Step) (*pipeline.Run, error) {
	c, j := w.journal()
	opts := pipeline.TalosOptions{NodeTimeout: 5 * time.Second, Poll: 20 * time.Millisecond, ApplyTimeout: 300 * time.Millisecond}
	if w.opts != nil {
		opts = *w.opts
	}
	opts.APIPort = w.port
	r := &pipeline.Run{Cluster: c, Journal: j, Events: events, Clock: w.clock, Deps: &pipeline.Deps{Spec: w.spec, Provider: w.provider, Talos: opts}}
	e := &pipeline.Engine{Steps: steps}
	return r, e.Execute(ctx, r, pipeline.Options{})
}

func (w *talosWorld) bootstrapCalls() int {
	total := 0
	for _, n := range w.nodes {
		total += n.BootstrapCalls()
	}
	return total
}

func TestTalosAndKubernetesStepsResumeAfterInterruption(t *testing.T) {
	w := newTalosWorld(t, 3)
	w.nodes[1].Faults.ApplyHangs = true // "maybe applied", then proven

	// First run: stop as soon as one node is configured.
	ctx, cancel := context.WithCancel(context.Background())
	var once sync.Once
	_, err := w.run(ctx, events.SinkFunc(func(e events.Event) {
		if e.Type == events.NodeUpdate && e.Status == "configured" {
			once.Do(cancel)
		}
	}))
	cancel()
	if !errors.Is(err, pipeline.ErrStopped) && !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: got %v, want a stop", err)
	}
	secretsBefore, err := os.ReadFile(w.root + "/clusters/demo/secrets.yaml")
	if err != nil {
		t.Fatalf("secrets not stored before nodes were touched: %v", err)
	}
	if n := w.bootstrapCalls(); n != 0 {
		t.Fatalf("bootstrap called %d times during the talos step", n)
	}
	_, j := w.journal()
	configured := 0
	for _, n := range j.NodesCopy() {
		if n.Configured {
			configured++
		}
	}
	if configured == 0 || configured == len(w.nodes) {
		t.Fatalf("interrupted run configured %d of %d nodes; the test wants it stopped midway", configured, len(w.nodes))
	}

	// Second run, fresh from disk: finishes.
	r, err := w.run(context.Background(), events.Discard)
	if err != nil {
		t.Fatalf("resumed run: %v", err)
	}
	for _, n := range r.Journal.NodesCopy() {
		if !n.Configured {
			t.Errorf("node %s not marked configured", n.Name)
		}
	}
	// Every node proves our config over mutual TLS.
	client, err := TalosClient(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range w.nodes {
		if _, err := client.Version(context.Background(), n.Addr()); err != nil {
			t.Errorf("%s: authenticated Version failed: %v", n.Name, err)
		}
		if n.Config() == nil {
			t.Errorf("%s has no config", n.Name)
		}
	}
	if n := w.bootstrapCalls(); n != 1 {
		t.Errorf("bootstrap calls = %d, want exactly 1", n)
	}
	if r.Journal.FactsCopy().Bootstrap != "done" {
		t.Errorf("bootstrap fact = %q", r.Journal.FactsCopy().Bootstrap)
	}

	// A third run redoes nothing: bootstrap stays at one call.
	for _, name := range []string{StepTalos, StepKubernetes} {
		r.Journal.Update(func(j *state.Journal) { j.Steps[name].Status = state.StepFailed })
	}
	if _, err := w.run(context.Background(), events.Discard); err != nil {
		t.Fatalf("third run: %v", err)
	}
	if n := w.bootstrapCalls(); n != 1 {
		t.Errorf("bootstrap calls after a rerun = %d, want still 1", n)
	}

	secretsAfter, _ := os.ReadFile(w.root + "/clusters/demo/secrets.yaml")
	if !bytes.Equal(secretsBefore, secretsAfter) {
		t.Error("secrets.yaml changed across reruns")
	}
	for _, f := range []string{"secrets.yaml", "kubeconfig", "talosconfig"} {
		fi, err := os.Stat(w.root + "/clusters/demo/" + f)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %o, want 600", f, fi.Mode().Perm())
		}
	}
	kc, _ := os.ReadFile(w.root + "/clusters/demo/kubeconfig")
	if !strings.Contains(string(kc), "server: https://127.0.0.1:6443") {
		t.Errorf("kubeconfig does not point at the configured server:\n%s", kc)
	}
	tc, err := clientconfig.Open(w.root + "/clusters/demo/talosconfig")
	if err != nil {
		t.Fatal(err)
	}
	ctxCfg := tc.Contexts[tc.Context]
	if len(ctxCfg.Nodes) != 0 {
		t.Errorf("talosconfig has default nodes %v", ctxCfg.Nodes)
	}
	if len(ctxCfg.Endpoints) != 3 {
		t.Errorf("talosconfig endpoints = %v, want the 3 control planes", ctxCfg.Endpoints)
	}
}

func TestTalosStepReportsNodeConfiguredByOthers(t *testing.T) {
	w := newTalosWorld(t, 1)
	// Someone applies a config made from other secrets before cto does.
	other, _, err := talos.NewSecrets("")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := talos.Generate(talos.ClusterInput{Name: "intruder", Endpoint: "198.51.100.1", PrivateCIDR: "10.8.0.0/24", Secrets: other},
		talos.NodeInput{Name: "x", Role: talos.RoleControlPlane, PrivateIP: "10.8.0.5", InstallImage: "factory.talos.dev/metal-installer/x:v1.13.9", Disk: talos.Disk{Serial: "S"}})
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := talos.ParseConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.nodes[0].Configure(parsed); err != nil {
		t.Fatal(err)
	}
	_, err = w.run(context.Background(), events.Discard)
	var foreign *talos.ForeignConfigError
	if !errors.As(err, &foreign) {
		t.Fatalf("got %v, want a ForeignConfigError", err)
	}
	ip := strings.Split(w.nodes[0].Addr(), ":")[0]
	if !strings.Contains(err.Error(), "demo-cp1") || !strings.Contains(err.Error(), ip) {
		t.Errorf("error does not name the node and its IP: %v", err)
	}
}

func TestTalosStepReportsNodeThatNeverLeavesMaintenance(t *testing.T) {
	w := newTalosWorld(t, 1)
	w.nodes[0].Faults.StayInMaintenance = true
	_, err := w.run(context.Background(), events.Discard)
	ip := strings.Split(w.nodes[0].Addr(), ":")[0]
	if err == nil || !strings.Contains(err.Error(), "demo-cp1") || !strings.Contains(err.Error(), ip) {
		t.Fatalf("got %v, want an error naming demo-cp1 and %s", err, ip)
	}
}

func TestTalosStepsSkipWithoutMachines(t *testing.T) {
	for _, p := range []string{"local", "existing"} {
		r := &pipeline.Run{Deps: &pipeline.Deps{Spec: spec.ClusterSpec{Provider: p}}}
		if _, skip := (talosStep{}).Skip(r); !skip {
			t.Errorf("talos step runs for provider %s", p)
		}
		// kind brings its own Kubernetes: the kubernetes step creates it.
		if _, skip := (kubernetesStep{}).Skip(r); skip != (p == "existing") {
			t.Errorf("kubernetes step for provider %s: skip=%v", p, skip)
		}
	}
}
