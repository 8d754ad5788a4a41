package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/siderolabs/talos/pkg/machinery/config/types/network"

	"github.com/cto-platform/cto/internal/platform"
	"github.com/cto-platform/cto/test/sim"
	"github.com/cto-platform/cto/test/simworld"
)

func TestMain(m *testing.M) { simworld.Main(m, nil) }

// world is one simulated datacenter and a user's home pointed at it.
type world struct{ *simworld.World }

func newWorld(t *testing.T, opts sim.Options) *world { return &world{simworld.New(t, opts)} }

// checkCluster asserts a finished deploy: the servers, one bootstrap, the
// profile's components healthy, Ready nodes, the kubeconfig working and
// the credentials private.
func (w *world) checkCluster(name, profile string, nodes, controlPlanes int) {
	t := w.T
	t.Helper()
	st := w.Sim.State()
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
	w.checkPlatform(name, profile, nodes, controlPlanes)
}

// checkPlatform asserts what every provider's finished deploy shares: one
// bootstrap, the control planes, Ready nodes, the profile's components
// healthy, the kubeconfig working and the credentials private.
func (w *world) checkPlatform(name, profile string, nodes, controlPlanes int) {
	t := w.T
	t.Helper()
	st := w.Sim.State()
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
	kube := w.Kube(name)
	ctx := context.Background()
	ns, err := kube.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil || len(ns.Items) == 0 {
		t.Fatalf("list namespaces through %s: %v", w.ClusterFile(name, "kubeconfig"), err)
	}
	if ready := len(w.ReadyNodes(name, nodes)); ready != nodes {
		t.Errorf("%d Ready nodes of %s, want %d", ready, name, nodes)
	}
	// Control planes take workloads only when there is no worker to.
	list, err := kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range list.Items {
		if _, cp := n.Labels["node-role.kubernetes.io/control-plane"]; !cp || !strings.HasPrefix(n.Name, name+"-") {
			continue
		}
		tainted := slices.ContainsFunc(n.Spec.Taints, func(t corev1.Taint) bool { return t.Key == "node-role.kubernetes.io/control-plane" })
		if workers := nodes > controlPlanes; tainted != workers {
			t.Errorf("control plane %s: NoSchedule taint %v with %d workers", n.Name, tainted, nodes-controlPlanes)
		}
	}
	checkPods(t, kube)
	// Every node took its whole network config as a real one would.
	for _, n := range st.Nodes {
		if tn := w.Sim.Node(n.Hostname); n.Running && tn != nil && len(tn.Network().Problems) > 0 {
			t.Errorf("node %s refuses parts of its network config: %s", n.Hostname, strings.Join(tn.Network().Problems, "; "))
		}
	}

	// The profile's components: Helm releases for the bootstrap ones,
	// Synced and Healthy Applications for the rest.
	comps, err := platform.SelectComponents(platform.Selection{Profile: profile, Talos: true})
	if err != nil {
		t.Fatal(err)
	}
	dyn := dynamic.NewForConfigOrDie(w.KubeConfig(name))
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
		fi, err := os.Stat(w.ClusterFile(name, f))
		if err != nil {
			t.Errorf("%s: %v", f, err)
		} else if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, fi.Mode().Perm())
		}
	}
}

