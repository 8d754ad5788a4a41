package drain

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cto-platform/cto/test/kubeenv"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// TestDrainKeepsDisruptionBudget: three nodes, a Deployment of three
// replicas with a PodDisruptionBudget of minAvailable 2 and a DaemonSet.
// The nodes are drained one after another, each uncordoned after, always
// the one holding most replicas next (so from the second drain on a node
// holds two or more of them, and evicting them at once would break the
// budget). A watch on the pods, started before the first drain, shows
// the available replicas never fewer than two once there were three; each
// drained node is left without replicas; the DaemonSet's pods are the
// same pods at the end.
func TestDrainKeepsDisruptionBudget(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("DRAIN_TEST_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (DRAIN_TEST_SEED to repeat it): breaks ties in the drain order", seed)
	rnd := rand.New(rand.NewPCG(seed, seed))

	c := newCluster(t, ctx, "budget", 3)
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	avail := c.watchAvailability(watchCtx, "web", 3)
	c.deployment(ctx, "web", 3)
	c.budget(ctx, "web", "web", 2)
	labels := map[string]string{"app": "agent"}
	ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "agent"}, Spec: appsv1.DaemonSetSpec{
		Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: c.podTemplate(labels)}}
	if _, err := c.kc.AppsV1().DaemonSets(c.ns).Create(ctx, ds, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c.available(ctx, "web", 3)
	agents := map[string]types.UID{} // node → its DaemonSet pod
	c.until(ctx, "a DaemonSet pod on every node", func() bool {
		for _, node := range c.nodes {
			for _, p := range c.podsOn(ctx, node, "agent") {
				agents[node] = p.UID
			}
		}
		return len(agents) == len(c.nodes)
	})

	log := &logTo{t: t}
	left := slices.Clone(c.nodes)
	most := 0
	start := time.Now()
	for len(left) > 0 {
		// The node with most replicas next; ties in the seed's order.
		rnd.Shuffle(len(left), func(i, j int) { left[i], left[j] = left[j], left[i] })
		counts := map[string]int{}
		for _, node := range left {
			counts[node] = len(c.podsOn(ctx, node, "web"))
		}
		slices.SortStableFunc(left, func(a, b string) int { return counts[b] - counts[a] })
		node := left[0]
		left = left[1:]
		most = max(most, counts[node])
		t.Logf("draining %s, which has %d of the replicas", node, counts[node])

		began := time.Now()
		if err := Drain(ctx, c.kc, node, Options{Timeout: 2 * time.Minute, Logf: log.logf}); err != nil {
			t.Fatalf("drain %s: %v", node, err)
		}
		t.Logf("drained %s in %s", node, time.Since(began).Round(time.Millisecond))
		if got := c.podsOn(ctx, node, "web"); len(got) != 0 {
			t.Errorf("after draining %s it still has replicas %v", node, slices.Collect(mapKeys(got)))
		}
		if n, err := c.kc.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{}); err != nil || !n.Spec.Unschedulable {
			t.Errorf("node %s after its drain: cordoned %v (%v), want cordoned", node, n != nil && n.Spec.Unschedulable, err)
		}
		if err := Uncordon(ctx, c.kc, node); err != nil {
			t.Fatal(err)
		}
		c.available(ctx, "web", 3)
	}
	t.Logf("three drains in %s; %d evictions refused and retried", time.Since(start).Round(time.Millisecond), log.refusals)
	if most < 2 {
		t.Errorf("no drained node held two replicas or more (most %d): the budget was never put to the test", most)
	}
	for node, uid := range agents {
		got := c.podsOn(ctx, node, "agent")
		if p, ok := got[firstKey(got)]; len(got) != 1 || !ok || p.UID != uid || p.DeletionTimestamp != nil {
			t.Errorf("node %s: DaemonSet pods %v, want its pod %s untouched", node, got, uid)
		}
	}

	stopWatch()
	<-avail.done
	avail.mu.Lock()
	defer avail.mu.Unlock()
	if avail.err != nil {
		t.Fatal(avail.err)
	}
	t.Logf("the watch saw %d pod events; fewest available after three: %d", avail.events, avail.fewest)
	if !avail.reached {
		t.Fatal("the watch never saw three available replicas")
	}
	if avail.fewest < 2 {
		t.Errorf("available replicas fell to %d, below the budget's minAvailable 2, at %s", avail.fewest, avail.when)
	}
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func firstKey[V any](m map[string]V) string {
	for k := range m {
		return k
	}
	return ""
}

