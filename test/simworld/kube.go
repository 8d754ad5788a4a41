package simworld

import (
	"context"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// KubeConfig is the client configuration of the kubeconfig cto wrote for
// the cluster: a client built from it proves that file works.
func (w *World) KubeConfig(cluster string) *rest.Config {
	w.T.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", w.ClusterFile(cluster, "kubeconfig"))
	if err != nil {
		w.T.Fatalf("kubeconfig: %v", err)
	}
	return cfg
}

// Kube is a clientset through the kubeconfig cto wrote for the cluster.
func (w *World) Kube(cluster string) *kubernetes.Clientset {
	w.T.Helper()
	return kubernetes.NewForConfigOrDie(w.KubeConfig(cluster))
}

// ReadyNodes lists the cluster's Nodes (named after it) that report Ready,
// by name. The datacenter's kubelets report within a few of its passes, so
// it waits up to five seconds for want of them; the caller checks the count.
func (w *World) ReadyNodes(cluster string, want int) map[string]corev1.Node {
	w.T.Helper()
	kube := w.Kube(cluster)
	ready := map[string]corev1.Node{}
	for deadline := time.Now().Add(5 * time.Second); len(ready) < want && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		list, err := kube.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
		if err != nil {
			w.T.Fatal(err)
		}
		clear(ready)
		for _, n := range list.Items {
			isReady := slices.ContainsFunc(n.Status.Conditions, func(c corev1.NodeCondition) bool {
				return c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue
			})
			if strings.HasPrefix(n.Name, cluster+"-") && isReady {
				ready[n.Name] = n
			}
		}
	}
	return ready
}
