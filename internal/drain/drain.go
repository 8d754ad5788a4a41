// Package drain cordons, drains and uncordons Kubernetes nodes as kubectl
// drain does (k8s.io/kubectl pkg/drain): it evicts a node's pods through
// the policy/v1 Eviction subresource, so every PodDisruptionBudget is
// respected, waits for them to be gone, and waits for nodes to come back
// Ready at a version. Rolling upgrades, scaling down and replacing a node
// use it.
package drain

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cto-platform/cto/internal/clock"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// Options tune Drain and WaitNode.
type Options struct {
	// Timeout bounds the whole operation: for Drain the cordon, the
	// evictions with the retries a PodDisruptionBudget forces, and the
	// wait for the evicted pods to be gone (kubectl drain --timeout). Zero
	// means no bound but ctx's, as kubectl's --timeout=0.
	Timeout time.Duration
	// Force also evicts pods that no controller manages, which nothing
	// recreates (kubectl drain --force). Without it Drain refuses before
	// it evicts anything, naming them.
	Force bool
	// Logf receives progress. Drain calls it from one goroutine at a
	// time. Nil drops it.
	Logf func(format string, args ...any)
	// Clock measures Timeout and runs the back-off and poll waits; nil
	// is the wall clock.
	Clock clock.Clock
}

type options struct {
	Options
	clock clock.Clock
	mu    *sync.Mutex
}

func (o Options) withDefaults() options {
	r := options{Options: o, clock: o.Clock, mu: new(sync.Mutex)}
	if r.clock == nil {
		r.clock = clock.Real{}
	}
	return r
}