// TestDrainBlockedByBudget: a budget of minAvailable equal to the
// replicas forbids every eviction, so a drain fails after its timeout
// with an error that names the pod and the budget and says how to fix
// it, and evicts nothing; with a clock that runs the back-off in no time
// a ten-minute timeout fails the same way at once; once the budget
// allows one disruption the drain succeeds.
func TestDrainBlockedByBudget(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := newCluster(t, ctx, "blocked", 2)
	c.deployment(ctx, "web", 2)
	c.budget(ctx, "web-budget", "web", 2)
	c.available(ctx, "web", 2)
	c.until(ctx, "the budget to count two healthy pods", func() bool {
		b, err := c.kc.PolicyV1().PodDisruptionBudgets(c.ns).Get(ctx, "web-budget", metav1.GetOptions{})
		return err == nil && b.Status.CurrentHealthy == 2 && b.Status.ObservedGeneration == b.Generation
	})
	var node string
	for _, n := range c.nodes {
		if len(c.podsOn(ctx, n, "web")) > 0 {
			node = n
		}
	}
	if node == "" {
		t.Fatal("no node has a replica")
	}
	onNode := c.podsOn(ctx, node, "web")

	// check asserts err is a refusal of every replica on the node, each
	// naming the budget, and returns the refusals in all.
	check := func(err error, timeout time.Duration) int {
		t.Helper()
		t.Logf("the error: %v", err)
		var blocked []*BlockedError
		var walk func(error)
		walk = func(err error) {
			var be *BlockedError
			if errors.As(err, &be) {
				blocked = append(blocked, be)
				return
			}
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				for _, e := range j.Unwrap() {
					walk(e)
				}
			} else if e := errors.Unwrap(err); e != nil {
				walk(e)
			}
		}
		walk(err)
		if len(blocked) == 0 {
			t.Fatalf("drain of %s with a budget that allows no disruption: %v, want a *BlockedError", node, err)
		}
		refusals := 0
		var named []string
		for _, be := range blocked {
			refusals += be.Refusals
			named = append(named, be.Pod)
			msg := be.Error()
			for _, want := range []string{
				"pod blocked/" + be.Pod, "PodDisruptionBudget blocked/web-budget", "minAvailable 2", "0 disruptions allowed",
				"node " + node, "for " + timeout.String(), "minAvailable or raise its maxUnavailable",
			} {
				if !strings.Contains(msg, want) {
					t.Errorf("the error does not say %q", want)
				}
			}
			if be.Namespace != "blocked" || len(be.Budgets) != 1 || !strings.HasPrefix(be.Budgets[0], "blocked/web-budget ") {
				t.Errorf("pod %s/%s blocked by %v, want blocked/web-budget alone", be.Namespace, be.Pod, be.Budgets)
			}
		}
		if slices.Sort(named); !slices.Equal(named, names(onNode)) {
			t.Errorf("the error names pods %v, want the node's replicas %v", named, names(onNode))
		}
		for name, p := range onNode {
			got, err := c.kc.CoreV1().Pods(c.ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil || got.UID != p.UID || got.DeletionTimestamp != nil {
				t.Errorf("pod %s after the blocked drain: %v, want it untouched", name, err)
			}
		}
		return refusals
	}

	timeout := 3 * time.Second
	began := time.Now()
	err := Drain(ctx, c.kc, node, Options{Timeout: timeout, Logf: (&logTo{t: t}).logf})
	took := time.Since(began)
	t.Logf("the drain failed after %s", took.Round(time.Millisecond))
	check(err, timeout)
	if took < timeout || took > timeout+10*time.Second {
		t.Errorf("the drain failed after %s, want its timeout %s", took, timeout)
	}

	timeout = 10 * time.Minute
	began = time.Now()
	err = Drain(ctx, c.kc, node, Options{Timeout: timeout, Clock: &stepClock{now: time.Now()}})
	took = time.Since(began)
	refusals := check(err, timeout)
	// 250ms, 500ms, 1s, 2s, 4s, then every 5s, and one at the end: 125
	// refusals in ten minutes; the replicas share the clock, so that many
	// in all.
	t.Logf("on the stepping clock: %d refusals in %s", refusals, took.Round(time.Millisecond))
	if refusals < 120 || refusals > 125+5*len(onNode) {
		t.Errorf("%d refusals in ten minutes of back-off, want about 125", refusals)
	}
	if took > 30*time.Second {
		t.Errorf("ten minutes on the stepping clock took %s", took)
	}

	// Without a timeout the drain retries until ctx ends, and then
	// returns at once, leaving no goroutine behind.
	cctx, ccancel := context.WithCancel(ctx)
	time.AfterFunc(time.Second, ccancel)
	began = time.Now()
	err = Drain(cctx, c.kc, node, Options{})
	took = time.Since(began)
	if !errors.Is(err, context.Canceled) || took > 3*time.Second {
		t.Errorf("drain without timeout, its context cancelled after 1s: %v after %s, want context.Canceled at once", err, took)
	}
	buf := make([]byte, 1<<20)
	if stacks := string(buf[:runtime.Stack(buf, true)]); strings.Contains(stacks, "drain.evictAndWait") {
		t.Errorf("a goroutine of the drain outlived it:\n%s", stacks)
	}

	// The fix the error suggests: let the budget allow a disruption.
	patch := []byte(`{"spec":{"minAvailable":1}}`)
	if _, err := c.kc.PolicyV1().PodDisruptionBudgets(c.ns).Patch(ctx, "web-budget", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := Drain(ctx, c.kc, node, Options{Timeout: time.Minute, Logf: (&logTo{t: t}).logf}); err != nil {
		t.Fatalf("drain once the budget allows a disruption: %v", err)
	}
	if got := c.podsOn(ctx, node, "web"); len(got) != 0 {
		t.Errorf("after the drain %s still has %v", node, slices.Collect(mapKeys(got)))
	}
	for name := range onNode {
		if _, err := c.kc.CoreV1().Pods(c.ns).Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("evicted pod %s: %v, want it gone", name, err)
		}
	}
}

