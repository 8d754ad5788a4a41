package kubeenv

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// TestWorkloadsRunOnSimulatedNodes: with the controllers, the scheduler
// and KWOK, a Deployment's pods are created, placed on a node they may run
// on and Running; Pod Security as Talos configures it forbids a
// hostNetwork pod in an unlabelled namespace; a taint keeps pods off a
// node that they do not tolerate.
func TestWorkloadsRunOnSimulatedNodes(t *testing.T) {
	env := StartForTestWith(t, Options{Workloads: true})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := env.RESTConfig(t)
	kc := kubernetes.NewForConfigOrDie(cfg)

	if err := env.AddNode(ctx, Node{Name: "cp1", CPU: 4, MemoryGiB: 8, InternalIP: "10.8.0.1",
		Labels: map[string]string{"node-role.kubernetes.io/control-plane": ""},
		Taints: []corev1.Taint{{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule}}}); err != nil {
		t.Fatal(err)
	}
	if err := env.AddNode(ctx, Node{Name: "worker1", CPU: 4, MemoryGiB: 8, InternalIP: "10.8.0.2"}); err != nil {
		t.Fatal(err)
	}
	if _, err := kc.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "apps"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// The ServiceAccount admission plugin refuses pods in a namespace
	// until the service account controller has made its "default".
	for {
		if _, err := kc.CoreV1().ServiceAccounts("apps").Get(ctx, "default", metav1.GetOptions{}); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("namespace apps never got its default service account; logs in %s", env.dir)
		case <-time.After(100 * time.Millisecond):
		}
	}

	// Pod Security "baseline", enforced by default as Talos configures it.
	hostNet := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "exporter"}, Spec: corev1.PodSpec{HostNetwork: true,
		Containers: []corev1.Container{{Name: "c", Image: "example/exporter:1"}}}}
	_, err := kc.CoreV1().Pods("apps").Create(ctx, hostNet, metav1.CreateOptions{})
	if err == nil || !strings.Contains(err.Error(), "violates PodSecurity \"baseline") {
		t.Errorf("a hostNetwork pod in an unlabelled namespace: %v, want it forbidden by baseline", err)
	}

	replicas := int32(2)
	labels := map[string]string{"app": "web"}
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: appsv1.DeploymentSpec{
		Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: labels},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "web", Image: "example/web:1"}}}},
	}}
	if _, err := kc.AppsV1().Deployments("apps").Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for {
		d, err := kc.AppsV1().Deployments("apps").Get(ctx, "web", metav1.GetOptions{})
		if err == nil && d.Status.AvailableReplicas == replicas {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the Deployment never became available: %+v (%v); logs in %s", d.Status, err, env.dir)
		case <-time.After(200 * time.Millisecond):
		}
	}
	pods, err := kc.CoreV1().Pods("apps").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.Spec.NodeName != "worker1" || p.Status.Phase != corev1.PodRunning {
			t.Errorf("pod %s on %q is %s; want Running on worker1 (cp1 is tainted)", p.Name, p.Spec.NodeName, p.Status.Phase)
		}
	}

	// A pod marked not ready while its node's heartbeat lapsed, as the
	// node lifecycle controller does (MarkPodsNotReady), is reported
	// Ready again by its live kubelet.
	p := pods.Items[0]
	for i, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			p.Status.Conditions[i].Status = corev1.ConditionFalse
			p.Status.Conditions[i].Reason = "NodeNotReady"
		}
	}
	if _, err := kc.CoreV1().Pods("apps").UpdateStatus(ctx, &p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	sawFalse := false
	for {
		got, err := kc.CoreV1().Pods("apps").Get(ctx, p.Name, metav1.GetOptions{})
		if err == nil {
			for _, c := range got.Status.Conditions {
				if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue && c.Reason == "" {
					t.Logf("pod %s Ready again (its Ready condition was set False)", p.Name)
					if len(got.Status.Conditions) != len(p.Status.Conditions) {
						t.Errorf("conditions %+v, want the same %d with Ready True", got.Status.Conditions, len(p.Status.Conditions))
					}
					return
				}
				sawFalse = sawFalse || (c.Type == corev1.PodReady && c.Status == corev1.ConditionFalse)
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("pod %s stays not ready after its Ready condition was set False (seen False: %v); logs in %s", p.Name, sawFalse, env.dir)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