func (o options) logf(format string, args ...any) {
	if o.Logf == nil {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.Logf(format, args...)
}

// Back-off between evictions a PodDisruptionBudget refuses: it starts
// short, since a budget often allows the next eviction as soon as a
// replacement is Ready, and doubles up to kubectl drain's fixed retry
// delay (EvictErrorRetryDelay, 5 s).
const (
	firstRetry = 250 * time.Millisecond
	maxRetry   = 5 * time.Second
)

// Drain cordons node and evicts its pods, all at once as kubectl drain
// does, each through the Eviction subresource: the API server refuses an
// eviction a PodDisruptionBudget forbids now (429 Too Many Requests) and
// Drain retries it with back-off until it is allowed or opts.Timeout runs
// out, failing then with a *BlockedError that names the pod and the
// budget. It returns once every evicted pod is gone from the node (deleted,
// or replaced by one of another UID), leaving the node cordoned. Which
// pods it evicts is said at plan. ctx cancels it all; no goroutine
// outlives it.
func Drain(ctx context.Context, kube kubernetes.Interface, node string, opts Options) error {
	o := opts.withDefaults()
	start := o.clock.Now()
	var deadline time.Time
	if o.Timeout > 0 {
		deadline = start.Add(o.Timeout)
		// A bound on the wall clock too, past the one on opts.Clock that
		// normally ends it first with a clearer error, so a hung request
		// cannot outlast the timeout.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, clock.Wall(o.clock, o.Timeout)+30*time.Second)
		defer cancel()
	}
	if err := Cordon(ctx, kube, node); err != nil {
		return fmt.Errorf("drain node %s: %w", node, err)
	}
	o.logf("node %s cordoned", node)

	list, err := kube.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("spec.nodeName", node).String(),
	})
	if err != nil {
		return fmt.Errorf("drain node %s: list its pods: %w", node, err)
	}
	p := plan(list.Items)
	for _, s := range p.skip {
		o.logf("node %s: leaving pod %s alone: %s", node, s.pod, s.why)
	}
	if len(p.unmanaged) > 0 && !o.Force {
		return fmt.Errorf("drain node %s: no controller manages %s, so nothing would recreate %s once evicted; delete %s, or drain with force to evict %s anyway",
			node, strings.Join(p.unmanaged, ", "), them(len(p.unmanaged)), them(len(p.unmanaged)), them(len(p.unmanaged)))
	}
	if len(p.evict) == 0 {
		o.logf("node %s drained: no pod to evict", node)
		return nil
	}
	o.logf("node %s: evicting %s", node, pods(len(p.evict)))

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(p.evict))
	var wg sync.WaitGroup
	for i := range p.evict {
		wg.Go(func() { errs[i] = evictAndWait(ctx, kube, node, &p.evict[i], deadline, o) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("drain node %s: %w", node, err)
	}
	o.logf("node %s drained: %s evicted in %s", node, pods(len(p.evict)), o.clock.Now().Sub(start).Round(time.Millisecond))
	return nil
}

func pods(n int) string {
	if n == 1 {
		return "1 pod"
	}
	return fmt.Sprintf("%d pods", n)
}

func them(n int) string {
	if n == 1 {
		return "it"
	}
	return "them"
}

// drainPlan is what Drain does with each pod of a node.
type drainPlan struct {
	evict     []corev1.Pod
	skip      []skipped
	unmanaged []string // namespace/name of pods no controller manages
}

type skipped struct{ pod, why string }

// plan sorts a node's pods by the filters of kubectl drain
// (k8s.io/kubectl pkg/drain/filters.go, makeFilters), as drain runs with
// --ignore-daemonsets --delete-emptydir-data:
//
//   - A pod a DaemonSet controls (controller reference apps/v1 DaemonSet,
//     isControllerRefDaemonSet) is left alone: its controller would put it
//     back on the node at once, cordoned or not (it tolerates
//     node.kubernetes.io/unschedulable). kubectl refuses a DaemonSet pod
//     whose DaemonSet is gone unless forced; here it is left alone too, as
//     the pod garbage collector removes it with the node.
//   - A mirror pod (annotation kubernetes.io/config.mirror, a static pod
//     the kubelet runs from a file, mirrorPodFilter) is left alone: the API
//     server cannot stop it.
//   - A pod already terminating (deletionTimestamp set) is left alone and
//     not waited for. kubectl evicts it again and waits for it unless it
//     has been terminating longer than --skip-wait-for-delete-timeout; a
//     pod stuck terminating on a node going away would stall a drain.
//   - A pod that has finished (phase Succeeded or Failed) is left alone:
//     it holds no resources and disrupts nothing. kubectl evicts it
//     (finished pods pass all its filters); the pod garbage collector
//     removes it when its node is deleted.
//   - A pod no controller manages (no controller reference,
//     unreplicatedFilter) is evicted only with Options.Force; nothing
//     would recreate it.
//   - A pod with an emptyDir volume is evicted and its data lost, as with
//     --delete-emptydir-data (localStorageFilter): the data is scratch
//     space by definition, and a node being upgraded or replaced loses it
//     anyway.
func plan(pods []corev1.Pod) drainPlan {
	var p drainPlan
	for _, pod := range pods {
		name := pod.Namespace + "/" + pod.Name
		ref := metav1.GetControllerOf(&pod)
		switch {
		case pod.DeletionTimestamp != nil:
			p.skip = append(p.skip, skipped{name, "already terminating"})
		case pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed:
			p.skip = append(p.skip, skipped{name, "finished (" + string(pod.Status.Phase) + ")"})
		case ref != nil && ref.APIVersion == "apps/v1" && ref.Kind == "DaemonSet":
			p.skip = append(p.skip, skipped{name, "DaemonSet " + ref.Name + " runs it on every node"})
		case hasKey(pod.Annotations, corev1.MirrorPodAnnotationKey):
			p.skip = append(p.skip, skipped{name, "static pod of the node's kubelet"})
		case ref == nil:
			p.unmanaged = append(p.unmanaged, name)
			p.evict = append(p.evict, pod)
		default:
			p.evict = append(p.evict, pod)
		}
	}
	return p
}

func hasKey(m map[string]string, k string) bool { _, ok := m[k]; return ok }

// evictAndWait evicts one pod, retrying while a PodDisruptionBudget
// forbids it, and waits until it is gone from the node.
func evictAndWait(ctx context.Context, kube kubernetes.Interface, node string, pod *corev1.Pod, deadline time.Time, o options) error {
	name := pod.Namespace + "/" + pod.Name
	pods := kube.CoreV1().Pods(pod.Namespace)
	uid := pod.UID
	// left is how long may still be waited: -1 when there is no bound.
	left := func() time.Duration {
		if deadline.IsZero() {
			return -1
		}
		return max(deadline.Sub(o.clock.Now()), 0)
	}
	retry := firstRetry
	refused := 0
	for {
		err := pods.EvictV1(ctx, &policyv1.Eviction{
			ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace},
			// The UID precondition keeps a pod that took the name since
			// (a StatefulSet's replacement) from being evicted in its place.
			DeleteOptions: &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}},
		})
		if err == nil {
			o.logf("pod %s evicted", name)
			break
		}
		if ctx.Err() != nil {
			return fmt.Errorf("evict pod %s: %w", name, ctx.Err())
		}
		switch {
		case apierrors.IsNotFound(err):
			o.logf("pod %s already gone", name)
			return nil
		case apierrors.IsConflict(err):
			// The UID precondition failed, or the API server ran out of
			// retries against concurrent writes to the pod: which one the
			// pod's current UID says.
			if gone, _ := isGone(ctx, pods, pod.Name, uid); gone {
				o.logf("pod %s already gone", name)
				return nil
			}
			o.logf("pod %s: eviction met a concurrent change, retrying: %s", name, statusText(err))
		case apierrors.IsTooManyRequests(err):
			refused++
			if refused == 1 {
				o.logf("pod %s: eviction refused, retrying until it is allowed: %s", name, statusText(err))
			}
		default:
			return fmt.Errorf("evict pod %s: %w", name, err)
		}
		wait := retry
		if l := left(); l >= 0 {
			if l == 0 {
				return blocked(ctx, kube, pod, node, err, refused, o)
			}
			wait = min(wait, l)
		}
		if err := o.clock.Sleep(ctx, wait); err != nil {
			return fmt.Errorf("evict pod %s: %w", name, err)
		}
		retry = min(2*retry, maxRetry)
	}

	var lastErr error
	for {
		gone, err := isGone(ctx, pods, pod.Name, uid)
		if gone {
			o.logf("pod %s gone from node %s", name, node)
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("wait for pod %s to go: %w", name, ctx.Err())
		}
		lastErr = err
		wait := pollInterval
		if l := left(); l >= 0 {
			if l == 0 {
				return stillThere(ctx, pods, name, pod.Name, node, o.Timeout, lastErr)
			}
			wait = min(wait, l)
		}
		if err := o.clock.Sleep(ctx, wait); err != nil {
			return fmt.Errorf("wait for pod %s to go: %w", name, err)
		}
	}
}

