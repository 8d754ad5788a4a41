package platform

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Namespaces and names the platform owns.
const (
	ArgoNamespace     = "argocd"
	PlatformNamespace = "cto"
	ProjectName       = "platform"
	// AppOfApps is the one Application of a GitOps install.
	AppOfApps = "platform"
	// ConfigMapName holds cto-config.json in PlatformNamespace.
	ConfigMapName = "cto-config"
	fieldManager  = "cto"
	managedBy     = "app.kubernetes.io/managed-by"
	inClusterAPI  = "https://kubernetes.default.svc"
)

// Argo CD's resources and CRDs.
var (
	ApplicationGVR = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "applications"}
	AppProjectGVR  = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "appprojects"}
	crdGVR         = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	namespaceGVR   = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	configMapGVR   = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
)

// GitOps points Argo CD at the customer's repository instead of the
// catalog's Applications.
type GitOps struct {
	Repo, Path, Revision string
}

// Options configure an install.
type Options struct {
	// Kubeconfig is the path of the cluster's admin kubeconfig.
	Kubeconfig string
	Selection
	// ChartMirror replaces every chart repository (air-gapped installs).
	ChartMirror string
	GitOps      GitOps
	// CacheDir keeps downloaded charts ("" keeps none).
	CacheDir string
	// PollInterval is how often Wait looks at most (default 2s: one look
	// is a few list calls to the cluster's own API server, and every
	// second between the last component turning Healthy and the next look
	// is a second the deploy waits for nothing).
	PollInterval time.Duration
	// HTTPClient fetches charts (default http.DefaultClient).
	HTTPClient *http.Client
	// DNSToken is the API token of Selection.ACMEDNS; it goes into
	// DNSTokenSecret for cert-manager's DNS-01 solver and nowhere else.
	DNSToken string
}

// Progress receives a component's state as it changes.
type Progress func(component, status, message string)

// Installer installs the platform's components on one cluster.
type Installer struct {
	opts       Options
	components []Component
	charts     *chartSource
	client     kubernetes.Interface
	dynamic    dynamic.Interface
}

// New prepares an install: it loads the catalog, selects the components and
// connects (lazily) to the cluster.
func New(opts Options) (*Installer, error) {
	comps, err := SelectComponents(opts.Selection)
	if err != nil {
		return nil, err
	}
	cfg, client, err := Connect(opts.Kubeconfig)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 2 * time.Second
	}
	return &Installer{
		opts:       opts,
		components: comps,
		charts:     &chartSource{http: opts.HTTPClient, cache: opts.CacheDir},
		client:     client,
		dynamic:    dyn,
	}, nil
}

func restConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig == "" {
		return nil, fmt.Errorf("no kubeconfig to reach the cluster with")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
	}
	cfg.UserAgent = "cto"
	// The API server's warnings (Pod Security "would violate" notes) are
	// for people writing manifests; cto's output keeps to its own lines.
	cfg.WarningHandler = rest.NoWarnings{}
	// One install makes a few dozen requests in a burst; client-go's
	// default of 5 per second would make a no-op rerun take seconds.
	cfg.QPS, cfg.Burst = 50, 100
	return cfg, nil
}

// Connect returns the client configuration of kubeconfig's cluster and a
// clientset of it.
func Connect(kubeconfig string) (*rest.Config, kubernetes.Interface, error) {
	cfg, err := restConfig(kubeconfig)
	if err != nil {
		return nil, nil, err
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, nil, err
	}
	return cfg, client, nil
}

// Components returns the selected components, by wave.
func (in *Installer) Components() []Component { return slices.Clone(in.components) }

// split returns the components installed with Helm (bootstrap) and those
// that become Argo CD Applications (apps).
func (in *Installer) split() (bootstrap, apps []Component) {
	for _, c := range in.components {
		if c.Bootstrap {
			bootstrap = append(bootstrap, c)
		} else {
			apps = append(apps, c)
		}
	}
	return bootstrap, apps
}

