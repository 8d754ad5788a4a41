// Package existing drives `cto deploy --provider existing` in-process against
// a real cluster (kube-apiserver, controller manager, scheduler, KWOK
// nodes) with the doubles of the platform's controllers.
package existing

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/cto-platform/cto/internal/cli"
	"github.com/cto-platform/cto/internal/deploy"
	"github.com/cto-platform/cto/internal/events"
	"github.com/cto-platform/cto/internal/kubeconfig"
	"github.com/cto-platform/cto/internal/license"
	"github.com/cto-platform/cto/internal/license/licensetest"
	"github.com/cto-platform/cto/internal/pipeline"
	"github.com/cto-platform/cto/internal/platform"
	"github.com/cto-platform/cto/internal/platform/platformtest"
	"github.com/cto-platform/cto/internal/spec"
	"github.com/cto-platform/cto/internal/state"
	"github.com/cto-platform/cto/test/controllers"
	"github.com/cto-platform/cto/test/controllers/argocd"
	"github.com/cto-platform/cto/test/kubeenv"
)

func TestMain(m *testing.M) { kubeenv.Main(m) }

type harness struct {
	t        *testing.T
	env      *kubeenv.Env
	stateDir string
	mirror   string
	kube     kubernetes.Interface
	dyn      dynamic.Interface
	license  string
}

func newHarness(t *testing.T) *harness {
	env := kubeenv.Require(t)
	cfg := env.RESTConfig(t)
	controllers.ForTest(t, env, argocd.Options{})
	// The user's kubeconfig lives in the test's folder.
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "kube", "config"))
	return &harness{
		t: t, env: env, stateDir: t.TempDir(), mirror: platformtest.ServeMirror(t).URL,
		kube: kubernetes.NewForConfigOrDie(cfg), dyn: dynamic.NewForConfigOrDie(cfg),
		license: licensetest.Valid(t, "L-test", license.Team),
	}
}

// cto runs the command in-process and returns its exit code and output.
func (h *harness) cto(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	args = append([]string{"--state-dir", h.stateDir}, args...)
	code = cli.Run(context.Background(), cli.Streams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}, args)
	return code, out.String(), errOut.String()
}

func (h *harness) deploy(name, profile string, extra ...string) (int, string) {
	args := append([]string{"deploy", "--name", name, "--provider", "existing", "--kubeconfig", h.env.Kubeconfig,
		"--profile", profile, "--chart-mirror", h.mirror, "--license", h.license, "--yes"}, extra...)
	code, _, stderr := h.cto(args...)
	return code, stderr
}

func (h *harness) clusterFile(cluster, name string) string {
	return filepath.Join(h.stateDir, "clusters", cluster, name)
}

func (h *harness) applications() map[string]*unstructured.Unstructured {
	list, err := h.dyn.Resource(platform.ApplicationGVR).Namespace("argocd").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[string]*unstructured.Unstructured{}
	for i := range list.Items {
		out[list.Items[i].GetName()] = &list.Items[i]
	}
	return out
}

// resourceVersions snapshots what a deploy owns in the cluster, once the
// cluster's controllers have settled (two looks a second apart agree).
func (h *harness) resourceVersions() map[string]string {
	h.t.Helper()
	var last map[string]string
	for try := 0; try < 30; try++ {
		v, err := h.env.ResourceVersions(context.Background())
		if err != nil {
			h.t.Fatal(err)
		}
		if maps.Equal(v, last) {
			return v
		}
		last = v
		time.Sleep(time.Second)
	}
	h.t.Fatal("the cluster did not settle in 30s")
	return nil
}

// wantApplications checks the Applications are exactly a profile's, at the
// catalog's versions, from the mirror.
func (h *harness) wantApplications(profile string) {
	h.t.Helper()
	cat, err := platform.LoadCatalog()
	if err != nil {
		h.t.Fatal(err)
	}
	comps, err := cat.Select(platform.Selection{Profile: profile})
	if err != nil {
		h.t.Fatal(err)
	}
	apps := h.applications()
	var want, got []string
	for _, c := range comps {
		if c.Bootstrap {
			continue
		}
		want = append(want, c.Name)
		app := apps[c.Name]
		if app == nil {
			continue
		}
		src, _, _ := unstructured.NestedMap(app.Object, "spec", "source")
		if src["targetRevision"] != c.Version || src["chart"] != c.Chart || src["repoURL"] != h.mirror {
			h.t.Errorf("Application %s source = %v, want %s %s from %s", c.Name, src, c.Chart, c.Version, h.mirror)
		}
	}
	for n := range apps {
		got = append(got, n)
	}
	sort.Strings(want)
	sort.Strings(got)
	if !slices.Equal(got, want) {
		h.t.Fatalf("Applications = %v\nwant %v", got, want)
	}
}

