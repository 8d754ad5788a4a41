// Package argocd is a double of Argo CD's application controller and
// repo server, for tests: it syncs each Application in the argocd
// namespace as Argo CD would (the chart rendered from its Helm repository
// with the Application's values, applied server-side in sync phases and
// waves, Helm hooks run as Argo CD maps them) and reports sync and health
// by Argo CD's rules. It acts only while Argo CD's own workloads run in
// the cluster, and creates the initial admin secret as Argo CD's server
// does on its first start.
package argocd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"math"
	"path"
	"slices"
	"strings"
	"time"

	chart "helm.sh/helm/v4/pkg/chart/v2"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/cto-platform/cto/test/controllers/kubeclients"
)

// Namespace is where Argo CD runs and reads Applications from.
const Namespace = "argocd"

// FieldManager is the manager Argo CD's server-side apply writes as
// (argo-cd controller/sync.go: "argocd-controller").
const FieldManager = "argocd-controller"

// TrackingAnnotation marks what an Application applied (Argo CD 3's
// default annotation tracking: "<app>:<group>/<kind>:<namespace>/<name>").
const TrackingAnnotation = "argocd.argoproj.io/tracking-id"

var (
	applicationGVR = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "applications"}
	appProjectGVR  = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "appprojects"}
)

// Options shape the double.
type Options struct {
	// Interval is how often it passes over the Applications (default 100ms).
	Interval time.Duration
	// Speed divides the sync retry backoff, for clusters whose time runs
	// faster than the wall clock (default 1).
	Speed float64
	// Repos are the Git repositories Applications with a path read, by URL.
	Repos map[string]fs.FS
}

// Run syncs until ctx ends.
func Run(ctx context.Context, cfg *rest.Config, opts Options) {
	if opts.Interval <= 0 {
		opts.Interval = 100 * time.Millisecond
	}
	if opts.Speed <= 0 {
		opts.Speed = 1
	}
	cfg = rest.CopyConfig(cfg)
	cfg.WarningHandler = rest.NoWarnings{}
	cfg.QPS, cfg.Burst = 100, 200
	kc, dyn, err := kubeclients.New(cfg)
	if err != nil {
		return
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return
	}
	c := &controller{opts: opts, cfg: cfg, dyn: dyn, kc: kc,
		mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc)),
		live:   newLiveCache(ctx, dyn), charts: map[string]*chart.Chart{}, apps: map[string]*appState{},
		secretFor: map[types.UID]bool{}}
	wait.UntilWithContext(ctx, c.step, opts.Interval)
}

type controller struct {
	opts      Options
	cfg       *rest.Config
	dyn       dynamic.Interface
	kc        kubernetes.Interface
	mapper    *restmapper.DeferredDiscoveryRESTMapper
	live      *liveCache
	charts    map[string]*chart.Chart
	apps      map[string]*appState
	secretFor map[types.UID]bool // argocd-server Deployments that made their admin secret
}

// appState is what the controller keeps of one Application between passes.
type appState struct {
	key       string // source, destination and project the objects are for
	objs      []*unstructured.Unstructured
	genErr    error
	op        *operation
	syncedKey string // the key of the last sync that succeeded
	failedKey string // the key of the last sync that failed for good
	retries   int
	nextTry   time.Time
}

// step makes one pass: nothing while Argo CD itself does not run.
func (c *controller) step(ctx context.Context) {
	if !c.argoRunning(ctx) {
		return
	}
	c.adminSecret(ctx)
	list, err := c.dyn.Resource(applicationGVR).Namespace(Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return
	}
	seen := map[string]bool{}
	for i := range list.Items {
		app := &list.Items[i]
		seen[app.GetName()] = true
		c.reconcile(ctx, app)
	}
	for name := range c.apps {
		if !seen[name] {
			delete(c.apps, name)
		}
	}
}

