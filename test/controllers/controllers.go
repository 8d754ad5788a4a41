// Package controllers starts, in one call, the doubles of the controllers
// a CTO Platform cluster runs besides Kubernetes's own: Argo CD,
// ingress-nginx, cert-manager and the storage provisioners. With the
// test cluster's kube-controller-manager, kube-scheduler and KWOK nodes
// they make a deploy's components become Healthy, or not, for the reasons
// a real cluster would.
package controllers

import (
	"context"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/cto-platform/cto/test/controllers/argocd"
	"github.com/cto-platform/cto/test/controllers/certmanager"
	"github.com/cto-platform/cto/test/controllers/ingressnginx"
	"github.com/cto-platform/cto/test/controllers/provisioner"
	"github.com/cto-platform/cto/test/kubeenv"
)

// Start runs every double against the cluster of kubeconfig until the
// returned stop is called; stop returns once all have ended.
func Start(kubeconfig string, opts argocd.Options) (stop func(), err error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	cfg.WarningHandler = rest.NoWarnings{}
	cfg.QPS, cfg.Burst = 100, 200
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, run := range []func(){
		func() { argocd.Run(ctx, cfg, opts) },
		func() { ingressnginx.Run(ctx, cfg) },
		func() { certmanager.Run(ctx, cfg) },
		func() { provisioner.Run(ctx, cfg) },
	} {
		wg.Add(1)
		go func() { defer wg.Done(); run() }()
	}
	return func() { cancel(); wg.Wait() }, nil
}

// ForTest readies a test cluster with workloads (kubeenv.Options.Workloads)
// for a platform install: one node, a control plane with room for every
// profile, and every double running until the test ends.
func ForTest(t testing.TB, env *kubeenv.Env, opts argocd.Options) {
	t.Helper()
	err := env.AddNode(context.Background(), kubeenv.Node{Name: "node-1", CPU: 32, MemoryGiB: 128, InternalIP: "10.8.0.11",
		Labels: map[string]string{"node-role.kubernetes.io/control-plane": ""}})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	if opts.Interval == 0 {
		opts.Interval = 50 * time.Millisecond
	}
	stop, err := Start(env.Kubeconfig, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
}