// TestDrainLeavesDaemonSetAndStaticPods: on a node with a DaemonSet's
// pod, a static pod's mirror, a replica with an emptyDir volume and a pod
// no controller manages, a drain without force refuses, naming the
// unmanaged pod, before it evicts anything; with force it evicts the
// replica and the unmanaged pod and leaves the DaemonSet's pod and the
// mirror pod as they were.
func TestDrainLeavesDaemonSetAndStaticPods(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := newCluster(t, ctx, "kinds", 1)
	node := c.nodes[0]

	labels := map[string]string{"app": "agent"}
	ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "agent"}, Spec: appsv1.DaemonSetSpec{
		Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: c.podTemplate(labels)}}
	if _, err := c.kc.AppsV1().DaemonSets(c.ns).Create(ctx, ds, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	replicas := int32(1)
	scratch := c.podTemplate(map[string]string{"app": "cache"})
	scratch.Spec.Volumes = []corev1.Volume{{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "cache"}, Spec: appsv1.DeploymentSpec{
		Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "cache"}}, Template: scratch}}
	if _, err := c.kc.AppsV1().Deployments(c.ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// What a kubelet posts for a static pod it runs from a file.
	static := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "etcd-" + node, Labels: map[string]string{"app": "static"},
		Annotations: map[string]string{corev1.MirrorPodAnnotationKey: "0123456789abcdef"}},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "etcd", Image: "example/etcd:1"}}}}
	bare := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "debug", Labels: map[string]string{"app": "debug"}},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "sh", Image: "example/shell:1"}}}}
	for _, p := range []*corev1.Pod{static, bare} {
		if _, err := c.kc.CoreV1().Pods(c.ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create pod %s: %v", p.Name, err)
		}
	}
	var before map[string]corev1.Pod
	c.until(ctx, "four running pods on the node", func() bool {
		before = c.podsOn(ctx, node, "")
		running := 0
		for _, p := range before {
			if isAvailable(&p) {
				running++
			}
		}
		return running == 4
	})

	err := Drain(ctx, c.kc, node, Options{Timeout: time.Minute, Logf: (&logTo{t: t}).logf})
	if err == nil || !strings.Contains(err.Error(), "kinds/debug") || !strings.Contains(err.Error(), "force") {
		t.Fatalf("drain without force of a node with an unmanaged pod: %v, want a refusal naming kinds/debug", err)
	}
	t.Logf("without force: %v", err)
	if got := c.podsOn(ctx, node, ""); !samePods(got, before) {
		t.Errorf("the refused drain changed the node's pods: %v, were %v", names(got), names(before))
	}

	if err := Drain(ctx, c.kc, node, Options{Timeout: time.Minute, Force: true, Logf: (&logTo{t: t}).logf}); err != nil {
		t.Fatalf("drain with force: %v", err)
	}
	after := c.podsOn(ctx, node, "")
	want := map[string]corev1.Pod{}
	for name, p := range before {
		if app := p.Labels["app"]; app == "agent" || app == "static" {
			want[name] = p
		}
	}
	if !samePods(after, want) {
		t.Errorf("after the drain the node has %v, want the DaemonSet's and the static pod %v untouched", names(after), names(want))
	}
	for _, p := range after {
		if p.DeletionTimestamp != nil {
			t.Errorf("pod %s is terminating", p.Name)
		}
	}
	if _, err := c.kc.CoreV1().Pods(c.ns).Get(ctx, "debug", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the unmanaged pod after a forced drain: %v, want it gone", err)
	}
}