// Install puts everything in place without waiting for it to run:
// namespaces, Cilium (Talos) and Argo CD through Helm, the AppProject and
// the Applications. Running it again upgrades what changed and leaves the
// rest untouched.
func (in *Installer) Install(ctx context.Context, progress Progress) error {
	if progress == nil {
		progress = func(string, string, string) {}
	}
	acme := in.opts.Selection.Domain != "" && in.opts.Selection.Issuer() == ACMEIssuer
	if acme && in.opts.DNSToken == "" {
		return fmt.Errorf("certificates through %s DNS-01 need its API token; none was given", in.opts.Selection.ACMEDNS)
	}
	if err := in.namespaces(ctx); err != nil {
		return err
	}
	if err := in.dnsTokenSecret(ctx); err != nil {
		return err
	}
	bootstrap, apps := in.split()
	// Cilium first: on Talos nothing else gets a pod network without it.
	for _, c := range bootstrap {
		changed, err := in.helmRelease(ctx, c)
		if err != nil {
			return err
		}
		if changed {
			progress(c.Name, "installed", fmt.Sprintf("Helm release %s %s in %s", c.Chart, c.Version, c.Namespace))
		} else {
			progress(c.Name, "unchanged", fmt.Sprintf("Helm release %s %s is current", c.Chart, c.Version))
		}
	}
	if err := in.waitCRDs(ctx, "applications.argoproj.io", "appprojects.argoproj.io"); err != nil {
		return err
	}
	if err := in.apply(ctx, in.project(apps)); err != nil {
		return fmt.Errorf("AppProject %s: %w", ProjectName, err)
	}
	var want []*unstructured.Unstructured
	if in.opts.GitOps.Repo != "" {
		want = []*unstructured.Unstructured{in.appOfApps()}
	} else {
		for _, c := range apps {
			want = append(want, in.application(c))
		}
	}
	for _, app := range want {
		if err := in.apply(ctx, app); err != nil {
			return fmt.Errorf("Application %s: %w", app.GetName(), err)
		}
	}
	return in.pruneApplications(ctx, want, progress)
}

// namespaces creates every component's namespace with the pod-security
// level it needs (the most permissive one when components share it).
func (in *Installer) namespaces(ctx context.Context) error {
	levels := NamespaceLevels(in.components)
	names := make([]string, 0, len(levels))
	for ns := range levels {
		if ns != "kube-system" && ns != "default" {
			names = append(names, ns)
		}
	}
	sort.Strings(names)
	for _, ns := range names {
		labels := map[string]any{managedBy: fieldManager}
		if l := levels[ns]; l != "" {
			labels["pod-security.kubernetes.io/enforce"] = l
			labels["pod-security.kubernetes.io/audit"] = l
			labels["pod-security.kubernetes.io/warn"] = l
		}
		obj := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1", "kind": "Namespace",
			"metadata": map[string]any{"name": ns, "labels": labels},
		}}
		if _, err := in.dynamic.Resource(namespaceGVR).Apply(ctx, ns, obj, metav1.ApplyOptions{FieldManager: fieldManager, Force: true}); err != nil {
			return fmt.Errorf("namespace %s: %w", ns, err)
		}
	}
	return nil
}

// dnsTokenSecret writes the DNS provider's token where the ACME issuer's
// solver reads it, when certificates come from ACME.
func (in *Installer) dnsTokenSecret(ctx context.Context) error {
	if in.opts.Selection.Domain == "" || in.opts.Selection.Issuer() != ACMEIssuer {
		return nil
	}
	s := DNSTokenSecret
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
		"metadata":   map[string]any{"name": s.Name, "namespace": s.Namespace, "labels": map[string]any{managedBy: fieldManager}},
		"stringData": map[string]any{s.Key: in.opts.DNSToken},
	}}
	gvr := schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
	if _, err := in.dynamic.Resource(gvr).Namespace(s.Namespace).Apply(ctx, s.Name, obj, metav1.ApplyOptions{FieldManager: fieldManager, Force: true}); err != nil {
		// The API server's error names the object, never the token.
		return fmt.Errorf("write %s: %w", s, err)
	}
	return nil
}

// NamespaceLevels is the Pod Security level each component namespace is
// labelled with: the most permissive its components need, "" for the
// cluster's default (baseline on Talos). "" ranks with baseline, so a
// component asking restricted does not tighten a namespace that another
// runs in at the default.
func NamespaceLevels(comps []Component) map[string]string {
	levels := map[string]string{ArgoNamespace: "", PlatformNamespace: ""}
	rank := map[string]int{"restricted": 1, "": 2, "baseline": 2, "privileged": 3}
	for _, c := range comps {
		cur, seen := levels[c.Namespace]
		if !seen || rank[c.PodSecurity] > rank[cur] || (rank[c.PodSecurity] == rank[cur] && c.PodSecurity != "") {
			levels[c.Namespace] = c.PodSecurity
		}
	}
	return levels
}

// apply creates or updates an object server-side; an unchanged object is
// not written.
func (in *Installer) apply(ctx context.Context, obj *unstructured.Unstructured) error {
	gvr := ApplicationGVR
	switch obj.GetKind() {
	case "AppProject":
		gvr = AppProjectGVR
	case "ConfigMap":
		gvr = configMapGVR
	}
	_, err := in.dynamic.Resource(gvr).Namespace(obj.GetNamespace()).Apply(ctx, obj.GetName(), obj, metav1.ApplyOptions{FieldManager: fieldManager, Force: true})
	return err
}

// waitCRDs waits until Argo CD's CRDs (installed by its chart) serve.
func (in *Installer) waitCRDs(ctx context.Context, names ...string) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var missing []string
		for _, n := range names {
			crd, err := in.dynamic.Resource(crdGVR).Get(ctx, n, metav1.GetOptions{})
			if err != nil || !established(crd) {
				missing = append(missing, n)
			}
		}
		if len(missing) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("Argo CD's CRDs %s are not established; is the argo-cd chart installing them (crds.install)?", strings.Join(missing, ", "))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func established(crd *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == "Established" && m["status"] == "True" {
			return true
		}
	}
	return false
}

