package platformtest

import chart "helm.sh/helm/v4/pkg/chart/v2"

// argoWorkflows models argo-helm's argo-workflows chart at 1.0.18
// (charts/argo-workflows: values.yaml, templates/crds.yaml,
// crds-install-job.yaml, controller/workflow-controller-deployment.yaml,
// server/server-deployment.yaml, server/server-service.yaml): the minimal
// CRDs from templates when crds.full is false, else a pre-install hook Job
// that downloads the full ones; the controller and the server.
func argoWorkflows(version string) *chart.Chart {
	b := newChart("argo-workflows", version)
	b.template("crds.yaml", crds("and .Values.crds.install (not .Values.crds.full)",
		crd("Workflow", "workflows", "wf", "", ""), crd("WorkflowTemplate", "workflowtemplates", "wftmpl", "", ""), crd("CronWorkflow", "cronworkflows", "cwf", "", "")))
	b.template("crds-install-job.yaml", `{{- if and .Values.crds.install .Values.crds.full }}
apiVersion: batch/v1
kind: Job
metadata:
  name: argo-workflows-crd-install
  annotations:
    "helm.sh/hook": pre-install,pre-upgrade
spec:
  template:
    spec:
      restartPolicy: OnFailure
      containers:
        - name: kubectl
          image: registry.k8s.io/kubectl:v1.36.2
{{- end }}
`)
	b.template("controller.yaml", pod{kind: "Deployment", name: "argo-workflows-workflow-controller", replicas: "{{ .Values.controller.replicas }}", scheduling: ".Values.controller"}.render())
	b.template("server.yaml", pod{kind: "Deployment", name: "argo-workflows-server", when: ".Values.server.enabled", replicas: "{{ .Values.server.replicas }}", scheduling: ".Values.server"}.render())
	b.template("server-service.yaml", service(".Values.server.enabled", "argo-workflows-server", "{{ .Values.server.serviceType }}"))
	b.values(`crds:
  install: true
  full: true
controller:
  replicas: 1
  nodeSelector: {}
  tolerations: []
server:
  enabled: true
  replicas: 1
  serviceType: ClusterIP
  nodeSelector: {}
  tolerations: []
`)
	return b.chart
}

// argoEvents models argo-helm's argo-events chart at 2.4.22
// (charts/argo-events: values.yaml, templates/crds/,
// argo-events-controller/deployment.yaml, argo-events-webhook/): the CRDs
// when crds.install, the controller, the webhook when enabled.
func argoEvents(version string) *chart.Chart {
	b := newChart("argo-events", version)
	b.template("crds.yaml", crds(".Values.crds.install",
		crd("EventBus", "eventbus", "eb", "", ""), crd("EventSource", "eventsources", "es", "", ""), crd("Sensor", "sensors", "sn", "", "")))
	b.template("controller.yaml", pod{kind: "Deployment", name: "argo-events-controller-manager", replicas: "{{ .Values.controller.replicas }}", scheduling: ".Values.controller"}.render())
	b.template("webhook.yaml", pod{kind: "Deployment", name: "argo-events-events-webhook", when: ".Values.webhook.enabled", replicas: "{{ .Values.webhook.replicas }}"}.render())
	b.values(`crds:
  install: true
controller:
  replicas: 1
  nodeSelector: {}
  tolerations: []
webhook:
  enabled: false
  replicas: 1
`)
	return b.chart
}

// externalSecrets models external-secrets' chart at 2.9.0
// (deploy/charts/external-secrets: values.yaml, templates/crds/,
// deployment.yaml, webhook-deployment.yaml, cert-controller-deployment.yaml).
func externalSecrets(version string) *chart.Chart {
	b := newChart("external-secrets", version)
	b.template("crds.yaml", crds(".Values.installCRDs",
		crdSpec{group: "external-secrets.io", kind: "ExternalSecret", plural: "externalsecrets"}.yaml(),
		crdSpec{group: "external-secrets.io", kind: "SecretStore", plural: "secretstores"}.yaml(),
		crdSpec{group: "external-secrets.io", kind: "ClusterSecretStore", plural: "clustersecretstores", cluster: true}.yaml()))
	b.template("deployment.yaml", pod{kind: "Deployment", name: "external-secrets", replicas: "{{ .Values.replicaCount }}", scheduling: ".Values"}.render())
	b.template("webhook.yaml", pod{kind: "Deployment", name: "external-secrets-webhook", when: ".Values.webhook.create", replicas: "{{ .Values.webhook.replicaCount }}"}.render())
	b.template("cert-controller.yaml", pod{kind: "Deployment", name: "external-secrets-cert-controller", when: ".Values.certController.create", replicas: "1"}.render())
	b.values(`installCRDs: true
replicaCount: 1
webhook:
  create: true
  replicaCount: 1
certController:
  create: true
nodeSelector: {}
tolerations: []
`)
	return b.chart
}

