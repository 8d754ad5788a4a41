// Package day2 runs the built cto's day-2 commands against a deployed
// cluster of the simulated datacenter and checks, from the doubles' side,
// what they must never break: etcd's quorum and the workloads' disruption
// budgets.
package day2

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/cto-platform/cto/test/simworld"
)

func TestMain(m *testing.M) { simworld.Main(m, nil) }

// budgetWatch follows a Deployment's pods from the API server's side and
// keeps the fewest available (Ready, not terminating) once all replicas
// first were.
type budgetWatch struct {
	mu      sync.Mutex
	pods    map[string]bool // available, by name
	full    bool
	fewest  int
	replica int
	events  int
	stop    chan struct{}
}

// workload creates a Deployment of replicas pods in namespace shop with a
// PodDisruptionBudget of minAvailable, waits until all are available and
// starts watching them.
func workload(t *testing.T, kube kubernetes.Interface, replicas, minAvailable int32) *budgetWatch {
	t.Helper()
	ctx := context.Background()
	if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{"app": "web"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "registry.example/web:1"}}},
			},
		},
	}
	if _, err := kube.AppsV1().Deployments("shop").Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	min := intstr.FromInt32(minAvailable)
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
		Spec:       policyv1.PodDisruptionBudgetSpec{MinAvailable: &min, Selector: &metav1.LabelSelector{MatchLabels: labels}},
	}
	if _, err := kube.PolicyV1().PodDisruptionBudgets("shop").Create(ctx, pdb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	b := &budgetWatch{pods: map[string]bool{}, replica: int(replicas), fewest: int(replicas), stop: make(chan struct{})}
	f := informers.NewSharedInformerFactoryWithOptions(kube, 0, informers.WithNamespace("shop"))
	inf := f.Core().V1().Pods().Informer()
	inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { b.saw(o.(*corev1.Pod), false) },
		UpdateFunc: func(_, o any) { b.saw(o.(*corev1.Pod), false) },
		DeleteFunc: func(o any) {
			if p, ok := o.(*corev1.Pod); ok {
				b.saw(p, true)
			} else if d, ok := o.(cache.DeletedFinalStateUnknown); ok {
				if p, ok := d.Obj.(*corev1.Pod); ok {
					b.saw(p, true)
				}
			}
		},
	})
	f.Start(b.stop)
	t.Cleanup(func() { close(b.stop) })
	for deadline := time.Now().Add(time.Minute); !b.isFull(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the workload's %d replicas never were all available", replicas)
		}
	}
	return b
}

func (b *budgetWatch) saw(p *corev1.Pod, gone bool) {
	available := !gone && p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning
	if available {
		ready := false
		for _, c := range p.Status.Conditions {
			ready = ready || (c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue)
		}
		available = ready
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.events++
	if available {
		b.pods[p.Name] = true
	} else {
		delete(b.pods, p.Name)
	}
	n := len(b.pods)
	if n >= b.replica {
		b.full = true
	}
	if b.full && n < b.fewest {
		b.fewest = n
	}
}

func (b *budgetWatch) isFull() bool { b.mu.Lock(); defer b.mu.Unlock(); return b.full }

// Fewest is the fewest available replicas seen since all first were, and
// how many pod events the watch saw.
func (b *budgetWatch) Fewest() (int, int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.fewest, b.events
}

// nodeNames are the hostnames of a deploy of cps control planes and
// workers workers.
func nodeNames(name string, cps, workers int) []string {
	var out []string
	for i := 1; i <= cps; i++ {
		out = append(out, fmt.Sprintf("%s-cp%d", name, i))
	}
	for i := 1; i <= workers; i++ {
		out = append(out, fmt.Sprintf("%s-worker%d", name, i))
	}
	return out
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// dumpOnFailure logs the cluster's nodes and the workload's pods when the
// test failed, to tell a drain's fault from a scheduling one.
func dumpOnFailure(t *testing.T, kube kubernetes.Interface) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		ctx := context.Background()
		nodes, _ := kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		for _, n := range nodes.Items {
			ready := ""
			for _, c := range n.Status.Conditions {
				if c.Type == corev1.NodeReady {
					ready = string(c.Status)
				}
			}
			t.Logf("node %s: ready %s, unschedulable %v, taints %v, %s", n.Name, ready, n.Spec.Unschedulable, n.Spec.Taints, n.Status.NodeInfo.OSImage)
		}
		if rss, err := kube.AppsV1().ReplicaSets("shop").List(ctx, metav1.ListOptions{}); err == nil {
			for _, rs := range rss.Items {
				t.Logf("replicaset %s: spec %d, status %+v", rs.Name, *rs.Spec.Replicas, rs.Status)
			}
		}
		if evs, err := kube.CoreV1().Events("shop").List(ctx, metav1.ListOptions{}); err == nil {
			for _, e := range evs.Items {
				t.Logf("event %s %s: %s %s (x%d)", e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Reason, e.Message, e.Count)
			}
		}
		pods, _ := kube.CoreV1().Pods("shop").List(ctx, metav1.ListOptions{})
		for _, p := range pods.Items {
			t.Logf("pod %s: node %q, phase %s, deleting %v, conditions %v", p.Name, p.Spec.NodeName, p.Status.Phase, p.DeletionTimestamp != nil, p.Status.Conditions)
		}
	})
}
