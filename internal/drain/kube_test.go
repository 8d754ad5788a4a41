package drain

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cto-platform/cto/test/kubeenv"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
)

// One API server with the controllers, the scheduler and KWOK for the
// package; each test has its own namespace and nodes, labelled so only
// its workloads are placed on them.
func TestMain(m *testing.M) { kubeenv.Main(m) }

const testLabel = "drain-test"

type cluster struct {
	t     *testing.T
	env   *kubeenv.Env
	kc    kubernetes.Interface
	ns    string
	nodes []string
}

// newCluster makes namespace name and n Ready nodes name-1 … name-n.
func newCluster(t *testing.T, ctx context.Context, name string, n int) *cluster {
	t.Helper()
	env := kubeenv.Require(t)
	cfg := env.RESTConfig(t)
	// Beyond client-go's default 5 requests a second, which would pace
	// the drains' polls rather than the cluster.
	cfg.QPS, cfg.Burst = 200, 400
	c := &cluster{t: t, env: env, kc: kubernetes.NewForConfigOrDie(cfg), ns: name}
	if _, err := c.kc.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		node := fmt.Sprintf("%s-%d", name, i)
		if err := env.AddNode(ctx, kubeenv.Node{Name: node, CPU: 4, MemoryGiB: 8, Labels: map[string]string{testLabel: name}}); err != nil {
			t.Fatal(err)
		}
		c.nodes = append(c.nodes, node)
	}
	for _, node := range c.nodes {
		if _, err := WaitNode(ctx, c.kc, node, Ready, Options{Timeout: time.Minute}); err != nil {
			t.Fatal(err)
		}
	}
	// The ServiceAccount admission plugin refuses pods in a namespace
	// until the service account controller has made its "default".
	c.until(ctx, "the namespace's default service account", func() bool {
		_, err := c.kc.CoreV1().ServiceAccounts(name).Get(ctx, "default", metav1.GetOptions{})
		return err == nil
	})
	return c
}

// until polls cond until it holds; the test fails when ctx ends first.
func (c *cluster) until(ctx context.Context, what string, cond func() bool) {
	c.t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			c.t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (c *cluster) podTemplate(labels map[string]string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{
		NodeSelector: map[string]string{testLabel: c.ns},
		Containers:   []corev1.Container{{Name: "app", Image: "example/app:1"}},
	}}
}

func (c *cluster) deployment(ctx context.Context, name string, replicas int32) {
	c.t.Helper()
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: appsv1.DeploymentSpec{
		Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: c.podTemplate(labels),
	}}
	if _, err := c.kc.AppsV1().Deployments(c.ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		c.t.Fatal(err)
	}
}

func (c *cluster) budget(ctx context.Context, name, app string, minAvailable int) {
	c.t.Helper()
	ma := intstr.FromInt32(int32(minAvailable))
	b := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: policyv1.PodDisruptionBudgetSpec{
		MinAvailable: &ma, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}},
	}}
	if _, err := c.kc.PolicyV1().PodDisruptionBudgets(c.ns).Create(ctx, b, metav1.CreateOptions{}); err != nil {
		c.t.Fatal(err)
	}
}

// available waits until the Deployment has n available replicas and its
// budget, if any, has counted them.
func (c *cluster) available(ctx context.Context, name string, n int32) {
	c.t.Helper()
	c.until(ctx, fmt.Sprintf("deployment %s available with %d replicas", name, n), func() bool {
		d, err := c.kc.AppsV1().Deployments(c.ns).Get(ctx, name, metav1.GetOptions{})
		return err == nil && d.Status.AvailableReplicas == n && d.Status.UpdatedReplicas == n && d.Status.Replicas == n
	})
}

// podsOn is the pods on node in the test's namespace with label app=app
// ("" for all), by name.
func (c *cluster) podsOn(ctx context.Context, node, app string) map[string]corev1.Pod {
	c.t.Helper()
	opts := metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("spec.nodeName", node).String()}
	if app != "" {
		opts.LabelSelector = "app=" + app
	}
	list, err := c.kc.CoreV1().Pods(c.ns).List(ctx, opts)
	if err != nil {
		c.t.Fatal(err)
	}
	m := map[string]corev1.Pod{}
	for _, p := range list.Items {
		m[p.Name] = p
	}
	return m
}

// logTo is an Options.Logf that logs to the test and counts refusals.
type logTo struct {
	t        *testing.T
	mu       sync.Mutex
	refusals int
}

func (l *logTo) logf(format string, args ...any) {
	l.t.Helper()
	msg := fmt.Sprintf(format, args...)
	l.mu.Lock()
	if strings.Contains(msg, "eviction refused") {
		l.refusals++
	}
	l.mu.Unlock()
	l.t.Logf("%s drain: %s", time.Now().Format("15:04:05.000"), msg)
}

// stepClock is a clock whose Sleep returns at once, having moved Now on
// by the time slept: minutes of back-off in no time.
type stepClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *stepClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *stepClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
	return nil
}

func isAvailable(p *corev1.Pod) bool {
	if p.DeletionTimestamp != nil {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// availability follows a workload's pods through a watch and keeps the
// fewest available (Ready, not terminating) at once after there were
// first want of them.
type availability struct {
	mu      sync.Mutex
	pods    map[types.UID]bool
	want    int
	reached bool
	fewest  int
	when    string // the event that brought the fewest
	events  int
	err     error
	done    chan struct{}
}

func (c *cluster) watchAvailability(ctx context.Context, app string, want int) *availability {
	c.t.Helper()
	sel := "app=" + app
	list, err := c.kc.CoreV1().Pods(c.ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		c.t.Fatal(err)
	}
	w, err := c.kc.CoreV1().Pods(c.ns).Watch(ctx, metav1.ListOptions{LabelSelector: sel, ResourceVersion: list.ResourceVersion})
	if err != nil {
		c.t.Fatal(err)
	}
	a := &availability{pods: map[types.UID]bool{}, want: want, fewest: want, done: make(chan struct{})}
	for i := range list.Items {
		a.pods[list.Items[i].UID] = isAvailable(&list.Items[i])
	}
	go func() {
		defer close(a.done)
		defer w.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-w.ResultChan():
				if !ok {
					a.fail(fmt.Errorf("the pod watch ended early"))
					return
				}
				p, isPod := ev.Object.(*corev1.Pod)
				if !isPod {
					a.fail(fmt.Errorf("the pod watch sent %s %T", ev.Type, ev.Object))
					return
				}
				a.observe(ev.Type == "DELETED", p)
			}
		}
	}()
	return a
}

func (a *availability) fail(err error) { a.mu.Lock(); defer a.mu.Unlock(); a.err = err }

func (a *availability) observe(deleted bool, p *corev1.Pod) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.events++
	if deleted {
		delete(a.pods, p.UID)
	} else {
		a.pods[p.UID] = isAvailable(p)
	}
	n := 0
	for _, ok := range a.pods {
		if ok {
			n++
		}
	}
	if n >= a.want {
		a.reached = true
	}
	if a.reached && n < a.fewest {
		a.fewest = n
		a.when = fmt.Sprintf("pod %s on %q (deleted %v, terminating %v)", p.Name, p.Spec.NodeName, deleted, p.DeletionTimestamp != nil)
	}
}
