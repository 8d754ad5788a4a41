package platformtest

import chart "helm.sh/helm/v4/pkg/chart/v2"

// prometheus models prometheus-community's prometheus chart at 29.27.0
// (charts/prometheus: Chart.yaml dependencies, values.yaml, templates/
// deploy.yaml, pvc.yaml, service.yaml): the server
// Deployment and its PVC, and the subcharts by their conditions:
// alertmanager (a StatefulSet with a volumeClaimTemplate),
// kube-state-metrics, pushgateway and node-exporter, whose DaemonSet uses
// hostNetwork, hostPID and host paths (prometheus-node-exporter 4.56.x).
func prometheus(version string) *chart.Chart {
	b := newChart("prometheus", version)
	// deploy.yaml mounts the claim as "storage-volume".
	b.podWithClaim("server.yaml", "server-pvc.yaml", pod{kind: "Deployment", name: "prometheus-server", replicas: "{{ .Values.server.replicaCount }}", scheduling: ".Values.server"},
		".Values.server.persistentVolume.enabled", ".Values.server.persistentVolume.storageClass", "{{ .Values.server.persistentVolume.size }}")
	b.template("server-service.yaml", service("true", "prometheus-server", "{{ .Values.server.service.type }}"))
	b.template("alertmanager.yaml", pod{kind: "StatefulSet", name: "prometheus-alertmanager", when: ".Values.alertmanager.enabled", replicas: "1",
		claims: []claim{{name: "storage", class: ".Values.alertmanager.persistence.storageClass", size: "{{ .Values.alertmanager.persistence.size }}"}}}.render())
	b.template("kube-state-metrics.yaml", pod{kind: "Deployment", name: "prometheus-kube-state-metrics", when: "(index .Values \"kube-state-metrics\").enabled", replicas: "1"}.render())
	b.template("pushgateway.yaml", pod{kind: "Deployment", name: "prometheus-prometheus-pushgateway", when: "(index .Values \"prometheus-pushgateway\").enabled", replicas: "1"}.render())
	b.template("node-exporter.yaml", nodeExporterPod("(index .Values \"prometheus-node-exporter\").enabled", "prometheus-prometheus-node-exporter", ""))
	b.values(`server:
  replicaCount: 1
  persistentVolume:
    enabled: true
    size: 8Gi
  service:
    type: ClusterIP
  nodeSelector: {}
  tolerations: []
  affinity: {}
alertmanager:
  enabled: true
  persistence:
    size: 2Gi
kube-state-metrics:
  enabled: true
prometheus-node-exporter:
  enabled: true
prometheus-pushgateway:
  enabled: true
`)
	return b.chart
}

// nodeExporterPod is prometheus-node-exporter's DaemonSet (4.56.1:
// values.yaml hostNetwork/hostPID true, hostRootFsMount; templates/
// daemonset.yaml hostPath /proc, /sys, /; tolerations NoSchedule Exists).
func nodeExporterPod(when, name, scheduling string) string {
	return pod{kind: "DaemonSet", name: name, when: when, hostNetwork: true, hostPID: true, scheduling: scheduling,
		hostPaths: []string{"/proc", "/sys", "/"}}.render()
}

// nodeExporter models the prometheus-node-exporter chart at 4.56.1 on
// its own: the DaemonSet and its Service, which the default annotation
// prometheus.io/scrape makes Prometheus's service-endpoints job scrape.
func nodeExporter(version string) *chart.Chart {
	b := newChart("prometheus-node-exporter", version)
	b.template("daemonset.yaml", nodeExporterPod("true", "prometheus-node-exporter", ".Values"))
	b.template("service.yaml", service("true", "prometheus-node-exporter", "{{ .Values.service.type }}"))
	b.values(`service:
  type: ClusterIP
nodeSelector: {}
tolerations:
  - effect: NoSchedule
    operator: Exists
affinity: {}
`)
	return b.chart
}

// grafana models grafana-community's grafana chart at 12.11.1
// (charts/grafana: values.yaml, templates/deployment.yaml, pvc.yaml,
// tests/): the Deployment, its PVC when persistence is on (its
// init-chown container runs as root with CHOWN), and the test pod.
func grafana(version string) *chart.Chart {
	b := newChart("grafana", version)
	// _pod.tpl mounts the claim as "storage".
	b.podWithClaim("deployment.yaml", "pvc.yaml", pod{kind: "Deployment", name: "grafana", replicas: "{{ .Values.replicas }}", scheduling: ".Values"},
		"and .Values.persistence.enabled (eq .Values.persistence.type \"pvc\")", ".Values.persistence.storageClassName", "{{ .Values.persistence.size }}")
	b.template("service.yaml", service("true", "grafana", "{{ .Values.service.type }}"))
	b.template("test.yaml", `{{- if .Values.testFramework.enabled }}
apiVersion: v1
kind: Pod
metadata:
  name: grafana-test
  annotations:
    "helm.sh/hook": test
spec:
  restartPolicy: Never
  containers:
    - name: test
      image: registry.invalid/bats:model
{{- end }}
`)
	b.values(`replicas: 1
persistence:
  type: pvc
  enabled: false
  size: 10Gi
service:
  type: ClusterIP
testFramework:
  enabled: true
` + noScheduling)
	return b.chart
}

