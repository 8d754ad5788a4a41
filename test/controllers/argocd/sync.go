package argocd

import (
	"context"
	"fmt"
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
)

var namespaceGVR = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}

// operation is one automated sync of an Application: its tasks in order,
// how far it got, and how it ended.
type operation struct {
	key            string
	phase, message string
	started        time.Time
	finished       time.Time
	groups         [][]*unstructured.Unstructured
	next           int // the group to apply or wait for
	appliedGroup   bool
	applied        map[string]bool
	// appliedVersion is the resourceVersion each apply answered, so a
	// health check waits until the watch has seen the write.
	appliedVersion   map[string]string
	previous         []*unstructured.Unstructured // what the last sync applied, for pruning
	prune            bool
	multiStep        bool
	createNamespaces bool
}

// Sync phases (gitops-engine pkg/sync/common HookType and SyncPhase).
const (
	preSync  = "PreSync"
	syncing  = "Sync"
	postSync = "PostSync"
)

// helmHookPhases maps Helm's hooks onto Argo CD's phases; any other Helm
// hook (test, pre-delete, ...) is not run at all (gitops-engine
// pkg/sync/hook/helm/type.go, hook.go).
var helmHookPhases = map[string]string{
	"pre-install": preSync, "pre-upgrade": preSync, "post-install": postSync, "post-upgrade": postSync,
}

// hookPhases are an object's hook phases; none for a plain resource.
func hookPhases(o *unstructured.Unstructured) (phases []string, hook bool) {
	ann := o.GetAnnotations()
	if v, ok := ann["argocd.argoproj.io/hook"]; ok {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "Skip" {
				phases = append(phases, p)
			}
		}
		return phases, len(phases) > 0 || !strings.Contains(v, "Skip")
	}
	v, ok := ann["helm.sh/hook"]
	if !ok || v == "crd-install" {
		return nil, false
	}
	for _, p := range strings.Split(v, ",") {
		if phase, ok := helmHookPhases[strings.TrimSpace(p)]; ok && !slices.Contains(phases, phase) {
			phases = append(phases, phase)
		}
	}
	return phases, true
}

func isHook(o *unstructured.Unstructured) bool { _, hook := hookPhases(o); return hook }

// wave is the sync wave: argocd.argoproj.io/sync-wave, else
// helm.sh/hook-weight (gitops-engine pkg/sync/syncwaves/waves.go).
func wave(o *unstructured.Unstructured) int {
	for _, key := range []string{"argocd.argoproj.io/sync-wave", "helm.sh/hook-weight"} {
		if v, ok := o.GetAnnotations()[key]; ok {
			if n, err := strconv.Atoi(v); err == nil {
				return n
			}
		}
	}
	return 0
}

// kindOrder is the order of kinds within a wave (gitops-engine
// pkg/sync/sync_tasks.go kindOrder); other kinds come after them.
var kindOrder = func() map[string]int {
	kinds := []string{"Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodSecurityPolicy",
		"PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList", "ConfigMap", "StorageClass",
		"PersistentVolume", "PersistentVolumeClaim", "CustomResourceDefinition", "ClusterRole",
		"ClusterRoleList", "ClusterRoleBinding", "ClusterRoleBindingList", "Role", "RoleList", "RoleBinding",
		"RoleBindingList", "Service", "DaemonSet", "Pod", "ReplicationController", "ReplicaSet", "Deployment",
		"HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob", "IngressClass", "Ingress", "APIService"}
	m := map[string]int{}
	for i, k := range kinds {
		m[k] = i - len(kinds)
	}
	return m
}()

type task struct {
	obj   *unstructured.Unstructured
	phase string
	wave  int
}

// newOperation plans a sync: every object in its phase, then by wave,
// kind and name (gitops-engine syncTasks.Less).
func (c *controller) newOperation(app string, sp spec, st *appState) *operation {
	order := map[string]int{preSync: 0, syncing: 1, postSync: 2}
	var tasks []task
	for _, o := range st.objs {
		phases, hook := hookPhases(o)
		if !hook {
			phases = []string{syncing}
		}
		for _, p := range phases {
			if _, ok := order[p]; ok {
				tasks = append(tasks, task{obj: o, phase: p, wave: wave(o)})
			}
		}
	}
	sort.SliceStable(tasks, func(i, j int) bool {
		a, b := tasks[i], tasks[j]
		if a.phase != b.phase {
			return order[a.phase] < order[b.phase]
		}
		if a.wave != b.wave {
			return a.wave < b.wave
		}
		if d := kindOrder[a.obj.GetKind()] - kindOrder[b.obj.GetKind()]; d != 0 {
			return d < 0
		}
		return a.obj.GetName() < b.obj.GetName()
	})
	op := &operation{key: st.key, phase: "Running", message: "one or more tasks are running", started: time.Now(),
		applied: map[string]bool{}, appliedVersion: map[string]string{}}
	if st.op != nil {
		op.previous = st.op.previous
		if st.op.phase == "Succeeded" {
			op.previous = st.op.targets()
		}
	}
	op.prune = sp.SyncPolicy.Automated.Prune
	op.createNamespaces = slices.Contains(sp.SyncPolicy.SyncOptions, "CreateNamespace=true")
	for i, t := range tasks {
		if i == 0 || t.phase != tasks[i-1].phase || t.wave != tasks[i-1].wave {
			op.groups = append(op.groups, nil)
		}
		op.groups[len(op.groups)-1] = append(op.groups[len(op.groups)-1], t.obj)
	}
	op.multiStep = len(op.groups) > 1
	if st.failedKey != st.key {
		st.retries = 0
	}
	return op
}