// argoRunning: the application controller and the repo server must be up
// for anything to sync.
func (c *controller) argoRunning(ctx context.Context) bool {
	sets, err := c.kc.AppsV1().StatefulSets(Namespace).List(ctx, metav1.ListOptions{})
	if err != nil || !slices.ContainsFunc(sets.Items, func(s appsv1.StatefulSet) bool {
		return strings.HasSuffix(s.Name, "application-controller") && s.Status.ReadyReplicas > 0
	}) {
		return false
	}
	deps, err := c.kc.AppsV1().Deployments(Namespace).List(ctx, metav1.ListOptions{})
	return err == nil && slices.ContainsFunc(deps.Items, func(d appsv1.Deployment) bool {
		return strings.HasSuffix(d.Name, "repo-server") && d.Status.AvailableReplicas > 0
	})
}

// adminSecret: Argo CD's server writes argocd-initial-admin-secret with a
// random password the first time it starts (util/settings initial
// password), once per installation.
func (c *controller) adminSecret(ctx context.Context) {
	deps, err := c.kc.AppsV1().Deployments(Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return
	}
	for _, d := range deps.Items {
		if !strings.HasSuffix(d.Name, "-server") || strings.HasSuffix(d.Name, "repo-server") || d.Status.AvailableReplicas == 0 || c.secretFor[d.UID] {
			continue
		}
		b := make([]byte, 8)
		rand.Read(b)
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "argocd-initial-admin-secret", Namespace: Namespace},
			Data: map[string][]byte{"password": []byte(hex.EncodeToString(b))}}
		_, err := c.kc.CoreV1().Secrets(Namespace).Create(ctx, s, metav1.CreateOptions{})
		if err == nil || apierrors.IsAlreadyExists(err) {
			c.secretFor[d.UID] = true
		}
	}
}

// spec is what an Application asks for.
type spec struct {
	Project     string `json:"project"`
	Source      source `json:"source"`
	Destination struct {
		Server    string `json:"server"`
		Namespace string `json:"namespace"`
	} `json:"destination"`
	SyncPolicy *struct {
		Automated *struct {
			Prune    bool `json:"prune"`
			SelfHeal bool `json:"selfHeal"`
		} `json:"automated"`
		SyncOptions []string `json:"syncOptions"`
		Retry       *struct {
			Limit   int64 `json:"limit"`
			Backoff *struct {
				Duration    string `json:"duration"`
				Factor      int64  `json:"factor"`
				MaxDuration string `json:"maxDuration"`
			} `json:"backoff"`
		} `json:"retry"`
	} `json:"syncPolicy"`
}