func samePods(a, b map[string]corev1.Pod) bool {
	if len(a) != len(b) {
		return false
	}
	for name, p := range a {
		if q, ok := b[name]; !ok || q.UID != p.UID || p.DeletionTimestamp != nil {
			return false
		}
	}
	return true
}

func names(m map[string]corev1.Pod) []string {
	s := slices.Collect(mapKeys(m))
	slices.Sort(s)
	return s
}

// TestCordonWaitDelete: cordon and uncordon are idempotent and leave the
// node as asked; a missing node is an error for them and success for
// DeleteNode, which is idempotent too; WaitNode waits for a node that is
// still to register, and fails after its timeout saying what the node
// looks like.
func TestCordonWaitDelete(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := newCluster(t, ctx, "idem", 1)
	node := c.nodes[0]
	unschedulable := func() bool {
		n, err := c.kc.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return n.Spec.Unschedulable
	}
	for i := range 2 {
		if err := Cordon(ctx, c.kc, node); err != nil || !unschedulable() {
			t.Fatalf("cordon #%d: %v; unschedulable %v", i+1, err, unschedulable())
		}
	}
	for i := range 2 {
		if err := Uncordon(ctx, c.kc, node); err != nil || unschedulable() {
			t.Fatalf("uncordon #%d: %v; unschedulable %v", i+1, err, unschedulable())
		}
	}
	if err := Cordon(ctx, c.kc, "idem-missing"); !apierrors.IsNotFound(err) {
		t.Errorf("cordon of a missing node: %v, want not found", err)
	}

	n, err := WaitNode(ctx, c.kc, node, ReadyAt(kubeenv.KubernetesVersion), Options{Timeout: 10 * time.Second})
	if err != nil || n.Name != node {
		t.Fatalf("wait for node %s Ready at %s: %v", node, kubeenv.KubernetesVersion, err)
	}
	began := time.Now()
	_, err = WaitNode(ctx, c.kc, node, KubeletVersion("v9.9.9"), Options{Timeout: time.Second})
	t.Logf("waiting for a version the node does not run: %v", err)
	if err == nil || !strings.Contains(err.Error(), `Ready=True`) || !strings.Contains(err.Error(), `kubelet "`+kubeenv.KubernetesVersion+`"`) {
		t.Errorf("wait for a version the node does not run: %v, want a timeout saying the node is Ready at %s", err, kubeenv.KubernetesVersion)
	}
	if took := time.Since(began); took < time.Second || took > 5*time.Second {
		t.Errorf("a wait of timeout 1s took %s", took)
	}

	// A node that registers while it is waited for.
	late := "idem-late"
	added := make(chan error, 1)
	go func() {
		time.Sleep(time.Second)
		added <- c.env.AddNode(ctx, kubeenv.Node{Name: late, Labels: map[string]string{testLabel: c.ns}})
	}()
	n, err = WaitNode(ctx, c.kc, late, Ready, Options{Timeout: time.Minute})
	if aerr := <-added; aerr != nil {
		t.Fatal(aerr)
	}
	if err != nil || !Ready(n) {
		t.Fatalf("wait for node %s to register and be Ready: %v", late, err)
	}

	for i := range 2 {
		if err := DeleteNode(ctx, c.kc, late); err != nil {
			t.Fatalf("delete node #%d: %v", i+1, err)
		}
	}
	if _, err := c.kc.CoreV1().Nodes().Get(ctx, late, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("node %s after DeleteNode: %v, want not found", late, err)
	}
	if _, err := WaitNode(ctx, c.kc, late, Ready, Options{Timeout: time.Second}); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("wait for a deleted node: %v, want a timeout saying it does not exist", err)
	}
}
