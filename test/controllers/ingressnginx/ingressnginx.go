// Package ingressnginx is a test double of the ingress-nginx controller
// (controller v1.15.1, chart 4.15.1) for what decides an Ingress's health:
// the addresses it writes into the status of the Ingresses it serves. It
// reads its configuration where the real controller gets it, from the
// arguments of the controller pods the chart renders, and follows
// internal/ingress/status/status.go of kubernetes/ingress-nginx.
package ingressnginx

import (
	"context"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Interval is how often the double looks; the real controller syncs its
// status every 60 s and on every change of its pods.
var Interval = 200 * time.Millisecond

// controllerSelector finds the controller pods: the chart's
// "ingress-nginx.selectorLabels" with component controller.
const controllerSelector = "app.kubernetes.io/name=ingress-nginx,app.kubernetes.io/component=controller"

// Run updates Ingress status until ctx ends.
func Run(ctx context.Context, cfg *rest.Config) {
	kc, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return
	}
	wait.UntilWithContext(ctx, func(ctx context.Context) { sync(ctx, kc) }, Interval)
}

// controller is one controller's configuration, from its pods' arguments
// (cmd/nginx/flags.go: --publish-service, --ingress-class,
// --controller-class, --report-node-internal-ip-address).
type controller struct {
	namespace, publishService, class, controllerClass string
	internalIP                                        bool
	pods                                              []corev1.Pod
}

func sync(ctx context.Context, kc kubernetes.Interface) {
	pods, err := kc.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{LabelSelector: controllerSelector})
	if err != nil || len(pods.Items) == 0 {
		return
	}
	ctrls := map[string]*controller{}
	for _, p := range pods.Items {
		c := ctrls[p.Namespace]
		if c == nil {
			// Flag defaults: ingress class "nginx", controller class
			// "k8s.io/ingress-nginx".
			c = &controller{namespace: p.Namespace, class: "nginx", controllerClass: "k8s.io/ingress-nginx"}
			for _, ctr := range p.Spec.Containers {
				for _, a := range ctr.Args {
					k, v, _ := strings.Cut(a, "=")
					switch k {
					case "--publish-service":
						c.publishService = v
					case "--ingress-class":
						c.class = v
					case "--controller-class":
						c.controllerClass = v
					case "--report-node-internal-ip-address":
						c.internalIP = v == "" || v == "true"
					}
				}
			}
			ctrls[p.Namespace] = c
		}
		c.pods = append(c.pods, p)
	}
	for _, c := range ctrls {
		addrs, err := c.runningAddresses(ctx, kc)
		if err != nil {
			continue
		}
		c.updateStatus(ctx, kc, addrs)
	}
}

// runningAddresses follows status.go runningAddresses: the published
// Service's addresses when --publish-service is set, else the addresses
// of the nodes running a Running and Ready controller pod (each node's
// ExternalIPs, or its InternalIPs when it has none or
// --report-node-internal-ip-address is set; internal/k8s GetNodeIPs).
func (c *controller) runningAddresses(ctx context.Context, kc kubernetes.Interface) ([]networkingv1.IngressLoadBalancerIngress, error) {
	if c.publishService != "" {
		ns, name, _ := strings.Cut(c.publishService, "/")
		svc, err := kc.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		// status.go statusAddressFromService.
		switch svc.Spec.Type {
		case corev1.ServiceTypeExternalName:
			return []networkingv1.IngressLoadBalancerIngress{{Hostname: svc.Spec.ExternalName}}, nil
		case corev1.ServiceTypeClusterIP:
			return []networkingv1.IngressLoadBalancerIngress{{IP: svc.Spec.ClusterIP}}, nil
		case corev1.ServiceTypeNodePort:
			if svc.Spec.ExternalIPs == nil {
				return []networkingv1.IngressLoadBalancerIngress{{IP: svc.Spec.ClusterIP}}, nil
			}
			var out []networkingv1.IngressLoadBalancerIngress
			for _, ip := range svc.Spec.ExternalIPs {
				out = append(out, networkingv1.IngressLoadBalancerIngress{IP: ip})
			}
			return out, nil
		default: // LoadBalancer: whatever address it was given, maybe none.
			var out []networkingv1.IngressLoadBalancerIngress
			for _, in := range svc.Status.LoadBalancer.Ingress {
				out = append(out, networkingv1.IngressLoadBalancerIngress{IP: in.IP, Hostname: in.Hostname})
			}
			for _, ip := range svc.Spec.ExternalIPs {
				out = append(out, networkingv1.IngressLoadBalancerIngress{IP: ip})
			}
			return out, nil
		}
	}
	var out []networkingv1.IngressLoadBalancerIngress
	seen := map[string]bool{}
	for _, p := range c.pods {
		if p.Status.Phase != corev1.PodRunning || !ready(p) || p.Spec.NodeName == "" {
			continue
		}
		node, err := kc.CoreV1().Nodes().Get(ctx, p.Spec.NodeName, metav1.GetOptions{})
		if err != nil {
			continue
		}
		var internal, external []string
		for _, a := range node.Status.Addresses {
			switch {
			case a.Address == "":
			case a.Type == corev1.NodeInternalIP:
				internal = append(internal, a.Address)
			case a.Type == corev1.NodeExternalIP:
				external = append(external, a.Address)
			}
		}
		ips := external
		if c.internalIP || len(external) == 0 {
			ips = internal
		}
		for _, ip := range ips {
			if !seen[ip] {
				seen[ip] = true
				out = append(out, networkingv1.IngressLoadBalancerIngress{IP: ip})
			}
		}
	}
	return out, nil
}

func ready(p corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// updateStatus writes the addresses into every Ingress the controller
// serves whose status differs (status.go updateStatus, sorted by hostname
// then IP as lessLoadBalancerIngress). It serves an Ingress whose
// ingressClassName names an IngressClass of its controller class
// (internal/ingress/controller/store: IngressClass spec.controller).
func (c *controller) updateStatus(ctx context.Context, kc kubernetes.Interface, addrs []networkingv1.IngressLoadBalancerIngress) {
	sortAddrs(addrs)
	classes, err := kc.NetworkingV1().IngressClasses().List(ctx, metav1.ListOptions{})
	if err != nil {
		return
	}
	ours := map[string]bool{}
	for _, ic := range classes.Items {
		if ic.Spec.Controller == c.controllerClass {
			ours[ic.Name] = true
		}
	}
	ings, err := kc.NetworkingV1().Ingresses(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return
	}
	for _, ing := range ings.Items {
		if ing.Spec.IngressClassName == nil || !ours[*ing.Spec.IngressClassName] {
			continue
		}
		cur := slices.Clone(ing.Status.LoadBalancer.Ingress)
		sortAddrs(cur)
		if equal(cur, addrs) {
			continue
		}
		ing.Status.LoadBalancer.Ingress = addrs
		if _, err := kc.NetworkingV1().Ingresses(ing.Namespace).UpdateStatus(ctx, &ing, metav1.UpdateOptions{}); err != nil && !apierrors.IsConflict(err) {
			continue
		}
	}
}

func sortAddrs(a []networkingv1.IngressLoadBalancerIngress) {
	sort.SliceStable(a, func(i, j int) bool {
		if a[i].Hostname != a[j].Hostname {
			return a[i].Hostname < a[j].Hostname
		}
		return a[i].IP < a[j].IP
	})
}

// equal compares hostnames and IPs (status.go ingressSliceEqual).
func equal(a, b []networkingv1.IngressLoadBalancerIngress) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].IP != b[i].IP || a[i].Hostname != b[i].Hostname {
			return false
		}
	}
	return true
}
