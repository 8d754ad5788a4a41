package platform_test

import (
	"context"
	"errors"
	"io/fs"
	"maps"
	"slices"
	"sort"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"helm.sh/helm/v4/pkg/release/common"
	release "helm.sh/helm/v4/pkg/release/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/cto-platform/cto/internal/platform"
	"github.com/cto-platform/cto/internal/platform/platformtest"
	"github.com/cto-platform/cto/test/controllers"
	"github.com/cto-platform/cto/test/controllers/argocd"
	"github.com/cto-platform/cto/test/kubeenv"
)

func TestMain(m *testing.M) { kubeenv.Main(m) }

type clients struct {
	kube kubernetes.Interface
	dyn  dynamic.Interface
}

func connect(t *testing.T, env *kubeenv.Env) clients {
	t.Helper()
	cfg := env.RESTConfig(t)
	return clients{kube: kubernetes.NewForConfigOrDie(cfg), dyn: dynamic.NewForConfigOrDie(cfg)}
}

// play readies the shared test cluster for installs (controllers.ForTest)
// and serves a chart mirror; it returns the cluster, its clients and the
// mirror.
func play(t *testing.T, opts argocd.Options) (*kubeenv.Env, clients, *platformtest.Mirror) {
	t.Helper()
	env := kubeenv.Require(t)
	c := connect(t, env)
	mirror := platformtest.ServeMirror(t)
	controllers.ForTest(t, env, opts)
	return env, c, mirror
}