// cloudnativePG models cloudnative-pg's chart at 0.29.0
// (charts/cloudnative-pg: values.yaml, templates/crds/, deployment.yaml):
// the CRDs when crds.create, the operator (hostNetwork from values).
func cloudnativePG(version string) *chart.Chart {
	b := newChart("cloudnative-pg", version)
	b.template("crds.yaml", crds(".Values.crds.create",
		crdSpec{group: "postgresql.cnpg.io", kind: "Cluster", plural: "clusters"}.yaml(),
		crdSpec{group: "postgresql.cnpg.io", kind: "Backup", plural: "backups"}.yaml(),
		crdSpec{group: "postgresql.cnpg.io", kind: "ScheduledBackup", plural: "scheduledbackups"}.yaml()))
	b.template("deployment.yaml", pod{kind: "Deployment", name: "cnpg-cloudnative-pg", replicas: "{{ .Values.replicaCount }}", scheduling: ".Values"}.render())
	b.values(`replicaCount: 1
hostNetwork: false
crds:
  create: true
nodeSelector: {}
tolerations: []
`)
	return b.chart
}

// redisOperator models OT-CONTAINER-KIT's redis-operator chart at 0.26.1
// (OT-CONTAINER-KIT/redis-operator charts/redis-operator: values.yaml,
// crds/, templates/operator-deployment.yaml).
func redisOperator(version string) *chart.Chart {
	b := newChart("redis-operator", version)
	b.crd("crds.yaml", crdSpec{group: "redis.redis.opstreelabs.in", kind: "Redis", plural: "redis"}.yaml()+"---\n"+
		crdSpec{group: "redis.redis.opstreelabs.in", kind: "RedisCluster", plural: "redisclusters"}.yaml())
	b.template("deployment.yaml", pod{kind: "Deployment", name: "redis-operator", replicas: "{{ .Values.replicas }}", scheduling: ".Values"}.render())
	b.values("replicas: 1\n" + noScheduling)
	return b.chart
}

// nvidiaDevicePlugin models NVIDIA's nvidia-device-plugin chart at 0.20.0
// (deployments/helm/nvidia-device-plugin: values.yaml, templates/
// daemonset-device-plugin.yml, validation.yml): the DaemonSet with its
// runtimeClassName, host paths (/var/lib/kubelet/device-plugins, the MPS
// root, /var/run/cdi), nodeSelector, affinity and tolerations from values;
// the chart refuses the default namespace. It creates no RuntimeClass.
func nvidiaDevicePlugin(version string) *chart.Chart {
	b := newChart("nvidia-device-plugin", version)
	b.template("validation.yml", `{{- if and (eq .Release.Namespace "default") (not .Values.allowDefaultNamespace) }}
{{- fail "Running in the 'default' namespace is not recommended." }}
{{- end }}
`)
	b.template("daemonset.yml", pod{kind: "DaemonSet", name: "nvidia-device-plugin", when: ".Values.devicePlugin.enabled", runtimeClass: ".Values.runtimeClassName",
		priorityClass: "{{ .Values.priorityClassName }}", scheduling: ".Values",
		hostPaths: []string{"/var/lib/kubelet/device-plugins", "/run/nvidia/mps", "/run/nvidia/mps/shm", "/var/run/cdi"}}.render())
	b.values(`allowDefaultNamespace: false
runtimeClassName: null
priorityClassName: system-node-critical
devicePlugin:
  enabled: true
nodeSelector: {}
affinity:
  nodeAffinity:
    requiredDuringSchedulingIgnoredDuringExecution:
      nodeSelectorTerms:
      - matchExpressions:
        - key: feature.node.kubernetes.io/pci-10de.present
          operator: In
          values: ["true"]
      - matchExpressions:
        - key: nvidia.com/gpu.present
          operator: In
          values: ["true"]
tolerations:
  - key: CriticalAddonsOnly
    operator: Exists
  - key: nvidia.com/gpu
    operator: Exists
    effect: NoSchedule
`)
	return b.chart
}
