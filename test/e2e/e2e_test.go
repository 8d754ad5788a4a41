// Package e2e drives the built cto binary against a simulated datacenter
// (test/sim): whole deploys, status, destroy and resume after a kill.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/cto-platform/cto/internal/platform"
	"github.com/cto-platform/cto/test/kubeenv"
	"github.com/cto-platform/cto/test/sim"
)

// ctoBin is the cto binary TestMain builds once for the package.
var ctoBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "cto-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ctoBin = filepath.Join(dir, "cto")
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	build := exec.Command("go", "build", "-o", ctoBin, "./cmd/cto")
	build.Dir = root
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build cto:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// world is one simulated datacenter and a user's home pointed at it.
type world struct {
	t    *testing.T
	sim  *sim.Sim
	home string // $HOME, with CTO_HOME and KUBECONFIG inside
}

// newWorld starts a datacenter for the test. Without the test Kubernetes
// binaries the test fails under CI=true and is skipped elsewhere.
func newWorld(t *testing.T, opts sim.Options) *world {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	s, err := sim.Start(ctx, opts)
	if errors.Is(err, kubeenv.ErrNoBinaries) && os.Getenv("CI") != "true" && os.Getenv("CI") != "1" {
		t.Skipf("no test Kubernetes API: %v (run scripts/kubeenv.sh, or set CTO_KUBEENV_BIN)", err)
	}
	if err != nil {
		t.Fatalf("start the simulated datacenter: %v", err)
	}
	t.Cleanup(s.Close)
	return &world{t: t, sim: s, home: t.TempDir()}
}

func (w *world) env() []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + w.home, "CTO_HOME=" + filepath.Join(w.home, ".cto"),
		"KUBECONFIG=" + filepath.Join(w.home, ".kube", "config"), "TERM=dumb"}
	return append(env, w.sim.Env()...)
}

func (w *world) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, ctoBin, args...)
	cmd.Env = w.env()
	return cmd
}

// cto runs the binary to its end.
func (w *world) cto(args ...string) (code int, stdout, stderr string) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	cmd := w.command(ctx, args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		w.t.Fatalf("run cto %v: %v", args, err)
	}
	return code, out.String(), errOut.String()
}

func (w *world) clusterFile(cluster, name string) string {
	return filepath.Join(w.home, ".cto", "clusters", cluster, name)
}

// deployArgs is a Latitude deploy of the simulated datacenter.
func deployArgs(name, profile string, nodes int, extra ...string) []string {
	return append([]string{"deploy", "--provider", "latitude", "--name", name, "--plan", "c2-small-x86",
		"--nodes", fmt.Sprint(nodes), "--region", "DAL", "--profile", profile, "--yes"}, extra...)
}