// project is the AppProject every Application belongs to, limited to the
// repositories the install uses.
func (in *Installer) project(apps []Component) *unstructured.Unstructured {
	repos := map[string]bool{}
	switch {
	case in.opts.GitOps.Repo != "":
		repos[in.opts.GitOps.Repo] = true
		// The customer's Applications may use the catalog's charts.
		for _, c := range in.components {
			repos[RepoURL(c, in.opts.ChartMirror)] = true
		}
	default:
		for _, c := range apps {
			repos[RepoURL(c, in.opts.ChartMirror)] = true
		}
	}
	var sources []any
	for r := range repos {
		sources = append(sources, r)
	}
	sort.Slice(sources, func(a, b int) bool { return sources[a].(string) < sources[b].(string) })
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
		"metadata": map[string]any{"name": ProjectName, "namespace": ArgoNamespace, "labels": map[string]any{managedBy: fieldManager}},
		"spec": map[string]any{
			"description":              "The CTO Platform's components",
			"sourceRepos":              sources,
			"destinations":             []any{map[string]any{"server": inClusterAPI, "namespace": "*"}},
			"clusterResourceWhitelist": []any{map[string]any{"group": "*", "kind": "*"}},
		},
	}}
}

// syncPolicy syncs every Application on its own, and retries a failed
// sync: Argo CD's automated sync never tries the same revision again after
// a failure otherwise, and components depend on each other (an issuer
// fails until cert-manager's CRDs and webhook serve). The backoff is Argo
// CD's default, without a limit: Wait's timeout is the user's deadline.
var syncPolicy = map[string]any{
	"automated":   map[string]any{"prune": true, "selfHeal": true},
	"syncOptions": []any{"ServerSideApply=true", "CreateNamespace=true"},
	"retry": map[string]any{
		"limit":   int64(-1),
		"backoff": map[string]any{"duration": "5s", "factor": int64(2), "maxDuration": "3m"},
	},
}

// application is the Argo CD Application of one component.
func (in *Installer) application(c Component) *unstructured.Unstructured {
	source := map[string]any{
		"repoURL": RepoURL(c, in.opts.ChartMirror),
		"helm":    map[string]any{"releaseName": c.Name, "valuesObject": c.Values},
	}
	if c.Git() && in.opts.ChartMirror == "" {
		source["path"] = c.Path
		source["targetRevision"] = c.GitRevision()
	} else {
		source["chart"] = c.Chart
		source["targetRevision"] = c.Version
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
		"metadata": map[string]any{
			"name": c.Name, "namespace": ArgoNamespace,
			"labels":      map[string]any{managedBy: fieldManager, "cto.dev/component": c.Name},
			"annotations": map[string]any{"argocd.argoproj.io/sync-wave": strconv.Itoa(c.Wave)},
		},
		"spec": map[string]any{
			"project":     ProjectName,
			"source":      source,
			"destination": map[string]any{"server": inClusterAPI, "namespace": c.Namespace},
			"syncPolicy":  syncPolicy,
		},
	}}
}

// appOfApps is the single Application of a GitOps install.
func (in *Installer) appOfApps() *unstructured.Unstructured {
	g := in.opts.GitOps
	path, rev := g.Path, g.Revision
	if path == "" {
		path = "."
	}
	if rev == "" {
		rev = "HEAD"
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
		"metadata": map[string]any{
			"name": AppOfApps, "namespace": ArgoNamespace,
			"labels": map[string]any{managedBy: fieldManager},
		},
		"spec": map[string]any{
			"project":     ProjectName,
			"source":      map[string]any{"repoURL": g.Repo, "path": path, "targetRevision": rev, "directory": map[string]any{"recurse": true}},
			"destination": map[string]any{"server": inClusterAPI, "namespace": ArgoNamespace},
			"syncPolicy":  syncPolicy,
		},
	}}
}

// pruneApplications deletes Applications cto created earlier that are no
// longer selected (a component left the catalog or the profile).
func (in *Installer) pruneApplications(ctx context.Context, want []*unstructured.Unstructured, progress Progress) error {
	keep := map[string]bool{}
	for _, a := range want {
		keep[a.GetName()] = true
	}
	list, err := in.dynamic.Resource(ApplicationGVR).Namespace(ArgoNamespace).List(ctx, metav1.ListOptions{LabelSelector: managedBy + "=" + fieldManager})
	if err != nil {
		return fmt.Errorf("list Applications: %w", err)
	}
	for _, a := range list.Items {
		if keep[a.GetName()] {
			continue
		}
		err := in.dynamic.Resource(ApplicationGVR).Namespace(ArgoNamespace).Delete(ctx, a.GetName(), metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("remove Application %s: %w", a.GetName(), err)
		}
		progress(a.GetName(), "removed", "no longer part of this install")
	}
	return nil
}