func (c *controller) reconcile(ctx context.Context, app *unstructured.Unstructured) {
	var sp spec
	raw, _ := json.Marshal(app.Object["spec"])
	json.Unmarshal(raw, &sp)
	st := c.apps[app.GetName()]
	if st == nil {
		st = &appState{}
		c.apps[app.GetName()] = st
	}
	var conditions []any
	if msg := c.permitted(sp); msg != "" {
		conditions = append(conditions, condition("InvalidSpecError", msg))
		c.writeStatus(ctx, app, map[string]any{
			"sync": map[string]any{"status": "Unknown"}, "health": map[string]any{"status": "Unknown"}, "conditions": conditions,
		})
		return
	}
	if key := string(raw); key != st.key {
		st.key = key
		st.objs, st.genErr = c.manifests(ctx, app.GetName(), sp.Source, sp.Destination.Namespace)
		for _, o := range st.objs {
			if o.GetNamespace() == "" && c.namespaced(o) {
				o.SetNamespace(sp.Destination.Namespace)
			}
		}
	}
	if st.genErr != nil {
		conditions = append(conditions, condition("ComparisonError", "Failed to load target state: failed to generate manifest for source 1 of 1: "+st.genErr.Error()))
		c.writeStatus(ctx, app, map[string]any{
			"sync": map[string]any{"status": "Unknown", "revision": sp.Source.TargetRevision}, "health": map[string]any{"status": "Healthy"}, "conditions": conditions,
		})
		return
	}

	// Automated sync: a new target, or drift with self-heal; never the
	// same target again after a failure unless the retry policy says so
	// (controller/appcontroller.go autoSync).
	resources, missing := c.compare(app.GetName(), st)
	automated := sp.SyncPolicy != nil && sp.SyncPolicy.Automated != nil
	if automated && (st.op == nil || st.op.phase != "Running") && st.failedKey != st.key {
		drift := missing && sp.SyncPolicy.Automated.SelfHeal
		if st.syncedKey != st.key || drift {
			st.op = c.newOperation(app.GetName(), sp, st)
		}
	}
	if st.op != nil && st.op.phase == "Running" && time.Now().After(st.nextTry) {
		c.run(ctx, app.GetName(), sp, st)
		resources, missing = c.compare(app.GetName(), st)
	}

	status := map[string]any{
		"sourceType": "Helm",
		"sync": map[string]any{
			"status":     syncWord(st, missing),
			"revision":   sp.Source.TargetRevision,
			"comparedTo": map[string]any{"source": app.Object["spec"].(map[string]any)["source"], "destination": app.Object["spec"].(map[string]any)["destination"]},
		},
		"health":    map[string]any{"status": appHealth(resources)},
		"resources": resources,
	}
	if sp.Source.Chart == "" {
		status["sourceType"] = "Directory"
	}
	if op := st.op; op != nil {
		state := map[string]any{
			"phase": op.phase, "message": op.message, "startedAt": op.started.UTC().Format(time.RFC3339),
			"operation":  map[string]any{"sync": map[string]any{"revision": sp.Source.TargetRevision}, "initiatedBy": map[string]any{"automated": true}},
			"retryCount": int64(st.retries),
		}
		if op.phase != "Running" {
			state["finishedAt"] = op.finished.UTC().Format(time.RFC3339)
		}
		status["operationState"] = state
		if op.phase == "Failed" || op.phase == "Error" {
			conditions = append(conditions, condition("SyncError", fmt.Sprintf("Failed sync attempt to %s: %s", sp.Source.TargetRevision, op.message)))
		}
	}
	if len(conditions) > 0 {
		status["conditions"] = conditions
	}
	c.writeStatus(ctx, app, status)
}

func syncWord(st *appState, missing bool) string {
	if st.syncedKey == st.key && !missing {
		return "Synced"
	}
	return "OutOfSync"
}

// permitted checks the Application against its AppProject's source
// repositories and destinations (argo-cd util/argo ValidatePermissions).
func (c *controller) permitted(sp spec) string {
	proj := c.live.get(appProjectGVR, Namespace, sp.Project)
	if proj == nil {
		return fmt.Sprintf("Application referencing project %s which does not exist", sp.Project)
	}
	repos, _, _ := unstructured.NestedStringSlice(proj.Object, "spec", "sourceRepos")
	ok := false
	for _, r := range repos {
		ok = ok || r == "*" || r == sp.Source.RepoURL || glob(r, sp.Source.RepoURL)
	}
	if !ok {
		return fmt.Sprintf("application repo %s is not permitted in project '%s'", sp.Source.RepoURL, sp.Project)
	}
	dests, _, _ := unstructured.NestedSlice(proj.Object, "spec", "destinations")
	for _, d := range dests {
		m, _ := d.(map[string]any)
		server, _ := m["server"].(string)
		ns, _ := m["namespace"].(string)
		if glob(server, sp.Destination.Server) && glob(ns, sp.Destination.Namespace) {
			return ""
		}
	}
	return fmt.Sprintf("application destination server '%s' and namespace '%s' do not match any of the allowed destinations in project '%s'", sp.Destination.Server, sp.Destination.Namespace, sp.Project)
}

func glob(pattern, s string) bool {
	ok, _ := path.Match(pattern, s)
	return ok || pattern == "*"
}

func condition(typ, msg string) map[string]any {
	return map[string]any{"type": typ, "message": msg}
}