// destroy removes the cluster and checks the datacenter is empty.
func (w *world) destroy(name string, extra ...string) {
	t := w.T
	t.Helper()
	r := w.MustRun(append([]string{"destroy", "--name", name, "--yes"}, extra...)...)
	if contains(extra, "json") {
		checkEvents(t, r.Stdout)
	}
	st := w.Sim.State()
	if len(st.Latitude.Servers) != 0 || len(st.Latitude.Networks) != 0 || len(st.Latitude.Assignments) != 0 {
		t.Errorf("after destroy the datacenter has %d servers, %d VLANs, %d assignments",
			len(st.Latitude.Servers), len(st.Latitude.Networks), len(st.Latitude.Assignments))
	}
	if _, err := os.Stat(w.ClusterDir(name)); !os.IsNotExist(err) {
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
	r := w.MustRun(append(simworld.DeployArgs("solo", "minimal", 1), "-o", "json")...)
	// -o json: every line of standard output is an event with a time and a
	// type, and every step's events name the step.
	steps, summary := checkEvents(t, r.Stdout)
	for _, s := range []string{"validate", "servers", "network", "talos", "kubernetes", "platform", "credentials"} {
		if !steps[s] {
			t.Errorf("no step_finished event for %s", s)
		}
	}
	if summary == nil || summary["cluster"] != "solo" || summary["cost_monthly"] == nil {
		t.Errorf("summary object = %v", summary)
	}
	w.checkCluster("solo", "minimal", 1, 1)

	r = w.MustRun("status", "--name", "solo")
	cost := fmt.Sprintf("Estimated cost: %v %v per month", summary["cost_monthly"], summary["currency"])
	for _, want := range []string{"credentials  done", "dns          skipped", "solo-cp1", "argo-cd", "Healthy", cost} {
		if !strings.Contains(r.Stdout+r.Stderr, want) {
			t.Errorf("status does not show %q:\n%s%s", want, r.Stdout, r.Stderr)
		}
	}
	// The journal keeps each resource's latest status, not its first.
	r = w.Run("status", "--name", "solo", "-o", "json")
	var st struct {
		Resources   []struct{ Kind, Status string }
		CostMonthly string `json:"cost_monthly"`
		Currency    string
	}
	if err := json.Unmarshal([]byte(r.Stdout), &st); r.Code != 0 || err != nil {
		t.Fatalf("status -o json exit %d: %v\n%s%s", r.Code, err, r.Stdout, r.Stderr)
	}
	if st.CostMonthly == "" || st.CostMonthly != summary["cost_monthly"] || st.Currency != summary["currency"] {
		t.Errorf("status -o json shows cost %q %q, the deploy's summary %v %v", st.CostMonthly, st.Currency, summary["cost_monthly"], summary["currency"])
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
	r := w.MustRun(simworld.DeployArgs("std", "standard", 3, "--domain", "example.test", "--dns-provider", "cloudflare", "--merge-kubeconfig")...)
	out := r.Stdout + r.Stderr
	for _, want := range []string{`Cluster "std" is ready`, "std-cp1", "std-worker1", "std-worker2", "per month", "kubeconfig:", "Kubernetes API name: api.std.example.test"} {
		if !strings.Contains(out, want) {
			t.Errorf("the summary does not show %q:\n%s", want, out)
		}
	}
	w.checkCluster("std", "standard", 3, 1)
	// Each node pulled its installer from the Image Factory once.
	if pulls := w.Sim.Factory().Pulls(); len(pulls) != 1 || w.Sim.Factory().TotalPulls() != 3 {
		t.Errorf("installer pulls = %v, want one image pulled once by each of the 3 nodes", pulls)
	}
	if len(w.Sim.DNS().Records(w.Sim.Zone())) == 0 {
		t.Errorf("no DNS record in %s after a deploy with --domain", w.Sim.Zone())
	}
	kube, err := os.ReadFile(w.UserKubeconfig())
	if err != nil || !strings.Contains(string(kube), "std") {
		t.Errorf("the user's kubeconfig has no context of std: %v\n%s", err, kube)
	}

	w.destroy("std", "-o", "json")
	if recs := w.Sim.DNS().Records(w.Sim.Zone()); len(recs) != 0 {
		t.Errorf("DNS records left after destroy: %+v", recs)
	}
	kube, _ = os.ReadFile(w.UserKubeconfig())
	if strings.Contains(string(kube), "std") {
		t.Errorf("the user's kubeconfig still names std after destroy:\n%s", kube)
	}
}

func TestProductionHighAvailability(t *testing.T) {
	w := newWorld(t, sim.Options{})
	// Three control planes and two workers.
	out := w.MustRun(simworld.DeployArgs("prod", "production", 5)...)
	w.checkCluster("prod", "production", 5, 3)
	// Longhorn runs on every node: each installed its extensions.
	for _, n := range w.Sim.State().Nodes {
		if exts := nodeExtensions(t, w, n.Hostname); !slices.Contains(exts, "siderolabs/iscsi-tools") || !slices.Contains(exts, "siderolabs/util-linux-tools") {
			t.Errorf("%s installed extensions %v, want Longhorn's iscsi-tools and util-linux-tools", n.Hostname, exts)
		}
	}
	if !strings.Contains(out.Stderr, "virtual IP on the private network") {
		t.Errorf("the plan does not say the API endpoint is a VIP:\n%s", out.Stderr)
	}
	// The three control planes share a VIP on the private VLAN, and it is
	// the endpoint every node's config names.
	var vip string
	for i := 1; i <= 5; i++ {
		name := fmt.Sprintf("prod-cp%d", i)
		if i > 3 {
			name = fmt.Sprintf("prod-worker%d", i-3)
		}
		n := w.Sim.Node(name)
		if n == nil || n.Config() == nil {
			t.Fatalf("%s has no config", name)
		}
		if i <= 3 {
			for _, d := range n.Config().Documents() {
				if v, ok := d.(*network.Layer2VIPConfigV1Alpha1); ok {
					vip = v.VIP().String()
				}
			}
			if vip == "" {
				t.Fatalf("%s's config has no VIP", name)
			}
		}
		if got, want := n.Config().Cluster().Endpoint().String(), "https://"+net.JoinHostPort(vip, "6443"); got != want {
			t.Errorf("%s's cluster endpoint is %s, want the VIP's %s", name, got, want)
		}
	}

	// The kubeconfig reaches the API from outside through any control
	// plane: losing the one it names leaves the others' contexts working.
	path := w.ClusterFile("prod", "kubeconfig")
	raw, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	nodesVia := func(name string) error {
		cfg, err := clientcmd.NewNonInteractiveClientConfig(*raw, name, &clientcmd.ConfigOverrides{}, nil).ClientConfig()
		if err != nil {
			return err
		}
		cfg.Timeout = 5 * time.Second
		_, err = kubernetes.NewForConfigOrDie(cfg).CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
		return err
	}
	for i := 1; i <= 3; i++ {
		if _, ok := raw.Contexts[fmt.Sprintf("%s@prod-cp%d", raw.CurrentContext, i)]; !ok {
			t.Errorf("the kubeconfig has no context for prod-cp%d: %v", i, slices.Sorted(maps.Keys(raw.Contexts)))
		}
	}
	// Inside the cluster the endpoint is the VIP: one control plane
	// announces it, and when that one is lost another takes it over, so
	// the nodes keep reaching the API.
	addr := netip.MustParseAddr(vip)
	holder := w.Sim.VIPHolder(addr)
	if holder == "" {
		t.Fatalf("no control plane announces the VIP %s", vip)
	}
	if !w.Sim.LoseNode(holder) {
		t.Fatalf("%s was not running", holder)
	}
	next := w.Sim.VIPHolder(addr)
	if next == "" || next == holder {
		t.Errorf("%s held the VIP and is lost; the VIP is now held by %q, want another control plane", holder, next)
	}
	t.Logf("the VIP %s moved from %s to %s", vip, holder, next)
	if err := nodesVia(raw.CurrentContext + "@" + holder); err == nil {
		t.Errorf("%s is lost, yet its context still reaches the API", holder)
	}
	if err := nodesVia(raw.CurrentContext + "@" + next); err != nil {
		t.Errorf("with %s lost, %s's context does not reach the API: %v", holder, next, err)
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