// checkCluster asserts a finished deploy: the servers, one bootstrap, the
// profile's components healthy, Ready nodes, the kubeconfig working and
// the credentials private.
func (w *world) checkCluster(name, profile string, nodes, controlPlanes int) {
	t := w.t
	t.Helper()
	st := w.sim.State()
	if len(st.Latitude.Servers) != nodes {
		t.Fatalf("the datacenter has %d servers, want %d", len(st.Latitude.Servers), nodes)
	}
	if len(st.Latitude.Networks) != 1 || len(st.Latitude.Assignments) != nodes {
		t.Errorf("the datacenter has %d VLANs and %d assignments, want 1 and %d", len(st.Latitude.Networks), len(st.Latitude.Assignments), nodes)
	}
	for _, s := range st.Latitude.Servers {
		if s.Status != "on" || !contains(s.Tags, name) {
			t.Errorf("server %s: status %s, tags %v; want on, tagged %s", s.Hostname, s.Status, s.Tags, name)
		}
	}
	if st.Bootstraps != 1 {
		t.Errorf("%d nodes started etcd, want exactly 1", st.Bootstraps)
	}
	cps := 0
	for _, n := range st.Nodes {
		if n.Running && !n.Configured {
			t.Errorf("node %s is still in maintenance mode", n.Hostname)
		}
		if n.Running && n.Role == "controlplane" {
			cps++
		}
	}
	if cps != controlPlanes {
		t.Errorf("%d control planes run, want %d", cps, controlPlanes)
	}

	// The kubeconfig cto wrote works.
	kubeconfig := w.clusterFile(name, "kubeconfig")
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatalf("kubeconfig: %v", err)
	}
	kube := kubernetes.NewForConfigOrDie(cfg)
	ctx := context.Background()
	ns, err := kube.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil || len(ns.Items) == 0 {
		t.Fatalf("list namespaces through %s: %v", kubeconfig, err)
	}
	// The datacenter's kubelets report within a few of its passes.
	ready := 0
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		list, err := kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ready = 0
		for _, n := range list.Items {
			if !strings.HasPrefix(n.Name, name+"-") {
				continue
			}
			for _, c := range n.Status.Conditions {
				if c.Type == "Ready" && c.Status == "True" {
					ready++
				}
			}
		}
		if ready == nodes || time.Now().After(deadline) {
			break
		}
	}
	if ready != nodes {
		t.Errorf("%d Ready nodes of %s, want %d", ready, name, nodes)
	}

	// The profile's components: Helm releases for the bootstrap ones,
	// Synced and Healthy Applications for the rest.
	comps, err := platform.SelectComponents(platform.Selection{Profile: profile, Talos: true})
	if err != nil {
		t.Fatal(err)
	}
	dyn := dynamic.NewForConfigOrDie(cfg)
	for _, c := range comps {
		if c.Bootstrap {
			secrets, err := kube.CoreV1().Secrets(c.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "owner=helm,name=" + c.Name})
			if err != nil || len(secrets.Items) == 0 {
				t.Errorf("no Helm release %s in %s: %v", c.Name, c.Namespace, err)
			}
			continue
		}
		app, err := dyn.Resource(platform.ApplicationGVR).Namespace("argocd").Get(ctx, c.Name, metav1.GetOptions{})
		if err != nil {
			t.Errorf("Application %s: %v", c.Name, err)
			continue
		}
		sync, _, _ := unstructured.NestedString(app.Object, "status", "sync", "status")
		health, _, _ := unstructured.NestedString(app.Object, "status", "health", "status")
		if sync != "Synced" || health != "Healthy" {
			t.Errorf("Application %s: %s/%s, want Synced/Healthy", c.Name, sync, health)
		}
	}

	for _, f := range []string{"credentials.json", "kubeconfig", "talosconfig", "secrets.yaml"} {
		fi, err := os.Stat(w.clusterFile(name, f))
		if err != nil {
			t.Errorf("%s: %v", f, err)
		} else if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, fi.Mode().Perm())
		}
	}
}