// compare reads each target object's live state: its sync and health
// entry in status.resources (hooks left out), and whether any is missing.
func (c *controller) compare(app string, st *appState) (resources []any, missing bool) {
	for _, o := range st.objs {
		if isHook(o) {
			continue
		}
		gvk := o.GroupVersionKind()
		entry := map[string]any{"group": gvk.Group, "version": gvk.Version, "kind": gvk.Kind, "name": o.GetName()}
		if o.GetNamespace() != "" {
			entry["namespace"] = o.GetNamespace()
		}
		var live *unstructured.Unstructured
		if gvr, _, err := c.resource(o); err == nil {
			live = c.live.get(gvr, o.GetNamespace(), o.GetName())
		}
		switch {
		case live == nil:
			missing = true
			entry["status"] = "OutOfSync"
			entry["health"] = map[string]any{"status": "Missing"}
		default:
			entry["status"] = "Synced"
			if st.syncedKey != st.key && (st.op == nil || !st.op.applied[ref(o)]) {
				entry["status"] = "OutOfSync"
			}
			if h := ResourceHealth(live); h != nil {
				health := map[string]any{"status": h.Status}
				if h.Message != "" {
					health["message"] = h.Message
				}
				entry["health"] = health
			}
		}
		resources = append(resources, entry)
	}
	return resources, missing
}

// appHealth is the worst health of the Application's resources
// (controller/health.go setApplicationHealth); Healthy with none.
func appHealth(resources []any) string {
	out := "Healthy"
	for _, r := range resources {
		h, _, _ := unstructured.NestedString(r.(map[string]any), "health", "status")
		if h != "" && worse(out, h) {
			out = h
		}
	}
	return out
}

// writeStatus writes status only when it changed, so a settled cluster
// stays unchanged. Argo CD's Application CRD has no status subresource.
func (c *controller) writeStatus(ctx context.Context, app *unstructured.Unstructured, status map[string]any) {
	old, _ := json.Marshal(app.Object["status"])
	raw, _ := json.Marshal(status)
	var now any
	json.Unmarshal(raw, &now)
	if string(old) == string(mustJSON(now)) {
		return
	}
	app = app.DeepCopy()
	app.Object["status"] = now
	c.dyn.Resource(applicationGVR).Namespace(app.GetNamespace()).Update(ctx, app, metav1.UpdateOptions{})
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// resource maps an object to its API resource, asking discovery again when
// a kind is new (a CRD applied earlier in the same sync).
func (c *controller) resource(o *unstructured.Unstructured) (schema.GroupVersionResource, bool, error) {
	gvk := o.GroupVersionKind()
	m, err := c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		c.mapper.Reset()
		m, err = c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	if err != nil {
		return schema.GroupVersionResource{}, false, err
	}
	return m.Resource, m.Scope.Name() == meta.RESTScopeNameNamespace, nil
}

func (c *controller) namespaced(o *unstructured.Unstructured) bool {
	_, ns, err := c.resource(o)
	if err != nil {
		// A kind not served yet: a custom resource of a CRD in the same
		// sync; CRD kinds of the models are namespaced unless they say.
		return o.GetKind() != "CustomResourceDefinition" && o.GetKind() != "Namespace" && !strings.HasPrefix(o.GetKind(), "Cluster")
	}
	return ns
}

// backoff is the wait before retry n (1-based) of a failed sync: duration
// times factor to the n-1, at most maxDuration (Argo CD's defaults 5s, 2,
// 3m), divided by Speed.
func (c *controller) backoff(sp spec, n int) time.Duration {
	d, factor, maxD := 5*time.Second, 2.0, 3*time.Minute
	if r := sp.SyncPolicy.Retry; r != nil && r.Backoff != nil {
		if v, err := time.ParseDuration(r.Backoff.Duration); err == nil {
			d = v
		}
		if r.Backoff.Factor > 0 {
			factor = float64(r.Backoff.Factor)
		}
		if v, err := time.ParseDuration(r.Backoff.MaxDuration); err == nil {
			maxD = v
		}
	}
	wait := time.Duration(math.Min(float64(d)*math.Pow(factor, float64(n-1)), float64(maxD)))
	return time.Duration(float64(wait) / c.opts.Speed)
}
