package platformtest

import chart "helm.sh/helm/v4/pkg/chart/v2"

// localPath models rancher/local-path-provisioner's chart at v0.0.37
// (deploy/chart/local-path-provisioner: values.yaml, templates/
// deployment.yaml, storageclass.yaml, configmap.yaml, _helpers.tpl): the
// provisioner Deployment, the StorageClass (provisioner
// cluster.local/<fullname>, WaitForFirstConsumer) and the config whose
// helper pod mounts the node path through hostPath.
func localPath(version string) *chart.Chart {
	b := newChart("local-path-provisioner", version)
	b.template("deployment.yaml", pod{kind: "Deployment", name: "local-path-provisioner", replicas: "{{ .Values.replicaCount }}", scheduling: ".Values"}.render())
	b.template("storageclass.yaml", `{{- if .Values.storageClass.create }}
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: {{ .Values.storageClass.name }}
  annotations:
    storageclass.kubernetes.io/is-default-class: "{{ .Values.storageClass.defaultClass }}"
    defaultVolumeType: "{{ .Values.storageClass.defaultVolumeType }}"
provisioner: cluster.local/{{ .Release.Name }}
volumeBindingMode: {{ .Values.storageClass.volumeBindingMode }}
reclaimPolicy: {{ .Values.storageClass.reclaimPolicy }}
allowVolumeExpansion: true
{{- end }}
`)
	b.template("configmap.yaml", `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Values.configmap.name }}
data:
  config.json: |-
    {"nodePathMap": {{ .Values.nodePathMap | toJson }}}
  helperPod.yaml: |-
    apiVersion: v1
    kind: Pod
    metadata:
      name: helper-pod
    spec:
      containers:
        - name: helper-pod
          image: {{ .Values.helperImage.repository }}:{{ .Values.helperImage.tag }}
`)
	b.values(`replicaCount: 1
helperImage:
  repository: docker.io/library/busybox
  tag: latest
storageClass:
  create: true
  defaultClass: false
  defaultVolumeType: hostPath
  name: local-path
  reclaimPolicy: Delete
  volumeBindingMode: WaitForFirstConsumer
nodePathMap:
  - node: DEFAULT_PATH_FOR_NON_LISTED_NODES
    paths: [/opt/local-path-provisioner]
configmap:
  name: local-path-config
` + noScheduling)
	return b.chart
}

// longhorn models the longhorn chart at 1.12.1 (chart/: values.yaml,
// templates/daemonset-sa.yaml, deployment-driver.yaml, deployment-ui.yaml,
// storageclass.yaml, preupgrade-job.yaml, crds.yaml): longhorn-manager is
// a privileged DaemonSet with host paths, its data path mounted with
// Bidirectional propagation; the StorageClass is not an
// object of the chart but a ConfigMap longhorn-storageclass that the
// manager applies; the pre-upgrade checker is a Helm hook Job.
func longhorn(version string) *chart.Chart {
	b := newChart("longhorn", version)
	b.crd("crds.yaml", crdSpec{group: "longhorn.io", kind: "Volume", plural: "volumes"}.yaml()+"---\n"+crdSpec{group: "longhorn.io", kind: "Setting", plural: "settings"}.yaml())
	b.template("manager.yaml", pod{kind: "DaemonSet", name: "longhorn-manager", privileged: true, scheduling: ".Values.longhornManager",
		hostPaths: []string{"/boot/", "/dev/", "/proc/", "/etc/", "/var/lib/longhorn/"}, bidirectional: "/var/lib/longhorn/"}.render())
	b.template("driver.yaml", pod{kind: "Deployment", name: "longhorn-driver-deployer", replicas: "1", scheduling: ".Values.longhornDriver",
		hostPaths: []string{"/var/lib/kubelet"}}.render())
	b.template("ui.yaml", pod{kind: "Deployment", name: "longhorn-ui", replicas: "{{ .Values.longhornUI.replicas }}", scheduling: ".Values.longhornUI"}.render())
	b.template("storageclass.yaml", `{{- if .Values.persistence.createStorageClass }}
apiVersion: v1
kind: ConfigMap
metadata:
  name: longhorn-storageclass
data:
  storageclass.yaml: |
    kind: StorageClass
    apiVersion: storage.k8s.io/v1
    metadata:
      name: longhorn
      annotations:
        storageclass.kubernetes.io/is-default-class: {{ .Values.persistence.defaultClass | quote }}
    provisioner: driver.longhorn.io
    allowVolumeExpansion: true
    reclaimPolicy: "{{ .Values.persistence.reclaimPolicy }}"
    volumeBindingMode: {{ .Values.persistence.volumeBindingMode | default "Immediate" }}
    parameters:
      numberOfReplicas: "{{ .Values.persistence.defaultClassReplicaCount }}"
{{- end }}
`)
	b.template("preupgrade-job.yaml", `{{- if and .Values.preUpgradeChecker.jobEnabled .Values.preUpgradeChecker.upgradeVersionCheck }}
apiVersion: batch/v1
kind: Job
metadata:
  name: longhorn-pre-upgrade
  annotations:
    "helm.sh/hook": pre-upgrade
    "helm.sh/hook-delete-policy": hook-succeeded,before-hook-creation,hook-failed
spec:
  template:
    spec:
      restartPolicy: OnFailure
      containers:
        - name: longhorn-pre-upgrade
          image: registry.invalid/longhorn-manager:model
          securityContext:
            privileged: true
{{- end }}
`)
	b.values(`persistence:
  createStorageClass: true
  defaultClass: true
  defaultClassReplicaCount: 3
  reclaimPolicy: Delete
  volumeBindingMode: Immediate
preUpgradeChecker:
  jobEnabled: true
  upgradeVersionCheck: true
defaultSettings:
  defaultDataPath: ~
  defaultReplicaCount: ~
longhornManager:
  nodeSelector: {}
  tolerations: []
longhornDriver:
  nodeSelector: {}
  tolerations: []
longhornUI:
  replicas: 2
  nodeSelector: {}
  tolerations: []
`)
	return b.chart
}