type podGetter interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (*corev1.Pod, error)
}

// isGone reports whether the pod of that UID no longer exists: not found,
// or the name is another pod's now (kubectl drain's waitForDelete).
func isGone(ctx context.Context, pods podGetter, name string, uid types.UID) (bool, error) {
	p, err := pods.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	return p.UID != uid, nil
}

// stillThere is the error of an evicted pod that outlived the timeout.
func stillThere(ctx context.Context, pods podGetter, name, podName, node string, timeout time.Duration, lastErr error) error {
	why := ""
	if p, err := pods.Get(ctx, podName, metav1.GetOptions{}); err == nil {
		if p.DeletionTimestamp != nil {
			why = fmt.Sprintf("; it has been terminating since %s", p.DeletionTimestamp.UTC().Format(time.RFC3339))
			if len(p.Finalizers) > 0 {
				why += fmt.Sprintf(" and waits for finalizers %s", strings.Join(p.Finalizers, ", "))
			} else {
				why += fmt.Sprintf(" (grace period %ds); is the kubelet of node %s running?", ptrOr(p.DeletionGracePeriodSeconds, 0), node)
			}
		}
	} else if lastErr != nil {
		why = "; the last read failed: " + lastErr.Error()
	}
	return fmt.Errorf("pod %s was evicted but is still on node %s after %s%s", name, node, timeout, why)
}

