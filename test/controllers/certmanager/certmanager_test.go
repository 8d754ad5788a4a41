package certmanager

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/cto-platform/cto/internal/platform"
	"github.com/cto-platform/cto/internal/platform/platformtest"
	"github.com/cto-platform/cto/test/controllers/controllerstest"
	"github.com/cto-platform/cto/test/kubeenv"
)

func TestMain(m *testing.M) { kubeenv.Main(m) }

// The catalog's cert-manager and issuers, with an Ingress of the kind
// cto's web-ingress renders: the self-signed ClusterIssuer turns Ready,
// the ingress-shim makes the Certificate, the Secret holds a key and a
// certificate for the Ingress's host, and the Certificate is Ready; a
// changed host is reissued; an ACME issuer's Certificate stays unready.
func TestSelfSignedCertificateForAnIngress(t *testing.T) {
	cluster := controllerstest.Shared(t, 2*time.Minute)
	ctx, cfg, kc, dyn := cluster.Ctx, cluster.Config, cluster.Kube, cluster.Dynamic

	sel := platform.Selection{Profile: "minimal", Domain: "c1.example.com", ACMEDNS: "cloudflare"}
	comps, err := platform.SelectComponents(sel)
	if err != nil {
		t.Fatal(err)
	}
	var web []any
	for _, c := range comps {
		switch c.Name {
		case "cert-manager", "selfsigned-issuer":
			if _, err := platformtest.Install(ctx, cfg, c, ""); err != nil {
				t.Fatal(err)
			}
		case "web-ingress":
			web = c.Values["resources"].([]any)
		}
	}
	// The ACME issuer from web-ingress; the Argo CD Ingress as
	// web-ingress renders it, but self-signed.
	var objs []*unstructured.Unstructured
	for _, r := range web {
		o := &unstructured.Unstructured{Object: r.(map[string]any)}
		if o.GetKind() == "ClusterIssuer" || o.GetName() == "argocd-server" {
			objs = append(objs, o)
		}
	}
	cluster.Namespace(t, platform.ArgoNamespace, nil)
	if err := platformtest.Apply(ctx, cfg, "cert-manager", objs); err != nil {
		t.Fatal(err)
	}
	ing, err := kc.NetworkingV1().Ingresses(platform.ArgoNamespace).Get(ctx, "argocd-server", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ing.Annotations["cert-manager.io/cluster-issuer"] = platform.SelfSignedIssuer
	if ing, err = kc.NetworkingV1().Ingresses(ing.Namespace).Update(ctx, ing, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// An ACME Certificate: no ACME server here, so never Ready.
	acme := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
		"metadata": map[string]any{"name": "public", "namespace": platform.ArgoNamespace},
		"spec":     map[string]any{"secretName": "public", "dnsNames": []any{"x.c1.example.com"}, "issuerRef": map[string]any{"name": platform.ACMEIssuer, "kind": "ClusterIssuer"}},
	}}
	if err := platformtest.Apply(ctx, cfg, platform.ArgoNamespace, []*unstructured.Unstructured{acme}); err != nil {
		t.Fatal(err)
	}

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go Run(runCtx, cfg)

	secretName := ing.Spec.TLS[0].SecretName
	host := ing.Spec.TLS[0].Hosts[0]
	crt := waitReady(t, cluster, platform.ArgoNamespace, secretName)
	if refs := crt.GetOwnerReferences(); len(refs) != 1 || refs[0].UID != ing.UID || refs[0].Kind != "Ingress" {
		t.Errorf("Certificate owners = %v, want the Ingress", refs)
	}
	if names, _, _ := unstructured.NestedStringSlice(crt.Object, "spec", "dnsNames"); !slices.Equal(names, []string{host}) {
		t.Errorf("Certificate dnsNames = %v, want %s", names, host)
	}
	iss, err := dyn.Resource(clusterIssuers).Get(ctx, platform.SelfSignedIssuer, metav1.GetOptions{})
	if err != nil || !isReady(iss) {
		t.Errorf("ClusterIssuer %s not Ready: %v %v", platform.SelfSignedIssuer, iss, err)
	}
	sec := checkSecret(t, cluster, platform.ArgoNamespace, secretName, host)

	// Settled: nothing is written again.
	time.Sleep(10 * Interval)
	sec2, _ := kc.CoreV1().Secrets(platform.ArgoNamespace).Get(ctx, secretName, metav1.GetOptions{})
	crt2, _ := dyn.Resource(certificates).Namespace(platform.ArgoNamespace).Get(ctx, secretName, metav1.GetOptions{})
	if sec2.ResourceVersion != sec.ResourceVersion || crt2.GetResourceVersion() != crt.GetResourceVersion() {
		t.Errorf("rewritten without a change: Secret %s -> %s, Certificate %s -> %s", sec.ResourceVersion, sec2.ResourceVersion, crt.GetResourceVersion(), crt2.GetResourceVersion())
	}

	// A new host: the shim updates the Certificate, which is reissued.
	ing, _ = kc.NetworkingV1().Ingresses(platform.ArgoNamespace).Get(ctx, "argocd-server", metav1.GetOptions{})
	ing.Spec.TLS[0].Hosts = []string{"cd.c1.example.com"}
	if _, err := kc.NetworkingV1().Ingresses(ing.Namespace).Update(ctx, ing, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	for {
		s, err := kc.CoreV1().Secrets(platform.ArgoNamespace).Get(ctx, secretName, metav1.GetOptions{})
		if err == nil && s.Annotations["cert-manager.io/alt-names"] == "cd.c1.example.com" {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the certificate was not reissued for the new host")
		}
		time.Sleep(50 * time.Millisecond)
	}
	checkSecret(t, cluster, platform.ArgoNamespace, secretName, "cd.c1.example.com")
	crt3 := waitReady(t, cluster, platform.ArgoNamespace, secretName)
	if rev, _, _ := unstructured.NestedInt64(crt3.Object, "status", "revision"); rev != 2 {
		t.Errorf("revision after reissue = %d, want 2", rev)
	}

	pub, err := dyn.Resource(certificates).Namespace(platform.ArgoNamespace).Get(ctx, "public", metav1.GetOptions{})
	if err != nil || isReady(pub) {
		t.Errorf("the ACME Certificate is Ready without an ACME server: %v %v", pub, err)
	}
	if _, err := kc.CoreV1().Secrets(platform.ArgoNamespace).Get(ctx, "public", metav1.GetOptions{}); err == nil {
		t.Error("a Secret was issued for the ACME Certificate")
	}
}

func waitReady(t *testing.T, c *controllerstest.Cluster, ns, name string) *unstructured.Unstructured {
	t.Helper()
	for {
		crt, err := c.Dynamic.Resource(certificates).Namespace(ns).Get(c.Ctx, name, metav1.GetOptions{})
		if err == nil && isReady(crt) {
			return crt
		}
		if c.Ctx.Err() != nil {
			t.Fatalf("Certificate %s/%s never Ready: %v %v", ns, name, crt, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkSecret: a kubernetes.io/tls Secret whose key pair matches, for host,
// its own CA.
func checkSecret(t *testing.T, c *controllerstest.Cluster, ns, name, host string) *corev1.Secret {
	t.Helper()
	sec, err := c.Kube.CoreV1().Secrets(ns).Get(c.Ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sec.Type != corev1.SecretTypeTLS {
		t.Errorf("Secret type %s", sec.Type)
	}
	if _, err := tls.X509KeyPair(sec.Data["tls.crt"], sec.Data["tls.key"]); err != nil {
		t.Errorf("tls.crt and tls.key: %v", err)
	}
	block, _ := pem.Decode(sec.Data["tls.crt"])
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(sec.Data["ca.crt"])
	if _, err := cert.Verify(x509.VerifyOptions{DNSName: host, Roots: pool}); err != nil {
		t.Errorf("certificate for %s: %v", host, err)
	}
	return sec
}
