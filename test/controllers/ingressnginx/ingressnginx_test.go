package ingressnginx

import (
	"context"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cto-platform/cto/internal/platform"
	"github.com/cto-platform/cto/internal/platform/platformtest"
	"github.com/cto-platform/cto/test/controllers/controllerstest"
	"github.com/cto-platform/cto/test/kubeenv"
)

func ingress(ns, name, class string) *networkingv1.Ingress {
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       networkingv1.IngressSpec{IngressClassName: &class, Rules: []networkingv1.IngressRule{{Host: name + ".c1.example.com"}}},
	}
}

func addresses(ing *networkingv1.Ingress) []string {
	var out []string
	for _, a := range ing.Status.LoadBalancer.Ingress {
		out = append(out, a.IP+a.Hostname)
	}
	return out
}

// The catalog's ingress-nginx, installed from its chart model on a cluster
// with a tainted control plane and two workers, runs on the workers and
// its Ingresses get the workers' addresses (what *.<cluster>.<domain>
// points at); the chart's defaults (a Deployment publishing its
// LoadBalancer Service) leave an Ingress without an address on bare metal.
func TestIngressGetsTheAddressesOfTheNodesRunningTheController(t *testing.T) {
	cluster := controllerstest.Start(t, 3*time.Minute,
		kubeenv.Node{Name: "cp1", InternalIP: "10.8.0.1", CPU: 4, MemoryGiB: 8,
			Labels: map[string]string{"node-role.kubernetes.io/control-plane": ""},
			Taints: []corev1.Taint{{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule}}},
		kubeenv.Node{Name: "worker1", InternalIP: "10.8.0.2", CPU: 4, MemoryGiB: 8},
		kubeenv.Node{Name: "worker2", InternalIP: "10.8.0.3", CPU: 4, MemoryGiB: 8},
	)
	ctx, cfg, kc := cluster.Ctx, cluster.Config, cluster.Kube

	comps, err := platform.SelectComponents(platform.Selection{Profile: "production", Talos: true})
	if err != nil {
		t.Fatal(err)
	}
	var nginx platform.Component
	for _, c := range comps {
		if c.Name == "ingress-nginx" {
			nginx = c
		}
	}
	if _, err := platformtest.Install(ctx, cfg, nginx, platform.NamespaceLevels(comps)[nginx.Namespace]); err != nil {
		t.Fatal(err)
	}
	// The chart's defaults, as a second controller of its own class.
	defaults := platform.Component{Name: "defaults", Chart: nginx.Chart, Version: nginx.Version, Namespace: "defaults", Values: map[string]any{
		"controller": map[string]any{"ingressClassResource": map[string]any{"name": "nginx-defaults", "controllerValue": "k8s.io/ingress-nginx-defaults"}},
	}}
	if _, err := platformtest.Install(ctx, cfg, defaults, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := kc.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "apps"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, ing := range []*networkingv1.Ingress{ingress("apps", "web", platform.IngressClass), ingress("apps", "old", "nginx-defaults"), ingress("apps", "other", "traefik")} {
		if _, err := kc.NetworkingV1().Ingresses("apps").Create(ctx, ing, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go Run(runCtx, cfg)

	want := []string{"10.8.0.2", "10.8.0.3"}
	var web *networkingv1.Ingress
	deadline := time.Now().Add(time.Minute)
	for {
		web, err = kc.NetworkingV1().Ingresses("apps").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if slices.Equal(addresses(web), want) {
			break
		}
		if time.Now().After(deadline) {
			svc, _ := kc.CoreV1().Services(nginx.Namespace).Get(ctx, "ingress-nginx-controller", metav1.GetOptions{})
			t.Fatalf("Ingress web addresses = %v after a minute, want the workers' %v (controller Service type %s, load balancer %v)", addresses(web), want, svc.Spec.Type, svc.Status.LoadBalancer.Ingress)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// The chart's defaults: the controller runs, but publishes a
	// LoadBalancer Service that nothing gives an address.
	for {
		pods, err := kc.CoreV1().Pods("defaults").List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(pods.Items) == 1 && ready(pods.Items[0]) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the defaults' controller pod never became Ready: %v", pods.Items)
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(10 * Interval)
	for _, name := range []string{"old", "other"} {
		ing, err := kc.NetworkingV1().Ingresses("apps").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := addresses(ing); len(got) != 0 {
			t.Errorf("Ingress %s got addresses %v", name, got)
		}
	}

	// Written only on change.
	again, err := kc.NetworkingV1().Ingresses("apps").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if again.ResourceVersion != web.ResourceVersion {
		t.Errorf("Ingress web rewritten without a change: resourceVersion %s -> %s", web.ResourceVersion, again.ResourceVersion)
	}
}
