// Package controllerstest readies what the tests of the controller
// doubles share: a test cluster with nodes, a deadline and clients of it.
package controllerstest

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/cto-platform/cto/test/kubeenv"
)

// Cluster is a test cluster as one test uses it.
type Cluster struct {
	Env *kubeenv.Env
	// Ctx ends at the test's deadline for the cluster, or with the test.
	Ctx     context.Context
	Config  *rest.Config
	Kube    *kubernetes.Clientset
	Dynamic *dynamic.DynamicClient
}

// Start starts a cluster of the test's own that runs workloads
// (kubeenv.Options.Workloads) and adds nodes to it.
func Start(t *testing.T, timeout time.Duration, nodes ...kubeenv.Node) *Cluster {
	t.Helper()
	return ready(t, kubeenv.StartForTestWith(t, kubeenv.Options{Workloads: true}), timeout, nodes)
}

// Shared is the package's shared cluster (kubeenv.Require) with nodes
// added.
func Shared(t *testing.T, timeout time.Duration, nodes ...kubeenv.Node) *Cluster {
	t.Helper()
	return ready(t, kubeenv.Require(t), timeout, nodes)
}

func ready(t *testing.T, env *kubeenv.Env, timeout time.Duration, nodes []kubeenv.Node) *Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	cfg := env.RESTConfig(t)
	for _, n := range nodes {
		if err := env.AddNode(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	return &Cluster{Env: env, Ctx: ctx, Config: cfg, Kube: kubernetes.NewForConfigOrDie(cfg), Dynamic: dynamic.NewForConfigOrDie(cfg)}
}

// Namespace creates a namespace with labels (nil for none).
func (c *Cluster) Namespace(t *testing.T, name string, labels map[string]string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	if _, err := c.Kube.CoreV1().Namespaces().Create(c.Ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}