// targets are the plain resources an operation applied.
func (op *operation) targets() []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, g := range op.groups {
		for _, o := range g {
			if !isHook(o) {
				out = append(out, o)
			}
		}
	}
	return out
}

func ref(o *unstructured.Unstructured) string {
	gvk := o.GroupVersionKind()
	return fmt.Sprintf("%s/%s:%s/%s", gvk.Group, gvk.Kind, o.GetNamespace(), o.GetName())
}

// run advances the operation: apply the next wave, wait while it (in a
// multi-step sync) or its hooks are not done, then the next, until the
// last (gitops-engine pkg/sync/sync_context.go Sync).
func (c *controller) run(ctx context.Context, app string, sp spec, st *appState) {
	op := st.op
	if op.next == 0 && !op.appliedGroup && op.createNamespaces && sp.Destination.Namespace != "" {
		ns := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace",
			"metadata": map[string]any{"name": sp.Destination.Namespace}}}
		if _, err := c.dyn.Resource(namespaceGVR).Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			c.fail(sp, st, "namespace "+sp.Destination.Namespace+": "+err.Error())
			return
		}
	}
	for op.next < len(op.groups) {
		group := op.groups[op.next]
		if !op.appliedGroup {
			var failed []string
			for _, o := range group {
				if version, err := c.apply(ctx, app, o, op); err != nil {
					failed = append(failed, err.Error())
				} else {
					op.applied[ref(o)] = true
					op.appliedVersion[ref(o)] = version
				}
			}
			if len(failed) > 0 {
				c.fail(sp, st, "one or more objects failed to apply, reason: "+strings.Join(failed, ","))
				return
			}
			op.appliedGroup = true
		}
		last := op.next == len(op.groups)-1
		var running, degraded []string
		for _, o := range group {
			if !op.multiStep && !isHook(o) {
				continue
			}
			if last && !isHook(o) {
				continue // the last wave's resources may still come up after the sync
			}
			gvr, _, err := c.resource(o)
			if err != nil {
				running = append(running, ref(o))
				continue
			}
			live := c.live.get(gvr, o.GetNamespace(), o.GetName())
			if live == nil {
				if !isHook(o) {
					running = append(running, ref(o))
				}
				continue // a hook deleted on success
			}
			if older(live.GetResourceVersion(), op.appliedVersion[ref(o)]) {
				running = append(running, ref(o)) // the watch has not seen the write yet
				continue
			}
			h := ResourceHealth(live)
			switch {
			case h == nil || h.Status == "Healthy":
			case h.Status == "Degraded":
				degraded = append(degraded, h.Message)
			default:
				running = append(running, fmt.Sprintf("%s/%s/%s", o.GroupVersionKind().Group, o.GetKind(), o.GetName()))
			}
		}
		if len(degraded) > 0 {
			c.fail(sp, st, "one or more synchronization tasks completed unsuccessfully, reason: "+strings.Join(degraded, ","))
			return
		}
		if len(running) > 0 {
			waitingFor := "healthy state of"
			if isHook(group[0]) {
				waitingFor = "completion of hook"
			}
			op.message = "waiting for " + waitingFor + " " + running[0]
			if len(running) > 1 {
				op.message += fmt.Sprintf(" and %d more", len(running)-1)
			}
			return
		}
		c.deleteHooks(ctx, group, "hook-succeeded")
		op.next++
		op.appliedGroup = false
	}
	if op.prune {
		c.prune(ctx, op)
	}
	op.phase, op.message, op.finished = "Succeeded", "successfully synced (all tasks run)", time.Now()
	st.syncedKey, st.failedKey, st.retries = st.key, "", 0
}

// fail ends the attempt: retried after the backoff while the retry policy
// allows, else failed for good for this target.
func (c *controller) fail(sp spec, st *appState, msg string) {
	op := st.op
	if r := sp.SyncPolicy.Retry; r != nil && (r.Limit < 0 || int64(st.retries) < r.Limit) {
		st.retries++
		wait := c.backoff(sp, st.retries)
		st.nextTry = time.Now().Add(wait)
		op.message = fmt.Sprintf("%s. Retrying attempt #%d at %s.", msg, st.retries, st.nextTry.Format(time.Kitchen))
		op.next, op.appliedGroup = 0, false
		return
	}
	op.phase, op.message, op.finished = "Failed", msg, time.Now()
	st.failedKey = st.key
}