func TestDeployExistingMinimalThenStandard(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()

	code, stderr := h.deploy("lab", "minimal", "--github-repo", "acme/widgets")
	if code != 0 {
		t.Fatalf("deploy exit %d:\n%s", code, stderr)
	}
	for _, skipped := range []string{"[servers] skipped", "[network] skipped", "[talos] skipped", "[kubernetes] skipped", "[dns] skipped"} {
		if !strings.Contains(stderr, skipped) {
			t.Errorf("output lacks %q:\n%s", skipped, stderr)
		}
	}
	if !strings.Contains(stderr, "argo-workflows: ready") {
		t.Errorf("no per-component progress in the output:\n%s", stderr)
	}

	// Argo CD through Helm, no Cilium on an existing cluster.
	rel, err := h.kube.CoreV1().Secrets("argocd").List(ctx, metav1.ListOptions{LabelSelector: "owner=helm,name=argo-cd,status=deployed"})
	if err != nil || len(rel.Items) != 1 {
		t.Fatalf("argo-cd release: %v %d", err, len(rel.Items))
	}
	cil, _ := h.kube.CoreV1().Secrets("kube-system").List(ctx, metav1.ListOptions{LabelSelector: "owner=helm,name=cilium"})
	if len(cil.Items) != 0 {
		t.Fatal("Cilium was installed on an existing cluster")
	}
	for _, ns := range []string{"argocd", "cto", "automation", "cert-manager", "local-path-storage"} {
		if _, err := h.kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err != nil {
			t.Errorf("namespace %s: %v", ns, err)
		}
	}
	if _, err := h.dyn.Resource(platform.AppProjectGVR).Namespace("argocd").Get(ctx, "platform", metav1.GetOptions{}); err != nil {
		t.Fatalf("AppProject platform: %v", err)
	}
	h.wantApplications("minimal")

	// cto-config.json, in the folder and the cluster.
	cfgData, err := os.ReadFile(h.clusterFile("lab", "cto-config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg platform.Config
	if err := json.Unmarshal(cfgData, &cfg); err != nil {
		t.Fatal(err)
	}
	minimal, err := platform.SelectComponents(platform.Selection{Profile: "minimal"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Cluster.Name != "lab" || cfg.Cluster.Profile != "minimal" || cfg.Cluster.Provider != "existing" || cfg.GitHub.Org != "acme" || cfg.GitHub.Repo != "widgets" || len(cfg.Components) != len(minimal) {
		t.Fatalf("cto-config.json = %s", cfgData)
	}
	cm, err := h.kube.CoreV1().ConfigMaps("cto").Get(ctx, "cto-config", metav1.GetOptions{})
	if err != nil || cm.Data["cto-config.json"] != string(cfgData) {
		t.Fatalf("ConfigMap cto/cto-config: %v %v", err, cm)
	}

	// credentials.json: 0600, URLs, the password from Argo CD's secret,
	// which the output never shows.
	credPath := h.clusterFile("lab", "credentials.json")
	st, err := os.Stat(credPath)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("credentials.json: %v %v", err, st)
	}
	var creds struct {
		URLs   map[string]string `json:"urls"`
		Logins map[string]struct {
			Username, Password string
		} `json:"logins"`
		PortForward map[string]string `json:"port_forward"`
	}
	data, _ := os.ReadFile(credPath)
	if err := json.Unmarshal(data, &creds); err != nil {
		t.Fatal(err)
	}
	secret, err := h.kube.CoreV1().Secrets("argocd").Get(ctx, "argocd-initial-admin-secret", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	password := string(secret.Data["password"])
	if creds.Logins["Argo CD"].Password != password || creds.Logins["Argo CD"].Username != "admin" {
		t.Fatalf("Argo CD login = %+v", creds.Logins["Argo CD"])
	}
	if creds.URLs["Argo CD"] == "" || !strings.Contains(creds.PortForward["Argo CD"], "port-forward svc/argocd-server") {
		t.Fatalf("no Argo CD URL or port-forward: %s", data)
	}
	if strings.Contains(stderr, password) {
		t.Fatal("deploy printed the Argo CD password")
	}
	if !strings.Contains(stderr, "password in "+credPath) {
		t.Errorf("the output does not say where the password is:\n%s", stderr)
	}
	if _, err := os.Stat(os.Getenv("KUBECONFIG")); err == nil {
		t.Fatal("the user's kubeconfig was written without --merge-kubeconfig")
	}

	// A second run changes nothing.
	before := h.resourceVersions()
	if code, stderr := h.deploy("lab", "minimal", "--github-repo", "acme/widgets"); code != 0 {
		t.Fatalf("second deploy exit %d:\n%s", code, stderr)
	}
	after := h.resourceVersions()
	for k, v := range before {
		if after[k] != v {
			t.Errorf("second deploy changed %s (%s -> %s)", k, v, after[k])
		}
	}
	if len(after) != len(before) {
		t.Errorf("second deploy created objects: %d -> %d", len(before), len(after))
	}

	// status shows the components' health, and secrets only when asked.
	code, out, _ := h.cto("status", "--name", "lab")
	if code != 0 || !strings.Contains(out, "argo-workflows") || !strings.Contains(out, "Healthy") || strings.Contains(out, password) {
		t.Fatalf("status exit %d:\n%s", code, out)
	}
	code, out, _ = h.cto("status", "--name", "lab", "--show-credentials")
	if code != 0 || !strings.Contains(out, password) {
		t.Fatalf("status --show-credentials exit %d lacks the password:\n%s", code, out)
	}

	// The standard profile, as another cluster record on the same cluster.
	if code, stderr := h.deploy("lab-standard", "standard"); code != 0 {
		t.Fatalf("standard deploy exit %d:\n%s", code, stderr)
	}
	h.wantApplications("standard")
	if _, err := h.kube.CoreV1().Namespaces().Get(ctx, "observability", metav1.GetOptions{}); err != nil {
		t.Fatalf("namespace observability: %v", err)
	}
}

// A component whose pods the cluster refuses makes the deploy stop at its
// timeout naming the component, its object and the cluster's reason, and
// only it; with the cause gone a rerun finishes.
func TestDeployTimesOutNamingTheComponent(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	if err := h.env.RefusePods(ctx, "external-secrets"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.env.AllowPods(context.Background(), "external-secrets") })
	code, stderr := h.deploy("slow", "standard", "--timeout", "45s")
	if code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", code, stderr)
	}
	for _, want := range []string{"external-secrets: sync Synced, health Progressing", "Deployment external-secrets/", "exceeded quota"} {
		if !strings.Contains(stderr, want) {
			t.Fatalf("the error does not say %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, "prometheus: sync") {
		t.Fatalf("the error names more than the refused component:\n%s", stderr)
	}
	if err := h.env.AllowPods(ctx, "external-secrets"); err != nil {
		t.Fatal(err)
	}
	if code, stderr := h.deploy("slow", "standard", "--timeout", "2m"); code != 0 {
		t.Fatalf("rerun exit %d:\n%s", code, stderr)
	}
}

func TestDeployNamesAChartThatCannotBeFetched(t *testing.T) {
	h := newHarness(t)
	h.mirror = "http://127.0.0.1:1/charts"
	// Production values differ from any earlier release, so the argo-cd
	// chart must be fetched.
	code, stderr := h.deploy("offline", "production")
	if code != 1 || !strings.Contains(stderr, "http://127.0.0.1:1/charts/index.yaml") {
		t.Fatalf("exit %d, want 1 naming the index URL:\n%s", code, stderr)
	}
}

func TestDeployDryRunCreatesNothing(t *testing.T) {
	h := newHarness(t)
	before := h.resourceVersions()
	code, stderr := h.deploy("dry", "standard", "--dry-run")
	if code != 0 {
		t.Fatalf("dry run exit %d:\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "would install grafana grafana 12.11.1 from "+h.mirror) {
		t.Fatalf("the dry run does not list the components:\n%s", stderr)
	}
	after := h.resourceVersions()
	if len(after) != len(before) {
		t.Fatalf("the dry run changed the cluster: %d objects -> %d", len(before), len(after))
	}
	for k, v := range before {
		if after[k] != v {
			t.Fatalf("the dry run changed %s", k)
		}
	}
}

func TestDeployRefusesAnUnreachableKubeconfig(t *testing.T) {
	h := newHarness(t)
	dead := filepath.Join(t.TempDir(), "dead.kubeconfig")
	cfg := "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: 'https://127.0.0.1:1'}\nusers:\n- name: u\n  user: {token: secret-token}\ncontexts:\n- name: c\n  context: {cluster: c, user: u}\ncurrent-context: c\n"
	if err := os.WriteFile(dead, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	h.env = &kubeenv.Env{Kubeconfig: dead}
	code, stderr := h.deploy("unreachable", "minimal")
	if code != 1 || !strings.Contains(stderr, "cannot reach the cluster of kubeconfig "+dead+" at https://127.0.0.1:1") {
		t.Fatalf("exit %d, want 1 naming the kubeconfig and server:\n%s", code, stderr)
	}
	if strings.Contains(stderr, "secret-token") {
		t.Fatal("the kubeconfig's token reached the output")
	}
}

func TestKubeconfigMergeAndDestroy(t *testing.T) {
	h := newHarness(t)
	userConfig := os.Getenv("KUBECONFIG")
	if err := os.MkdirAll(filepath.Dir(userConfig), 0o700); err != nil {
		t.Fatal(err)
	}
	own := "apiVersion: v1\nkind: Config\nclusters:\n- name: home\n  cluster: {server: 'https://home.example:6443'}\nusers:\n- name: me\n  user: {token: t}\ncontexts:\n- name: home\n  context: {cluster: home, user: me}\ncurrent-context: home\n"
	if err := os.WriteFile(userConfig, []byte(own), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, stderr := h.deploy("merged", "minimal", "--merge-kubeconfig"); code != 0 {
		t.Fatalf("deploy exit %d:\n%s", code, stderr)
	}
	cfg, err := clientcmd.LoadFromFile(userConfig)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Contexts["cto-merged"] == nil || cfg.Contexts["home"] == nil || cfg.CurrentContext != "home" {
		t.Fatalf("contexts after merge: %v, current %s", cfg.Contexts, cfg.CurrentContext)
	}
	if cfg.Clusters["cto-merged"].Server != h.env.Server {
		t.Fatalf("cto-merged points at %s", cfg.Clusters["cto-merged"].Server)
	}
	code, out, _ := h.cto("kubeconfig", "--name", "merged")
	if code != 0 || !strings.Contains(out, h.env.Server) {
		t.Fatalf("kubeconfig exit %d:\n%s", code, out)
	}
	if code, _, stderr := h.cto("destroy", "--name", "merged", "--yes"); code != 0 {
		t.Fatalf("destroy exit %d: %s", code, stderr)
	}
	cfg, err = clientcmd.LoadFromFile(userConfig)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Contexts["cto-merged"] != nil || cfg.Contexts["home"] == nil {
		t.Fatalf("contexts after destroy: %v", cfg.Contexts)
	}
}

// A Talos cluster resumes at the platform step once the kubernetes step has
// left its kubeconfig in the cluster's folder; Cilium comes first.
func TestTalosClusterResumesAtThePlatformStep(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	platformtest.UninstallAtCleanup(t, h.env.Kubeconfig, "kube-system", "cilium")
	c, err := state.Open(h.stateDir, "metal", true)
	if err != nil {
		t.Fatal(err)
	}
	j := state.NewJournal("metal")
	if err := c.Save(j); err != nil {
		t.Fatal(err)
	}
	if err := j.Update(func(j *state.Journal) {
		for _, s := range []string{deploy.StepValidate, deploy.StepServers, deploy.StepNetwork, deploy.StepTalos, deploy.StepKubernetes} {
			j.Steps[s] = &state.StepRecord{Status: state.StepDone}
		}
	}); err != nil {
		t.Fatal(err)
	}
	kc, err := os.ReadFile(h.env.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WriteSecret(kubeconfig.File, kc); err != nil {
		t.Fatal(err)
	}
	s := spec.Defaults()
	s.Name, s.Provider, s.Profile = "metal", "latitude", "minimal"
	s.Platform.ChartMirror = h.mirror
	s.Platform.Timeout = "1m"
	rec := &events.Recorder{}
	run := &pipeline.Run{Cluster: c, Journal: j, Events: rec, Deps: &pipeline.Deps{Spec: s, Yes: true}}
	// The steps after kubernetes, as a resume runs them.
	steps := deploy.Steps()
	steps = steps[slices.IndexFunc(steps, func(s pipeline.Step) bool { return s.Name() == deploy.StepPlatform }):]
	if err := (&pipeline.Engine{Steps: steps}).Execute(ctx, run, pipeline.Options{}); err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, e := range rec.Snapshot() {
		// Earlier tests may have installed Argo CD on this cluster already.
		if e.Type == events.NodeUpdate && (e.Status == "installed" || e.Status == "unchanged") {
			order = append(order, e.Node+" "+e.Status)
		}
	}
	if len(order) != 2 || order[0] != "cilium installed" || !strings.HasPrefix(order[1], "argo-cd ") {
		t.Fatalf("Helm releases = %v, want cilium installed, then argo-cd", order)
	}
	ds, err := h.kube.AppsV1().DaemonSets("kube-system").Get(ctx, "cilium", metav1.GetOptions{})
	if err != nil || ds.Status.NumberAvailable != 1 {
		t.Fatalf("cilium DaemonSet: %v", err)
	}
	if _, err := os.Stat(c.Path("credentials.json")); err != nil {
		t.Fatal(err)
	}
}
