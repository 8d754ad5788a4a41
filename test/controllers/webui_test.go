package controllers_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"net/url"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cto-platform/cto/internal/platform"
	"github.com/cto-platform/cto/internal/platform/platformtest"
	"github.com/cto-platform/cto/test/controllers/certmanager"
	"github.com/cto-platform/cto/test/controllers/controllerstest"
	"github.com/cto-platform/cto/test/controllers/ingressnginx"
	"github.com/cto-platform/cto/test/kubeenv"
)

// Every URL credentials.json names for a cluster with a domain answers:
// with the catalog's ingress-nginx, cert-manager, issuer and web-ingress
// synced, each web UI's Ingress gets the addresses of the nodes
// *.<cluster>.<domain> points at, and a certificate valid for its host.
func TestEveryWebURLAnswers(t *testing.T) {
	nodeIPs := []string{"10.8.0.1", "10.8.0.2", "10.8.0.3"}
	var nodes []kubeenv.Node
	for i, ip := range nodeIPs {
		nodes = append(nodes, kubeenv.Node{Name: "node" + string(rune('1'+i)), InternalIP: ip, CPU: 8, MemoryGiB: 16})
	}
	cluster := controllerstest.Start(t, 3*time.Minute, nodes...)
	ctx, cfg, kc := cluster.Ctx, cluster.Config, cluster.Kube

	const domain = "c1.example.com"
	comps, err := platform.SelectComponents(platform.Selection{Profile: "standard", Talos: true, Domain: domain})
	if err != nil {
		t.Fatal(err)
	}
	levels := platform.NamespaceLevels(comps)
	for ns, level := range levels {
		if ns == "kube-system" {
			continue
		}
		labels := map[string]string{}
		if level != "" {
			labels["pod-security.kubernetes.io/enforce"] = level
		}
		cluster.Namespace(t, ns, labels)
	}
	for _, c := range comps {
		switch c.Name {
		case "ingress-nginx", "cert-manager", "selfsigned-issuer", "web-ingress":
			if _, err := platformtest.Install(ctx, cfg, c, levels[c.Namespace]); err != nil {
				t.Fatal(err)
			}
		}
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go ingressnginx.Run(runCtx, cfg)
	go certmanager.Run(runCtx, cfg)

	svcs := platform.Services(comps)
	if len(svcs) != 3 {
		t.Fatalf("web UIs of standard = %v", svcs)
	}
	deadline := time.Now().Add(time.Minute)
	for _, svc := range svcs {
		u, err := url.Parse(svc.URL(domain))
		if err != nil {
			t.Fatal(err)
		}
		for {
			ing, ierr := kc.NetworkingV1().Ingresses(svc.Namespace).Get(ctx, svc.Service, metav1.GetOptions{})
			sec, serr := kc.CoreV1().Secrets(svc.Namespace).Get(ctx, svc.Service+"-tls", metav1.GetOptions{})
			var addrs []string
			if ierr == nil {
				for _, a := range ing.Status.LoadBalancer.Ingress {
					addrs = append(addrs, a.IP)
				}
			}
			if ierr == nil && serr == nil && slices.Equal(addrs, nodeIPs) && ing.Spec.Rules[0].Host == u.Host {
				block, _ := pem.Decode(sec.Data["tls.crt"])
				cert, err := x509.ParseCertificate(block.Bytes)
				if err != nil || cert.VerifyHostname(u.Host) != nil {
					t.Errorf("%s: certificate not for %s: %v", svc.Title, u.Host, err)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s at %s: Ingress %v (addresses %v), TLS secret %v", svc.Title, u, ierr, addrs, serr)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}