// apply applies one object server-side as Argo CD's ServerSideApply=true
// sync does, with the tracking annotation; a hook is created anew
// (before-hook-creation, the default delete policy, removes an old one).
func (c *controller) apply(ctx context.Context, app string, o *unstructured.Unstructured, op *operation) (version string, err error) {
	gvr, namespaced, err := c.resource(o)
	if err != nil {
		return "", fmt.Errorf("the server could not find the requested resource %s", o.GroupVersionKind().GroupKind())
	}
	obj := o.DeepCopy()
	ann := obj.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	ann[TrackingAnnotation] = fmt.Sprintf("%s:%s/%s:%s/%s", app, o.GroupVersionKind().Group, o.GetKind(), o.GetNamespace(), o.GetName())
	obj.SetAnnotations(ann)
	var r dynamic.ResourceInterface = c.dyn.Resource(gvr)
	if namespaced {
		r = c.dyn.Resource(gvr).Namespace(obj.GetNamespace())
	}
	if isHook(o) {
		if !op.applied[ref(o)] && deletePolicy(o, "before-hook-creation") {
			propagation := metav1.DeletePropagationBackground
			if err := r.Delete(ctx, obj.GetName(), metav1.DeleteOptions{PropagationPolicy: &propagation}); err != nil && !apierrors.IsNotFound(err) {
				return "", fmt.Errorf("%s %s: %v", obj.GetKind(), obj.GetName(), err)
			}
		}
		created, err := r.Create(ctx, obj, metav1.CreateOptions{FieldManager: FieldManager})
		if apierrors.IsAlreadyExists(err) {
			return "", nil
		}
		if err != nil {
			return "", fmt.Errorf("%s %s: %v", obj.GetKind(), obj.GetName(), err)
		}
		return created.GetResourceVersion(), nil
	}
	applied, err := r.Apply(ctx, obj.GetName(), obj, metav1.ApplyOptions{FieldManager: FieldManager, Force: true})
	if err != nil {
		return "", fmt.Errorf("%s %s: %v", obj.GetKind(), obj.GetName(), err)
	}
	return applied.GetResourceVersion(), nil
}

// older says whether resourceVersion a precedes b. Versions are opaque to
// clients, but an etcd-backed API server's are its revisions, which grow.
func older(a, b string) bool {
	x, errA := strconv.ParseUint(a, 10, 64)
	y, errB := strconv.ParseUint(b, 10, 64)
	return errA == nil && errB == nil && x < y
}

// deletePolicy says whether a hook has a delete policy; without one,
// before-hook-creation (gitops-engine pkg/sync/hook/delete_policy.go and
// helm/delete_policy.go).
func deletePolicy(o *unstructured.Unstructured, policy string) bool {
	ann := o.GetAnnotations()
	v, ok := ann["argocd.argoproj.io/hook-delete-policy"]
	if !ok {
		v, ok = ann["helm.sh/hook-delete-policy"]
	}
	if !ok {
		return policy == "before-hook-creation"
	}
	for _, p := range strings.Split(v, ",") {
		p = strings.TrimSpace(p)
		if strings.EqualFold(p, policy) || strings.EqualFold(p, strings.ReplaceAll(policy, "-", "")) ||
			(policy == "hook-succeeded" && p == "HookSucceeded") || (policy == "before-hook-creation" && p == "BeforeHookCreation") {
			return true
		}
	}
	return false
}

// deleteHooks removes the group's hooks whose policy asks it.
func (c *controller) deleteHooks(ctx context.Context, group []*unstructured.Unstructured, policy string) {
	for _, o := range group {
		if !isHook(o) || !deletePolicy(o, policy) {
			continue
		}
		c.delete(ctx, o)
	}
}

// prune deletes what the last sync applied and the target no longer has.
func (c *controller) prune(ctx context.Context, op *operation) {
	keep := map[string]bool{}
	for _, o := range op.targets() {
		keep[ref(o)] = true
	}
	for _, o := range op.previous {
		if !keep[ref(o)] {
			c.delete(ctx, o)
		}
	}
}

func (c *controller) delete(ctx context.Context, o *unstructured.Unstructured) {
	gvr, namespaced, err := c.resource(o)
	if err != nil {
		return
	}
	var r dynamic.ResourceInterface = c.dyn.Resource(gvr)
	if namespaced {
		r = c.dyn.Resource(gvr).Namespace(o.GetNamespace())
	}
	propagation := metav1.DeletePropagationBackground
	r.Delete(ctx, o.GetName(), metav1.DeleteOptions{PropagationPolicy: &propagation})
}