func installer(t *testing.T, env *kubeenv.Env, mirror string, sel platform.Selection) *platform.Installer {
	t.Helper()
	in, err := platform.New(platform.Options{
		Kubeconfig: env.Kubeconfig, Selection: sel, ChartMirror: mirror,
		CacheDir: t.TempDir(), PollInterval: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// versions snapshots the resourceVersions of what an install owns, once
// the cluster's controllers have settled (two looks a second apart agree).
func versions(t *testing.T, env *kubeenv.Env) map[string]string {
	t.Helper()
	var last map[string]string
	for try := 0; try < 30; try++ {
		v, err := env.ResourceVersions(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if maps.Equal(v, last) {
			return v
		}
		last = v
		time.Sleep(time.Second)
	}
	t.Fatal("the cluster did not settle in 30s")
	return nil
}

func TestInstallOnTalosRunsCiliumThenArgoCD(t *testing.T) {
	env, c, mirror := play(t, argocd.Options{})
	ctx := context.Background()
	sel := platform.Selection{Profile: "minimal", Talos: true}
	in := installer(t, env, mirror.URL, sel)
	platformtest.UninstallAtCleanup(t, env.Kubeconfig, "kube-system", "cilium")

	var events []string
	progress := func(comp, status, msg string) { events = append(events, comp+" "+status) }
	if err := in.Install(ctx, progress); err != nil {
		t.Fatal(err)
	}
	if err := in.Wait(ctx, 2*time.Minute, progress); err != nil {
		t.Fatal(err)
	}
	argo := slices.IndexFunc(events, func(e string) bool { return strings.HasPrefix(e, "argo-cd ") })
	if i := slices.Index(events, "cilium installed"); i < 0 || argo < 0 || i > argo {
		t.Fatalf("Cilium must be installed before Argo CD; events: %v", events)
	}
	for _, comp := range []string{"cilium", "argo-cd", "cto", "argo-workflows"} {
		if !slices.Contains(events, comp+" ready") {
			t.Errorf("no ready event for %s; events: %v", comp, events)
		}
	}

	// Helm releases, in their namespaces.
	for ns, name := range map[string]string{"kube-system": "cilium", "argocd": "argo-cd"} {
		s, err := c.kube.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{LabelSelector: "owner=helm,name=" + name + ",status=deployed"})
		if err != nil || len(s.Items) != 1 {
			t.Fatalf("helm release %s in %s: %v %v", name, ns, err, s)
		}
	}
	ds, err := c.kube.AppsV1().DaemonSets("kube-system").Get(ctx, "cilium", metav1.GetOptions{})
	if err != nil || ds.Status.NumberAvailable != 1 {
		t.Fatalf("cilium DaemonSet: %v %+v", err, ds)
	}

	// Namespaces with their pod-security levels.
	lp, err := c.kube.CoreV1().Namespaces().Get(ctx, "local-path-storage", metav1.GetOptions{})
	if err != nil || lp.Labels["pod-security.kubernetes.io/enforce"] != "privileged" {
		t.Fatalf("local-path-storage namespace: %v %v", err, lp.Labels)
	}
	for _, ns := range []string{"argocd", "cto", "automation", "cert-manager"} {
		if _, err := c.kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err != nil {
			t.Errorf("namespace %s: %v", ns, err)
		}
	}

	// The AppProject and exactly the profile's Applications, pinned.
	if _, err := c.dyn.Resource(platform.AppProjectGVR).Namespace("argocd").Get(ctx, "platform", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	checkApplications(t, c, mirror.URL, sel)

	// A second run changes nothing.
	before := versions(t, env)
	in2 := installer(t, env, mirror.URL, sel)
	if err := in2.Install(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if err := in2.Wait(ctx, time.Minute, nil); err != nil {
		t.Fatal(err)
	}
	after := versions(t, env)
	for k, v := range before {
		if after[k] != v {
			t.Errorf("second install changed %s (resourceVersion %s -> %s)", k, v, after[k])
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			t.Errorf("second install created %s", k)
		}
	}
}

// checkApplications asserts the Applications in argocd are exactly the
// selection's non-Helm components, at the catalog's versions.
func checkApplications(t *testing.T, c clients, mirror string, sel platform.Selection) {
	t.Helper()
	cat, err := platform.LoadCatalog()
	if err != nil {
		t.Fatal(err)
	}
	comps, err := cat.Select(sel)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]platform.Component{}
	for _, comp := range comps {
		if !comp.Bootstrap {
			want[comp.Name] = comp
		}
	}
	list, err := c.dyn.Resource(platform.ApplicationGVR).Namespace("argocd").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, app := range list.Items {
		got = append(got, app.GetName())
		comp, ok := want[app.GetName()]
		if !ok {
			continue
		}
		src, _, _ := unstructured.NestedMap(app.Object, "spec", "source")
		if src["repoURL"] != mirror || src["chart"] != comp.Chart || src["targetRevision"] != comp.Version {
			t.Errorf("%s source = %v, want %s %s %s", comp.Name, src, mirror, comp.Chart, comp.Version)
		}
		if app.GetAnnotations()["argocd.argoproj.io/sync-wave"] == "" {
			t.Errorf("%s has no sync wave", comp.Name)
		}
		opts, _, _ := unstructured.NestedStringSlice(app.Object, "spec", "syncPolicy", "syncOptions")
		auto, _, _ := unstructured.NestedMap(app.Object, "spec", "syncPolicy", "automated")
		if !slices.Contains(opts, "ServerSideApply=true") || auto["prune"] != true || auto["selfHeal"] != true {
			t.Errorf("%s sync policy = %v %v", comp.Name, opts, auto)
		}
		if limit, _, _ := unstructured.NestedInt64(app.Object, "spec", "syncPolicy", "retry", "limit"); limit >= 0 {
			t.Errorf("%s retries a failed sync %d times, want without limit", comp.Name, limit)
		}
		if p, _, _ := unstructured.NestedString(app.Object, "spec", "project"); p != "platform" {
			t.Errorf("%s project = %q", comp.Name, p)
		}
	}
	var wantNames []string
	for n := range want {
		wantNames = append(wantNames, n)
	}
	sort.Strings(got)
	sort.Strings(wantNames)
	if !slices.Equal(got, wantNames) {
		t.Fatalf("Applications = %v\nwant %v", got, wantNames)
	}
}

// A component whose pods are refused never becomes healthy: Wait ends at
// its timeout naming it, the object and the cluster's reason; once the
// cause is gone a rerun finishes.
func TestWaitNamesComponentThatNeverBecomesHealthy(t *testing.T) {
	env, c, mirror := play(t, argocd.Options{})
	ctx := context.Background()
	in := installer(t, env, mirror.URL, platform.Selection{Profile: "minimal"})
	if err := in.Install(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if err := env.RefusePods(ctx, "cto"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { env.AllowPods(context.Background(), "cto") })
	// Argo CD sees the pods go before Wait looks.
	for deadline := time.Now().Add(30 * time.Second); ; {
		app, err := c.dyn.Resource(platform.ApplicationGVR).Namespace("argocd").Get(ctx, "cto", metav1.GetOptions{})
		if err == nil {
			if h, _, _ := unstructured.NestedString(app.Object, "status", "health", "status"); h != "" && h != "Healthy" {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cto Application stayed Healthy without pods: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	err := in.Wait(ctx, 3*time.Second, nil)
	var nr *platform.NotReadyError
	if !errors.As(err, &nr) {
		t.Fatalf("Wait = %v, want a NotReadyError", err)
	}
	if len(nr.Pending) != 1 || nr.Pending[0].Name != "cto" {
		t.Fatalf("pending = %+v, want only cto", nr.Pending)
	}
	for _, want := range []string{"cto: sync Synced, health Progressing", "Deployment cto/", "exceeded quota"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error does not say %q: %v", want, err)
		}
	}
	// Once pods are allowed, a rerun finishes.
	if err := env.AllowPods(ctx, "cto"); err != nil {
		t.Fatal(err)
	}
	if err := in.Wait(ctx, time.Minute, nil); err != nil {
		t.Fatalf("after allowing pods: %v", err)
	}
}

func TestChartThatCannotBeFetchedNamesTheURL(t *testing.T) {
	env := kubeenv.Require(t)
	ctx := context.Background()

	// Production values differ from any release an earlier test left, so
	// the argo-cd chart has to be fetched.
	missing := platformtest.ServeMirror(t, "argo-cd")
	err := installer(t, env, missing.URL, platform.Selection{Profile: "production"}).Install(ctx, nil)
	if err == nil || !strings.Contains(err.Error(), missing.URL+"/index.yaml") || !strings.Contains(err.Error(), "argo-cd") {
		t.Fatalf("Install = %v, want it to name %s/index.yaml and argo-cd", err, missing.URL)
	}

	cat, err := platform.LoadCatalog()
	if err != nil {
		t.Fatal(err)
	}
	var version string
	for _, c := range cat.Components {
		if c.Name == "argo-cd" {
			version = c.Version
		}
	}
	broken := platformtest.ServeMirror(t)
	if err := broken.Remove("argo-cd", version); err != nil {
		t.Fatal(err)
	}
	archive := broken.URL + "/argo-cd-" + version + ".tgz"
	err = installer(t, env, broken.URL, platform.Selection{Profile: "production"}).Install(ctx, nil)
	if err == nil || !strings.Contains(err.Error(), archive) || !strings.Contains(err.Error(), "404") {
		t.Fatalf("Install = %v, want it to name %s", err, archive)
	}

	down := "http://127.0.0.1:1"
	err = installer(t, env, down, platform.Selection{Profile: "production"}).Install(ctx, nil)
	if err == nil || !strings.Contains(err.Error(), down+"/index.yaml") {
		t.Fatalf("Install = %v, want it to name %s/index.yaml", err, down)
	}
}

func TestGitOpsInstallsOneAppOfApps(t *testing.T) {
	// The customer's repository holds one ConfigMap.
	env, c, mirror := play(t, argocd.Options{Repos: map[string]fs.FS{"https://git.example.test/acme/platform.git": fstest.MapFS{
		"clusters/prod/team/config.yaml": {Data: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: team\n  namespace: default\ndata:\n  owner: acme\n")},
	}}})
	ctx := context.Background()
	in, err := platform.New(platform.Options{
		Kubeconfig: env.Kubeconfig, Selection: platform.Selection{Profile: "minimal"}, ChartMirror: mirror.URL,
		GitOps:       platform.GitOps{Repo: "https://git.example.test/acme/platform.git", Path: "clusters/prod", Revision: "v1.2.3"},
		PollInterval: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := in.Install(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if err := in.Wait(ctx, 2*time.Minute, nil); err != nil {
		t.Fatal(err)
	}
	list, err := c.dyn.Resource(platform.ApplicationGVR).Namespace("argocd").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 || list.Items[0].GetName() != "platform" {
		t.Fatalf("Applications = %d, want only the app-of-apps", len(list.Items))
	}
	src, _, _ := unstructured.NestedMap(list.Items[0].Object, "spec", "source")
	if src["repoURL"] != "https://git.example.test/acme/platform.git" || src["path"] != "clusters/prod" || src["targetRevision"] != "v1.2.3" {
		t.Fatalf("app-of-apps source = %v", src)
	}
	// Argo CD synced the repository's directory, recursing into it.
	if cm, err := c.kube.CoreV1().ConfigMaps("default").Get(ctx, "team", metav1.GetOptions{}); err != nil || cm.Data["owner"] != "acme" {
		t.Fatalf("the repository's ConfigMap: %v %v", err, cm)
	}
}

func TestInstallResumesAnInterruptedHelmUpgrade(t *testing.T) {
	env := kubeenv.Require(t)
	mirror := platformtest.ServeMirror(t)
	ctx := context.Background()
	sel := platform.Selection{Profile: "minimal"}
	if err := installer(t, env, mirror.URL, sel).Install(ctx, nil); err != nil {
		t.Fatal(err)
	}
	// A run killed during `helm upgrade` leaves the release pending.
	cfg, err := platform.HelmConfig(env.Kubeconfig, "argocd")
	if err != nil {
		t.Fatal(err)
	}
	lastRel, err := cfg.Releases.Last("argo-cd")
	if err != nil {
		t.Fatal(err)
	}
	last := lastRel.(*release.Release)
	last.SetStatus(common.StatusPendingUpgrade, "killed")
	if err := cfg.Releases.Update(last); err != nil {
		t.Fatal(err)
	}
	if err := installer(t, env, mirror.URL, sel).Install(ctx, nil); err != nil {
		t.Fatalf("rerun after an interrupted upgrade: %v", err)
	}
	nowRel, err := cfg.Releases.Last("argo-cd")
	if err != nil {
		t.Fatal(err)
	}
	now := nowRel.(*release.Release)
	if now.Info.Status != common.StatusDeployed || now.Version != last.Version+1 {
		t.Fatalf("release after resume: %v revision %d %s", err, now.Version, now.Info.Status)
	}
}

// With ACME DNS-01, the DNS provider's token goes into the Secret the
// Cloudflare solver reads, and nowhere else; without the token the
// install stops before anything is installed.
func TestInstallWritesTheDNSTokenForACME(t *testing.T) {
	env := kubeenv.Require(t)
	ctx := context.Background()
	mirror := platformtest.ServeMirror(t)
	sel := platform.Selection{Profile: "minimal", Domain: "c1.example.com", ACMEDNS: "cloudflare"}

	in := installer(t, env, mirror.URL, sel)
	err := in.Install(ctx, nil)
	if err == nil || !strings.Contains(err.Error(), "cloudflare") {
		t.Fatalf("Install without the token = %v", err)
	}

	const token = "cf-token-0123456789"
	in, err = platform.New(platform.Options{
		Kubeconfig: env.Kubeconfig, Selection: sel, ChartMirror: mirror.URL,
		CacheDir: t.TempDir(), PollInterval: 50 * time.Millisecond, DNSToken: token,
	})
	if err != nil {
		t.Fatal(err)
	}
	var said []string
	if err := in.Install(ctx, func(c, s, m string) { said = append(said, c+s+m) }); err != nil && strings.Contains(err.Error(), token) {
		t.Fatalf("the error shows the token: %v", err)
	}
	got, err := platform.ReadSecret(ctx, env.Kubeconfig, platform.DNSTokenSecret)
	if err != nil || got != token {
		t.Fatalf("%s = %q, %v", platform.DNSTokenSecret, got, err)
	}
	if strings.Contains(strings.Join(said, " "), token) {
		t.Fatal("progress shows the token")
	}
}
