package platformtest

import (
	"fmt"
	"strings"

	chart "helm.sh/helm/v4/pkg/chart/v2"
)

// certManager models the cert-manager chart v1.21.1: its six CRDs (as
// templates, with crds.enabled or the deprecated installCRDs, refused
// together as the chart's "cert-manager.crd-check" does), the controller,
// cainjector and webhook Deployments with their replicas, and the
// startupapicheck post-install hook Job. Every pod runs as the chart's
// securityContext and containerSecurityContext have it (Pod Security
// restricted) on nodeSelector kubernetes.io/os: linux. Checked against
// github.com/cert-manager/cert-manager v1.21.1 deploy/charts/cert-manager
// (values.yaml, templates/_helpers.tpl, deployment.yaml,
// cainjector-deployment.yaml, webhook-deployment.yaml,
// startupapicheck-job.yaml, crd-*.yaml). Left out: the webhook's
// admission configurations, which would send every cert-manager object
// to a pod that answers nothing on simulated nodes.
func certManager(version string) *chart.Chart {
	b := newChart("cert-manager", version)
	b.values(`installCRDs: false
crds:
  enabled: false
  keep: true
replicaCount: 1
nodeSelector:
  kubernetes.io/os: linux
tolerations: []
cainjector:
  enabled: true
  replicaCount: 1
webhook:
  replicaCount: 1
startupapicheck:
  enabled: true
`)
	b.template("crd-check.yaml", `{{- if and .Values.installCRDs .Values.crds.enabled }}
{{- fail "ERROR: the deprecated .installCRDs option cannot be enabled at the same time as its replacement .crds.enabled" }}
{{- end }}
{{- if and .Values.installCRDs (not .Values.crds.keep) }}
{{- fail "ERROR: .crds.keep is not compatible with .installCRDs, please use .crds.enabled and .crds.keep instead" }}
{{- end }}
`)
	var crds []string
	for _, c := range []struct{ group, kind, plural, scope string }{
		{"cert-manager.io", "Certificate", "certificates", "Namespaced"},
		{"cert-manager.io", "CertificateRequest", "certificaterequests", "Namespaced"},
		{"cert-manager.io", "Issuer", "issuers", "Namespaced"},
		{"cert-manager.io", "ClusterIssuer", "clusterissuers", "Cluster"},
		{"acme.cert-manager.io", "Order", "orders", "Namespaced"},
		{"acme.cert-manager.io", "Challenge", "challenges", "Namespaced"},
	} {
		crds = append(crds, crdSpec{group: c.group, kind: c.kind, plural: c.plural, cluster: c.scope == "Cluster", status: true, meta: `{{- if .Values.crds.keep }}
  annotations: {helm.sh/resource-policy: keep}
  {{- end }}`}.yaml())
	}
	b.template("crds.yaml", "{{- if or .Values.crds.enabled .Values.installCRDs }}\n"+strings.Join(crds, "---\n")+"{{- end }}\n")
	pod := `      nodeSelector: {{ toJson .Values.nodeSelector }}
      tolerations: {{ toJson .Values.tolerations }}
      securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
`
	for _, w := range []struct{ name, replicas, cond string }{
		{"cert-manager", ".Values.replicaCount", "true"},
		{"cert-manager-cainjector", ".Values.cainjector.replicaCount", ".Values.cainjector.enabled"},
		{"cert-manager-webhook", ".Values.webhook.replicaCount", "true"},
	} {
		b.template(w.name+".yaml", fmt.Sprintf(`{{- if %s }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: %s
  labels: {app.kubernetes.io/name: %s}
spec:
  replicas: {{ %s }}
  selector:
    matchLabels: {app.kubernetes.io/name: %s}
  template:
    metadata:
      labels: {app.kubernetes.io/name: %s}
    spec:
%s      containers:
        - name: main
          image: quay.io/jetstack/%s:v{{ .Chart.AppVersion | trimPrefix "v" }}
          securityContext: %s
{{- end }}
`, w.cond, w.name, w.name, w.replicas, w.name, w.name, pod, w.name, restrictedContainer))
	}
	b.template("startupapicheck.yaml", fmt.Sprintf(`{{- if .Values.startupapicheck.enabled }}
apiVersion: batch/v1
kind: Job
metadata:
  name: cert-manager-startupapicheck
  annotations:
    helm.sh/hook: post-install
    helm.sh/hook-weight: "1"
    helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
spec:
  backoffLimit: 4
  template:
    spec:
      restartPolicy: OnFailure
%s      containers:
        - name: main
          image: quay.io/jetstack/cert-manager-startupapicheck:stand-in
          securityContext: %s
{{- end }}
`, pod, restrictedContainer))
	return b.chart
}
