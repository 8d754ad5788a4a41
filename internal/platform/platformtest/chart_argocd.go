package platformtest

import (
	"fmt"

	chart "helm.sh/helm/v4/pkg/chart/v2"
)

// argoCD models the argo-cd chart 10.1.1 (Argo CD v3.4.4): its CRDs (as
// templates, with crds.install), the application controller StatefulSet,
// the server, repo server, ApplicationSet controller, Dex, Redis and
// notifications Deployments with their replicas, and the server's Service.
// Every container runs as the chart's containerSecurityContext has it:
// non-root, no privilege escalation, all capabilities dropped,
// RuntimeDefault seccomp (Pod Security restricted). Checked against
// github.com/argoproj/argo-helm charts/argo-cd (values.yaml, templates/
// _helpers.tpl, crds/, argocd-application-controller/statefulset.yaml,
// argocd-server/{deployment,service}.yaml, argocd-repo-server/,
// argocd-applicationset/, dex/, redis/deployment.yaml,
// argocd-notifications/). Left out: the redis-secret-init pre-install hook
// Job, which Helm would wait for before creating anything.
func argoCD(version string) *chart.Chart {
	b := newChart("argo-cd", version)
	b.values(`fullnameOverride: ""
crds:
  install: true
  keep: true
controller:
  replicas: 1
server:
  replicas: 1
  service:
    type: ClusterIP
repoServer:
  replicas: 1
applicationSet:
  replicas: 1
dex:
  enabled: true
redis:
  enabled: true
redis-ha:
  enabled: false
notifications:
  enabled: true
`)
	// templates/_helpers.tpl "argo-cd.fullname".
	b.template("_helpers.tpl", `{{- define "argo-cd.fullname" -}}
{{- if .Values.fullnameOverride -}}{{ .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains "argocd" .Release.Name -}}{{ .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else -}}{{ printf "%s-argocd" .Release.Name | trunc 63 | trimSuffix "-" }}
{{- end -}}
{{- end -}}
`)
	b.template("crds.yaml", `{{- if .Values.crds.install }}
`+crd("Application", "applications", "app", applicationColumns, `{{ if .Values.crds.keep }}
  annotations: {helm.sh/resource-policy: keep}{{ end }}`)+`---
`+crd("AppProject", "appprojects", "appproj", "", `{{ if .Values.crds.keep }}
  annotations: {helm.sh/resource-policy: keep}{{ end }}`)+`---
`+crd("ApplicationSet", "applicationsets", "appset", "", `{{ if .Values.crds.keep }}
  annotations: {helm.sh/resource-policy: keep}{{ end }}`)+`{{- end }}
`)
	b.template("controller.yaml", argoWorkload("StatefulSet", "application-controller", ".Values.controller.replicas", ""))
	b.template("server.yaml", argoWorkload("Deployment", "server", ".Values.server.replicas", "")+`---
apiVersion: v1
kind: Service
metadata:
  name: {{ include "argo-cd.fullname" . }}-server
spec:
  type: {{ .Values.server.service.type }}
  selector: {app.kubernetes.io/name: {{ include "argo-cd.fullname" . }}-server}
  ports:
    - {name: http, port: 80, targetPort: 8080}
    - {name: https, port: 443, targetPort: 8080}
`)
	b.template("repo-server.yaml", argoWorkload("Deployment", "repo-server", ".Values.repoServer.replicas", ""))
	b.template("applicationset.yaml", argoWorkload("Deployment", "applicationset-controller", ".Values.applicationSet.replicas", ""))
	b.template("dex.yaml", argoWorkload("Deployment", "dex-server", "1", ".Values.dex.enabled"))
	b.template("redis.yaml", argoWorkload("Deployment", "redis", "1", `(and .Values.redis.enabled (not (index .Values "redis-ha" "enabled")))`))
	b.template("notifications.yaml", argoWorkload("Deployment", "notifications-controller", "1", ".Values.notifications.enabled"))
	return b.chart
}

// argoWorkload is one of Argo CD's workloads named <fullname>-<name>,
// created when cond ("" for always) holds.
func argoWorkload(kind, name, replicas, cond string) string {
	if cond == "" {
		cond = "true"
	}
	spec := ""
	if kind == "StatefulSet" {
		spec = "  serviceName: {{ include \"argo-cd.fullname\" . }}-" + name + "\n"
	}
	return fmt.Sprintf(`{{- if %s }}
apiVersion: apps/v1
kind: %s
metadata:
  name: {{ include "argo-cd.fullname" . }}-%s
  labels: {app.kubernetes.io/name: {{ include "argo-cd.fullname" . }}-%s}
spec:
  replicas: {{ %s }}
%s  selector:
    matchLabels: {app.kubernetes.io/name: {{ include "argo-cd.fullname" . }}-%s}
  template:
    metadata:
      labels: {app.kubernetes.io/name: {{ include "argo-cd.fullname" . }}-%s}
    spec:
      containers:
        - name: %s
          image: quay.io/argoproj/argocd:stand-in
          securityContext: %s
{{- end }}
`, cond, kind, name, name, replicas, spec, name, name, name, restrictedContainer)
}

// restrictedContainer is a container security context Pod Security
// restricted admits, as the upstream charts set theirs.
const restrictedContainer = `{runAsNonRoot: true, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}, seccompProfile: {type: RuntimeDefault}}`
