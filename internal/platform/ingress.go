package platform

import (
	"cmp"
	"fmt"
)

// Certificate issuers. selfsigned-issuer comes from the catalog's raw
// chart; the ACME one is added with a DNS provider token.
const (
	SelfSignedIssuer = "selfsigned-issuer"
	ACMEIssuer       = "letsencrypt-dns01"
	// IngressClass is ingress-nginx's IngressClass (the chart's
	// controller.ingressClassResource.name default).
	IngressClass = "nginx"
	// certManagerNamespace is where cert-manager looks for a ClusterIssuer's
	// secrets (its --cluster-resource-namespace defaults to its own).
	certManagerNamespace = "cert-manager"
	letsEncrypt          = "https://acme-v02.api.letsencrypt.org/directory"
)

// DNSTokenSecret holds the DNS provider's API token for DNS-01 challenges.
var DNSTokenSecret = Secret{Namespace: certManagerNamespace, Name: "dns-provider-token", Key: "api-token"}

// acmeSolvers are cert-manager's DNS-01 solvers by DNS provider, each
// reading the token from DNSTokenSecret (cert-manager's ACME issuer
// documentation, "Cloudflare": an API token with Zone:DNS:Edit).
var acmeSolvers = map[string]map[string]any{
	"cloudflare": {"cloudflare": map[string]any{"apiTokenSecretRef": map[string]any{"name": DNSTokenSecret.Name, "key": DNSTokenSecret.Key}}},
}

// Issuer is the ClusterIssuer that signs the web UIs' certificates.
func (s Selection) Issuer() string {
	if _, ok := acmeSolvers[s.ACMEDNS]; ok {
		return ACMEIssuer
	}
	return SelfSignedIssuer
}

// URL is where a web UI answers on a cluster with a domain.
func (svc Service) URL(domain string) string {
	return fmt.Sprintf("https://%s.%s", svc.Host, domain)
}

// webIngressResources are the objects that make every web UI's URL answer:
// an Ingress of class nginx per UI among comps, its certificate requested
// from the issuer through cert-manager's ingress-shim annotation, and the
// ACME issuer when the DNS provider's token answers DNS-01 challenges.
func webIngressResources(sel Selection, comps []Component) []any {
	var out []any
	if solver, ok := acmeSolvers[sel.ACMEDNS]; ok {
		out = append(out, map[string]any{
			"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer",
			"metadata": map[string]any{"name": ACMEIssuer},
			"spec": map[string]any{"acme": map[string]any{
				"server":              cmp.Or(sel.ACMEServer, letsEncrypt),
				"privateKeySecretRef": map[string]any{"name": ACMEIssuer + "-account"},
				"solvers":             []any{map[string]any{"dns01": solver}},
			}},
		})
	}
	for _, svc := range Services(comps) {
		host := svc.Host + "." + sel.Domain
		out = append(out, map[string]any{
			"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
			"metadata": map[string]any{
				"name": svc.Service, "namespace": svc.Namespace,
				"annotations": map[string]any{"cert-manager.io/cluster-issuer": sel.Issuer()},
			},
			"spec": map[string]any{
				"ingressClassName": IngressClass,
				"tls":              []any{map[string]any{"hosts": []any{host}, "secretName": svc.Service + "-tls"}},
				"rules": []any{map[string]any{"host": host, "http": map[string]any{"paths": []any{map[string]any{
					"path": "/", "pathType": "Prefix",
					"backend": map[string]any{"service": map[string]any{"name": svc.Service, "port": map[string]any{"number": svc.Port}}},
				}}}}},
			},
		})
	}
	return out
}