// loki models grafana's loki chart at 7.3.0 (production/helm/loki:
// values.yaml, templates/validate.yaml, single-binary/statefulset.yaml,
// backend|read|write/, chunks-cache/, results-cache/, loki-canary/,
// gateway/): the chart's validation, the single binary StatefulSet with
// its volumeClaimTemplate, the simple-scalable targets, the memcached
// caches, the canary DaemonSet and the gateway.
func loki(version string) *chart.Chart {
	b := newChart("loki", version)
	// templates/validate.yaml, the checks a SingleBinary install meets.
	b.template("validate.yaml", `{{- if and (not .Values.lokiCanary.enabled) .Values.test.enabled }}
{{- fail "Helm test requires the Loki Canary to be enabled"}}
{{- end }}
{{- $singleBinaryReplicas := int .Values.singleBinary.replicas }}
{{- $isUsingFilesystem := eq .Values.loki.storage.type "filesystem" }}
{{- $atLeastOneScalableReplica := or (gt (int .Values.backend.replicas) 0) (gt (int .Values.read.replicas) 0) (gt (int .Values.write.replicas) 0) }}
{{- if and $isUsingFilesystem (gt $singleBinaryReplicas 1) }}
{{- fail "Cannot run more than 1 Single Binary replica without an object storage backend."}}
{{- end }}
{{- if and $isUsingFilesystem (and (eq $singleBinaryReplicas 0) $atLeastOneScalableReplica) }}
{{- fail "Cannot run scalable targets (backend, read, write) or distributed targets without an object storage backend."}}
{{- end }}
{{- if and (gt $singleBinaryReplicas 0) $atLeastOneScalableReplica (ne .Values.deploymentMode "SingleBinary<->SimpleScalable") }}
{{- fail "You have more than zero replicas configured for both the single binary and simple scalable targets. If this was intentional change the deploymentMode to the transitional 'SingleBinary<->SimpleScalable' mode"}}
{{- end }}
{{- if and (empty .Values.loki.schemaConfig) (not .Values.loki.useTestSchema) }}
{{- fail "You must provide a schema_config for Loki"}}
{{- end }}
`)
	b.template("single-binary.yaml", pod{kind: "StatefulSet", name: "loki", when: "gt (int .Values.singleBinary.replicas) 0", replicas: "{{ .Values.singleBinary.replicas }}", scheduling: ".Values.singleBinary",
		claims: []claim{{name: "storage", class: ".Values.singleBinary.persistence.storageClass", size: "{{ .Values.singleBinary.persistence.size }}"}}}.render())
	for _, t := range []string{"read", "write", "backend"} {
		b.template(t+".yaml", pod{kind: "StatefulSet", name: "loki-" + t, when: "gt (int .Values." + t + ".replicas) 0", replicas: "{{ .Values." + t + ".replicas }}"}.render())
	}
	b.template("chunks-cache.yaml", pod{kind: "StatefulSet", name: "loki-chunks-cache", when: ".Values.chunksCache.enabled", replicas: "{{ .Values.chunksCache.replicas }}"}.render())
	b.template("results-cache.yaml", pod{kind: "StatefulSet", name: "loki-results-cache", when: ".Values.resultsCache.enabled", replicas: "{{ .Values.resultsCache.replicas }}"}.render())
	b.template("canary.yaml", pod{kind: "DaemonSet", name: "loki-canary", when: ".Values.lokiCanary.enabled"}.render())
	b.template("gateway.yaml", pod{kind: "Deployment", name: "loki-gateway", when: ".Values.gateway.enabled", replicas: "{{ .Values.gateway.replicas }}"}.render())
	b.values(`deploymentMode: SimpleScalable
loki:
  storage:
    type: s3
  schemaConfig: {}
  useTestSchema: false
test:
  enabled: true
lokiCanary:
  enabled: true
gateway:
  enabled: true
  replicas: 1
singleBinary:
  replicas: 0
  persistence:
    enabled: true
    size: 10Gi
    storageClass: null
  nodeSelector: {}
  tolerations: []
  affinity: {}
read:
  replicas: 3
write:
  replicas: 3
backend:
  replicas: 3
chunksCache:
  enabled: true
  replicas: 1
resultsCache:
  enabled: true
  replicas: 1
`)
	return b.chart
}
