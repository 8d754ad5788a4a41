package e2e

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"
)

// checkPods asserts that every pod of the cluster runs, and runs on a node
// it may run on: one whose labels match its node selector and whose
// NoSchedule and NoExecute taints it tolerates. A pod on a GPU worker is
// there because it asked for a GPU node or tolerates the GPU taint.
func checkPods(t *testing.T, kube kubernetes.Interface) {
	t.Helper()
	ctx := context.Background()
	nodes, err := kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*corev1.Node{}
	for i := range nodes.Items {
		byName[nodes.Items[i].Name] = &nodes.Items[i]
	}
	pods, err := kube.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		id := p.Namespace + "/" + p.Name
		if p.Status.Phase != corev1.PodRunning && p.Status.Phase != corev1.PodSucceeded {
			t.Errorf("pod %s is %s", id, p.Status.Phase)
			continue
		}
		n := byName[p.Spec.NodeName]
		if n == nil {
			t.Errorf("pod %s runs on %q, which is no node of the cluster", id, p.Spec.NodeName)
			continue
		}
		if !labels.SelectorFromSet(p.Spec.NodeSelector).Matches(labels.Set(n.Labels)) {
			t.Errorf("pod %s runs on %s, whose labels do not match its node selector %v", id, n.Name, p.Spec.NodeSelector)
		}
		for _, taint := range n.Spec.Taints {
			if taint.Effect == corev1.TaintEffectPreferNoSchedule {
				continue
			}
			tolerated := false
			for _, tol := range p.Spec.Tolerations {
				tolerated = tolerated || tol.ToleratesTaint(klog.Background(), &taint, false)
			}
			if !tolerated {
				t.Errorf("pod %s runs on %s without tolerating its taint %s", id, n.Name, taint.ToString())
			}
		}
	}
}