func ptrOr[T any](p *T, d T) T {
	if p == nil {
		return d
	}
	return *p
}

// statusText is the API server's message with its causes, which for a
// refused eviction name the PodDisruptionBudget and its counts.
func statusText(err error) string {
	var s apierrors.APIStatus
	if !errors.As(err, &s) {
		return err.Error()
	}
	st := s.Status()
	msg := st.Message
	if st.Details != nil {
		for _, c := range st.Details.Causes {
			if c.Message != "" {
				msg += " " + c.Message
			}
		}
	}
	return msg
}

// BlockedError is a drain that could not evict a pod before its timeout
// because the API server kept refusing, as it does while a
// PodDisruptionBudget forbids the eviction.
type BlockedError struct {
	Node, Namespace, Pod string
	// Budgets are the PodDisruptionBudgets of the pod's namespace whose
	// selector matches the pod, each described with its numbers.
	Budgets []string
	// Refusals is how many times the eviction was refused.
	Refusals int
	Timeout  time.Duration
	// Message is the API server's last answer.
	Message string
}

func (e *BlockedError) Error() string {
	pod := e.Namespace + "/" + e.Pod
	switch len(e.Budgets) {
	case 0:
		return fmt.Sprintf("pod %s cannot be evicted from node %s: the API server refused it %d times in %s (%s), and no PodDisruptionBudget in namespace %s selects the pod; retry when the API server accepts evictions",
			pod, e.Node, e.Refusals, e.Timeout, e.Message, e.Namespace)
	default:
		what := "PodDisruptionBudget " + e.Budgets[0]
		if len(e.Budgets) > 1 {
			what = "PodDisruptionBudgets " + strings.Join(e.Budgets, " and ")
		}
		return fmt.Sprintf("pod %s cannot be evicted from node %s: %s forbade it for %s (%d refusals; %s); to drain the node, let more of the pods the budget protects become healthy (scale their workload up), or lower the budget's minAvailable or raise its maxUnavailable, or delete the budget, then retry",
			pod, e.Node, what, e.Timeout, e.Refusals, e.Message)
	}
}

// blocked builds the error of a pod whose eviction was refused until the
// timeout: the budgets that select it, found as the API server finds them
// (the namespace's budgets whose selector matches the pod's labels; a
// budget without a selector selects nothing in policy/v1).
func blocked(ctx context.Context, kube kubernetes.Interface, pod *corev1.Pod, node string, last error, refusals int, o options) error {
	e := &BlockedError{Node: node, Namespace: pod.Namespace, Pod: pod.Name, Refusals: refusals, Timeout: o.Timeout, Message: statusText(last)}
	pdbs, err := kube.PolicyV1().PodDisruptionBudgets(pod.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		e.Message += "; listing the namespace's PodDisruptionBudgets failed: " + err.Error()
		return e
	}
	for _, b := range pdbs.Items {
		sel, err := metav1.LabelSelectorAsSelector(b.Spec.Selector)
		if err != nil || !sel.Matches(labels.Set(pod.Labels)) {
			continue
		}
		e.Budgets = append(e.Budgets, describeBudget(&b))
	}
	sort.Strings(e.Budgets)
	return e
}

func describeBudget(b *policyv1.PodDisruptionBudget) string {
	var rule string
	switch {
	case b.Spec.MinAvailable != nil:
		rule = "minAvailable " + b.Spec.MinAvailable.String()
	case b.Spec.MaxUnavailable != nil:
		rule = "maxUnavailable " + b.Spec.MaxUnavailable.String()
	}
	return fmt.Sprintf("%s/%s (%s: %d of %d pods healthy, %d needed, %d disruptions allowed)",
		b.Namespace, b.Name, rule, b.Status.CurrentHealthy, b.Status.ExpectedPods, b.Status.DesiredHealthy, b.Status.DisruptionsAllowed)
}
