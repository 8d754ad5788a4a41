package platformtest

import chart "helm.sh/helm/v4/pkg/chart/v2"

// cto models the platform's own chart, infra/charts/cto of
// github.com/5dlabs/cto at Chart.yaml version 0.2.9 (values.yaml,
// crds/, templates/controller/deployment.yaml, tools/deployment.yaml,
// tools/pvc.yaml, tools/ingress.yaml, openmemory/pvc.yaml,
// healer/pvc.yaml, cloudflare/cluster-tunnel.yaml): the CRDs (CodeRun,
// ManagedRepo, PRD), the controller, tools, openmemory, healer, pm and web
// Deployments with the global image pull secrets, PVCs of
// global.storageClass, the tools Service type, the tools Ingress of class
// nginx, a WorkflowTemplate and a Sensor, and the ClusterTunnel of the
// cloudflare operator's CRDs. The chart moves fast and has no release
// tags; files were read as stored, not all at the pinned commit.
func cto(version string) *chart.Chart {
	b := newChart("cto", version)
	b.crd("crds.yaml", crdSpec{group: "agents.platform", kind: "CodeRun", plural: "coderuns"}.yaml()+"---\n"+
		crdSpec{group: "agents.platform", kind: "ManagedRepo", plural: "managedrepos"}.yaml()+"---\n"+
		crdSpec{group: "agents.platform", kind: "PRD", plural: "prds"}.yaml())
	for _, c := range []string{"controller", "tools", "openmemory", "healer", "pm", "web"} {
		p := pod{kind: "Deployment", name: "cto-" + c, when: ".Values." + c + ".enabled", replicas: "{{ .Values." + c + ".replicaCount }}"}
		switch c {
		case "tools", "openmemory", "healer":
			// Each mounts its own PVC (healer/deployment.yaml "workspace",
			// tools/deployment.yaml "data"): a WaitForFirstConsumer class
			// binds it only once this pod is scheduled.
			p.volumeClaims = []mountedClaim{{name: "cto-" + c, when: ".Values." + c + ".persistence.enabled"}}
		}
		if c == "tools" {
			// tools/deployment.yaml runs a Docker-in-Docker sidecar
			// (docker:dind) with privileged: true.
			p.privileged = true
		}
		b.template(c+".yaml", withPullSecrets(p.render()))
	}
	for _, c := range []string{"tools", "openmemory", "healer"} {
		b.template(c+"-pvc.yaml", pvc("and .Values."+c+".enabled .Values."+c+".persistence.enabled", "cto-"+c, ".Values.global.storageClass", "{{ .Values."+c+".persistence.size }}"))
	}
	b.template("tools-service.yaml", service(".Values.tools.enabled", "cto-tools", "{{ .Values.tools.service.type }}"))
	b.template("tools-ingress.yaml", `{{- if and .Values.tools.enabled .Values.tools.ingress.enabled }}
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: cto-tools
spec:
  ingressClassName: {{ .Values.tools.ingress.className | default "nginx" }}
  rules:
    {{- range .Values.tools.ingress.hosts }}
    - host: {{ .host | quote }}
      http:
        paths:
          - path: /
            pathType: Prefix
            backend:
              service:
                name: cto-tools
                port:
                  number: 80
    {{- end }}
{{- end }}
`)
	b.template("cluster-tunnel.yaml", `{{- if .Values.cloudflare.enabled }}
apiVersion: networking.cfargotunnel.com/v1alpha2
kind: ClusterTunnel
metadata:
  name: {{ .Values.cloudflare.tunnel.name }}
spec:
  existingTunnel:
    name: {{ .Values.cloudflare.tunnel.name }}
{{- end }}
`)
	// Objects of Argo Workflows' and Argo Events' CRDs (templates/
	// controller/workflowtemplates/, sensors/): the chart syncs only after
	// those charts; its Sensors go to the automation namespace.
	b.template("workflow-template.yaml", `{{- if .Values.controller.argo.enabled }}
apiVersion: argoproj.io/v1alpha1
kind: WorkflowTemplate
metadata:
  name: play-project-workflow-template
spec:
  entrypoint: orchestrate-project
{{- end }}
`)
	b.template("sensor.yaml", `{{- if .Values.sensors.enabled }}
apiVersion: argoproj.io/v1alpha1
kind: Sensor
metadata:
  name: ci-failure-remediation
  namespace: {{ .Values.sensors.namespace }}
spec:
  dependencies: []
{{- end }}
`)
	b.values(`global:
  imagePullSecrets:
    - name: ghcr-secret
  storageClass: mayastor
controller:
  enabled: true
  replicaCount: 1
  argo:
    enabled: true
sensors:
  enabled: true
  namespace: automation
tools:
  enabled: true
  replicaCount: 1
  service:
    type: NodePort
  persistence:
    enabled: true
    size: 10Gi
  ingress:
    enabled: true
    className: nginx
    hosts:
      - host: tools.platform.local
openmemory:
  enabled: true
  replicaCount: 1
  persistence:
    enabled: true
    size: 5Gi
healer:
  enabled: true
  replicaCount: 0
  persistence:
    enabled: true
    size: 10Gi
pm:
  enabled: true
  replicaCount: 0
web:
  enabled: true
  replicaCount: 2
cloudflare:
  enabled: true
  tunnel:
    name: cto-main
`)
	return b.chart
}

// withPullSecrets adds the chart's global imagePullSecrets to a pod
// template rendered by pod.render.
func withPullSecrets(t string) string {
	return replaceOnce(t, "      containers:\n", "      {{- with .Values.global.imagePullSecrets }}\n      imagePullSecrets:\n        {{- toYaml . | nindent 8 }}\n      {{- end }}\n      containers:\n")
}
