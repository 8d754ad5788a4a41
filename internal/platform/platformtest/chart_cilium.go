package platformtest

import chart "helm.sh/helm/v4/pkg/chart/v2"

// cilium models the cilium chart 1.20: the agent and cilium-envoy
// DaemonSets, the operator and cilium-config. Read from the chart in
// github.com/cilium/cilium install/kubernetes/cilium (templates/
// cilium-agent/daemonset.yaml, cilium-envoy/daemonset.yaml,
// cilium-operator/deployment.yaml, cilium-configmap.yaml, validate.yaml,
// values.yaml) at the stored revisions of those files; the 1.20.3 tag
// itself could not be checked out.
//
// The chart installs no CRD: the operator registers Cilium's CRDs
// (CiliumNode, CiliumEndpoint, CiliumLoadBalancerIPPool...) when it starts,
// so none exist until it runs.
func cilium(version string) *chart.Chart {
	b := newChart("cilium", version)
	b.values(`MTU: 0
kubeProxyReplacement: "false"
cgroup:
  autoMount:
    enabled: true
  hostRoot: /run/cilium/cgroupv2
securityContext:
  privileged: false
  capabilities:
    ciliumAgent: [CHOWN, KILL, NET_ADMIN, NET_RAW, IPC_LOCK, SYS_MODULE, SYS_ADMIN, SYS_RESOURCE, DAC_OVERRIDE, FOWNER, SETGID, SETUID]
    mountCgroup: [SYS_ADMIN, SYS_CHROOT, SYS_PTRACE]
    applySysctlOverwrites: [SYS_ADMIN, SYS_CHROOT, SYS_PTRACE]
    cleanCiliumState: [NET_ADMIN, SYS_MODULE, SYS_ADMIN, SYS_RESOURCE]
sysctlfix:
  enabled: true
envoy:
  enabled: true
hubble:
  enabled: true
  relay:
    enabled: false
  ui:
    enabled: false
operator:
  replicas: 2
`)
	// templates/validate.yaml: the Hubble checks.
	b.template("validate.yaml", `{{- if and .Values.hubble.ui.enabled (not .Values.hubble.relay.enabled) }}
{{- fail "Hubble UI requires .Values.hubble.relay.enabled=true" }}
{{- end }}
{{- if and .Values.hubble.relay.enabled (not .Values.hubble.enabled) }}
{{- fail "Hubble Relay requires .Values.hubble.enabled=true" }}
{{- end }}
`)
	// The agent: host network, every toleration, host paths for BPF maps,
	// CNI and cgroups; an init container mounting bpffs runs privileged.
	b.template("agent.yaml", `apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: cilium
  labels: {k8s-app: cilium}
spec:
  selector:
    matchLabels: {k8s-app: cilium}
  template:
    metadata:
      labels: {k8s-app: cilium}
    spec:
      hostNetwork: true
      priorityClassName: system-node-critical
      tolerations:
        - operator: Exists
      initContainers:
        {{- if .Values.cgroup.autoMount.enabled }}
        - name: mount-cgroup
          image: quay.io/cilium/cilium:v{{ .Chart.Version }}
          securityContext:
            capabilities: {add: {{ toJson .Values.securityContext.capabilities.mountCgroup }}, drop: [ALL]}
        {{- end }}
        {{- if .Values.sysctlfix.enabled }}
        - name: apply-sysctl-overwrites
          image: quay.io/cilium/cilium:v{{ .Chart.Version }}
          securityContext:
            capabilities: {add: {{ toJson .Values.securityContext.capabilities.applySysctlOverwrites }}, drop: [ALL]}
          volumeMounts: [{name: hostproc, mountPath: /hostproc}]
        {{- end }}
        - name: mount-bpf-fs
          image: quay.io/cilium/cilium:v{{ .Chart.Version }}
          securityContext: {privileged: true}
          volumeMounts: [{name: bpf-maps, mountPath: /sys/fs/bpf, mountPropagation: Bidirectional}]
        - name: clean-cilium-state
          image: quay.io/cilium/cilium:v{{ .Chart.Version }}
          securityContext:
            capabilities: {add: {{ toJson .Values.securityContext.capabilities.cleanCiliumState }}, drop: [ALL]}
        - name: install-cni-binaries
          image: quay.io/cilium/cilium:v{{ .Chart.Version }}
          securityContext:
            capabilities: {drop: [ALL]}
      containers:
        - name: cilium-agent
          image: quay.io/cilium/cilium:v{{ .Chart.Version }}
          securityContext:
            {{- if .Values.securityContext.privileged }}
            privileged: true
            {{- else }}
            capabilities: {add: {{ toJson .Values.securityContext.capabilities.ciliumAgent }}, drop: [ALL]}
            {{- end }}
      volumes:
        - {name: hostproc, hostPath: {path: /proc, type: Directory}}
        - {name: cilium-run, hostPath: {path: /var/run/cilium, type: DirectoryOrCreate}}
        - {name: bpf-maps, hostPath: {path: /sys/fs/bpf, type: DirectoryOrCreate}}
        - {name: cilium-cgroup, hostPath: {path: {{ .Values.cgroup.hostRoot }}, type: DirectoryOrCreate}}
        - {name: cni-path, hostPath: {path: /opt/cni/bin, type: DirectoryOrCreate}}
        - {name: etc-cni-netd, hostPath: {path: /etc/cni/net.d, type: DirectoryOrCreate}}
        - {name: lib-modules, hostPath: {path: /lib/modules}}
        - {name: xtables-lock, hostPath: {path: /run/xtables.lock, type: FileOrCreate}}
`)
	b.template("envoy.yaml", `{{- if .Values.envoy.enabled }}
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: cilium-envoy
  labels: {k8s-app: cilium-envoy}
spec:
  selector:
    matchLabels: {k8s-app: cilium-envoy}
  template:
    metadata:
      labels: {k8s-app: cilium-envoy}
    spec:
      hostNetwork: true
      tolerations:
        - operator: Exists
      containers:
        - name: cilium-envoy
          image: quay.io/cilium/cilium-envoy:stand-in
          securityContext:
            capabilities: {add: [NET_ADMIN, SYS_ADMIN], drop: [ALL]}
      volumes:
        - {name: envoy-sockets, hostPath: {path: /var/run/cilium/envoy/sockets, type: DirectoryOrCreate}}
        - {name: bpf-maps, hostPath: {path: /sys/fs/bpf, type: DirectoryOrCreate}}
{{- end }}
`)
	// The operator: host network, every toleration, and one replica per
	// node (a required pod anti-affinity on the hostname).
	b.template("operator.yaml", `apiVersion: apps/v1
kind: Deployment
metadata:
  name: cilium-operator
  labels: {io.cilium/app: operator}
spec:
  replicas: {{ .Values.operator.replicas }}
  selector:
    matchLabels: {io.cilium/app: operator}
  template:
    metadata:
      labels: {io.cilium/app: operator}
    spec:
      hostNetwork: true
      priorityClassName: system-cluster-critical
      tolerations:
        - operator: Exists
      affinity:
        podAntiAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            - topologyKey: kubernetes.io/hostname
              labelSelector:
                matchLabels: {io.cilium/app: operator}
      containers:
        - name: cilium-operator
          image: quay.io/cilium/operator-generic:v{{ .Chart.Version }}
`)
	// templates/cilium-configmap.yaml writes the MTU value into
	// cilium-config's "mtu" (0: detect from the devices).
	b.template("config.yaml", `apiVersion: v1
kind: ConfigMap
metadata:
  name: cilium-config
data:
  mtu: {{ .Values.MTU | default 0 | quote }}
  kube-proxy-replacement: {{ .Values.kubeProxyReplacement | quote }}
`)
	return b.chart
}