// destroy removes the cluster and checks the datacenter is empty.
func (w *world) destroy(name string, extra ...string) {
	t := w.t
	t.Helper()
	code, stdout, stderr := w.cto(append([]string{"destroy", "--name", name, "--yes"}, extra...)...)
	if code != 0 {
		t.Fatalf("destroy exit %d\n%s%s", code, stdout, stderr)
	}
	if contains(extra, "json") {
		checkEvents(t, stdout)
	}
	st := w.sim.State()
	if len(st.Latitude.Servers) != 0 || len(st.Latitude.Networks) != 0 || len(st.Latitude.Assignments) != 0 {
		t.Errorf("after destroy the datacenter has %d servers, %d VLANs, %d assignments",
			len(st.Latitude.Servers), len(st.Latitude.Networks), len(st.Latitude.Assignments))
	}
	if _, err := os.Stat(filepath.Join(w.home, ".cto", "clusters", name)); !os.IsNotExist(err) {
		t.Errorf("the cluster's folder is left after destroy: %v", err)
	}
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func TestMinimalOneNode(t *testing.T) {
	w := newWorld(t, sim.Options{})
	code, stdout, stderr := w.cto(append(deployArgs("solo", "minimal", 1), "-o", "json")...)
	if code != 0 {
		t.Fatalf("deploy exit %d\n%s%s", code, stdout, stderr)
	}
	// -o json: every line of standard output is an event with a time and a
	// type, and every step's events name the step.
	steps, summary := checkEvents(t, stdout)
	for _, s := range []string{"validate", "servers", "network", "talos", "kubernetes", "platform", "credentials"} {
		if !steps[s] {
			t.Errorf("no step_finished event for %s", s)
		}
	}
	if summary == nil || summary["cluster"] != "solo" || summary["cost_monthly"] == nil {
		t.Errorf("summary object = %v", summary)
	}
	w.checkCluster("solo", "minimal", 1, 1)

	code, stdout, stderr = w.cto("status", "--name", "solo")
	if code != 0 {
		t.Fatalf("status exit %d\n%s%s", code, stdout, stderr)
	}
	for _, want := range []string{"credentials  done", "dns          skipped", "solo-cp1", "argo-cd", "Healthy"} {
		if !strings.Contains(stdout+stderr, want) {
			t.Errorf("status does not show %q:\n%s%s", want, stdout, stderr)
		}
	}
	// The journal keeps each resource's latest status, not its first.
	code, stdout, stderr = w.cto("status", "--name", "solo", "-o", "json")
	var st struct {
		Resources []struct{ Kind, Status string }
	}
	if err := json.Unmarshal([]byte(stdout), &st); code != 0 || err != nil {
		t.Fatalf("status -o json exit %d: %v\n%s%s", code, err, stdout, stderr)
	}
	want := map[string]string{"server": "on", "network_assignment": "connected"}
	for _, r := range st.Resources {
		if w, ok := want[r.Kind]; ok && r.Status != w {
			t.Errorf("status shows %s %q, want %q", r.Kind, r.Status, w)
		}
	}
	w.destroy("solo")
}

func TestStandardThreeNodesWithDNS(t *testing.T) {
	w := newWorld(t, sim.Options{})
	code, stdout, stderr := w.cto(deployArgs("std", "standard", 3, "--domain", "example.test", "--dns-provider", "cloudflare", "--merge-kubeconfig")...)
	if code != 0 {
		t.Fatalf("deploy exit %d\n%s%s", code, stdout, stderr)
	}
	out := stdout + stderr
	for _, want := range []string{`Cluster "std" is ready`, "std-cp1", "std-worker1", "std-worker2", "per month", "kubeconfig:", "Kubernetes API name: api.std.example.test"} {
		if !strings.Contains(out, want) {
			t.Errorf("the summary does not show %q:\n%s", want, out)
		}
	}
	w.checkCluster("std", "standard", 3, 1)
	if len(w.sim.DNS().Records(w.sim.Zone())) == 0 {
		t.Errorf("no DNS record in %s after a deploy with --domain", w.sim.Zone())
	}
	kube, err := os.ReadFile(filepath.Join(w.home, ".kube", "config"))
	if err != nil || !strings.Contains(string(kube), "std") {
		t.Errorf("the user's kubeconfig has no context of std: %v\n%s", err, kube)
	}

	w.destroy("std", "-o", "json")
	if recs := w.sim.DNS().Records(w.sim.Zone()); len(recs) != 0 {
		t.Errorf("DNS records left after destroy: %+v", recs)
	}
	kube, _ = os.ReadFile(filepath.Join(w.home, ".kube", "config"))
	if strings.Contains(string(kube), "std") {
		t.Errorf("the user's kubeconfig still names std after destroy:\n%s", kube)
	}
}

func TestProductionHighAvailability(t *testing.T) {
	w := newWorld(t, sim.Options{})
	code, stdout, stderr := w.cto(deployArgs("prod", "production", 6)...)
	if code != 0 {
		t.Fatalf("deploy exit %d\n%s%s", code, stdout, stderr)
	}
	w.checkCluster("prod", "production", 6, 3)
	// The three control planes share a VIP on the private VLAN.
	for i := 1; i <= 3; i++ {
		n := w.sim.Node(fmt.Sprintf("prod-cp%d", i))
		if n == nil || n.Config() == nil {
			t.Fatalf("prod-cp%d has no config", i)
		}
		doc, err := n.Config().Bytes()
		if err != nil {
			t.Fatal(err)
		}
		vip := strings.Contains(string(doc), "kind: Layer2VIPConfig")
		if !vip {
			t.Errorf("prod-cp%d's config has no VIP", i)
		}
	}
	w.destroy("prod")
}

// checkEvents parses -o json output: every line an object with a time and
// an event type. It returns the steps that finished and the summary.
func checkEvents(t *testing.T, stdout string) (finished map[string]bool, summary map[string]any) {
	t.Helper()
	finished = map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(stdout))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e map[string]any
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("stdout line is not JSON: %q: %v", sc.Text(), err)
		}
		if e["event"] == "summary" {
			summary = e
			continue
		}
		at, err := time.Parse(time.RFC3339, fmt.Sprint(e["time"]))
		if err != nil || at.Year() < 2000 || e["event"] == nil || e["step"] == nil {
			t.Errorf("event without time, type or step: %v", e)
		}
		if step, _ := e["step"].(string); step != "" && e["event"] == "step_finished" {
			finished[step] = true
		}
	}
	return finished, summary
}
