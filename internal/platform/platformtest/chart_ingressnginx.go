package platformtest

import (
	"fmt"

	chart "helm.sh/helm/v4/pkg/chart/v2"
)

// ingressNginx models the ingress-nginx chart 4.15.1 (controller 1.15.1):
// the controller as a Deployment, a DaemonSet or both (controller.kind),
// with its replicas, hostPorts, hostNetwork, scheduling and container
// security context (non-root 101, NET_BIND_SERVICE only), the
// --publish-service argument, the controller Service of
// controller.service.type, and IngressClass nginx. Checked against
// github.com/kubernetes/ingress-nginx helm-chart-4.15.1 charts/ingress-nginx
// (values.yaml, templates/_helpers.tpl, controller-deployment.yaml,
// controller-daemonset.yaml, controller-service.yaml,
// controller-ingressclass.yaml). Left out: the admission webhook and its
// hook Jobs, whose ValidatingWebhookConfiguration would send every Ingress
// to a pod that answers nothing on simulated nodes.
func ingressNginx(version string) *chart.Chart {
	b := newChart("ingress-nginx", version)
	b.values(`controller:
  kind: Deployment
  replicaCount: 1
  hostNetwork: false
  hostPort:
    enabled: false
    ports:
      http: 80
      https: 443
  containerPort:
    http: 80
    https: 443
  publishService:
    enabled: true
    pathOverride: ""
  nodeSelector:
    kubernetes.io/os: linux
  tolerations: []
  affinity: {}
  ingressClassResource:
    name: nginx
    enabled: true
    controllerValue: k8s.io/ingress-nginx
  service:
    enabled: true
    type: LoadBalancer
`)
	b.template("_helpers.tpl", `{{- define "ingress-nginx.controller.pod" -}}
metadata:
  labels: {app.kubernetes.io/name: ingress-nginx, app.kubernetes.io/instance: {{ .Release.Name }}, app.kubernetes.io/component: controller}
spec:
  dnsPolicy: ClusterFirst
  {{- if .Values.controller.hostNetwork }}
  hostNetwork: true
  {{- end }}
  {{- with .Values.controller.nodeSelector }}
  nodeSelector: {{ toJson . }}
  {{- end }}
  {{- with .Values.controller.tolerations }}
  tolerations: {{ toJson . }}
  {{- end }}
  {{- with .Values.controller.affinity }}
  affinity: {{ toJson . }}
  {{- end }}
  containers:
    - name: controller
      image: registry.k8s.io/ingress-nginx/controller:v{{ .Chart.AppVersion }}
      args:
        - /nginx-ingress-controller
        {{- if and .Values.controller.publishService.enabled .Values.controller.service.enabled }}
        - --publish-service={{ .Values.controller.publishService.pathOverride | default (printf "%s/%s-controller" .Release.Namespace .Release.Name) }}
        {{- end }}
        - --controller-class={{ .Values.controller.ingressClassResource.controllerValue }}
        - --ingress-class={{ .Values.controller.ingressClassResource.name }}
      securityContext:
        runAsNonRoot: true
        runAsUser: 101
        runAsGroup: 82
        allowPrivilegeEscalation: false
        seccompProfile: {type: RuntimeDefault}
        capabilities: {drop: [ALL], add: [NET_BIND_SERVICE]}
        readOnlyRootFilesystem: false
      ports:
        {{- range $key, $value := .Values.controller.containerPort }}
        - name: {{ $key }}
          containerPort: {{ $value }}
          protocol: TCP
          {{- if $.Values.controller.hostPort.enabled }}
          hostPort: {{ index $.Values.controller.hostPort.ports $key | default $value }}
          {{- end }}
        {{- end }}
{{- end -}}
`)
	// The controller runs as a Deployment, a DaemonSet or both
	// (controller.kind), the same pod in each.
	for _, kind := range []string{"Deployment", "DaemonSet"} {
		replicas := ""
		if kind == "Deployment" {
			replicas = "\n  replicas: {{ .Values.controller.replicaCount }}"
		}
		b.template("controller-"+lower(kind)+".yaml", fmt.Sprintf(`{{- if or (eq .Values.controller.kind %q) (eq .Values.controller.kind "Both") }}
apiVersion: apps/v1
kind: %s
metadata:
  name: {{ .Release.Name }}-controller
spec:%s
  selector:
    matchLabels: {app.kubernetes.io/name: ingress-nginx, app.kubernetes.io/instance: {{ .Release.Name }}, app.kubernetes.io/component: controller}
  template:
{{ include "ingress-nginx.controller.pod" . | indent 4 }}
{{- end }}
`, kind, kind, replicas))
	}
	b.template("controller-service.yaml", `{{- if .Values.controller.service.enabled }}
apiVersion: v1
kind: Service
metadata:
  name: {{ .Release.Name }}-controller
spec:
  type: {{ .Values.controller.service.type }}
  selector: {app.kubernetes.io/name: ingress-nginx, app.kubernetes.io/instance: {{ .Release.Name }}, app.kubernetes.io/component: controller}
  ports:
    - {name: http, port: 80, targetPort: http}
    - {name: https, port: 443, targetPort: https}
{{- end }}
`)
	b.template("controller-ingressclass.yaml", `{{- if .Values.controller.ingressClassResource.enabled }}
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata:
  name: {{ .Values.controller.ingressClassResource.name }}
spec:
  controller: {{ .Values.controller.ingressClassResource.controllerValue }}
{{- end }}
`)
	return b.chart
}
