package platformtest

import chart "helm.sh/helm/v4/pkg/chart/v2"

// cilium models the cilium chart: the agent DaemonSet, the operator and
// cilium-config.
func cilium(version string) *chart.Chart {
	b := newChart("cilium", version)
	b.template("agent.yaml", workload("DaemonSet", "cilium", ""))
	b.template("operator.yaml", workload("Deployment", "cilium-operator", "1"))
	// The chart's templates/cilium-configmap.yaml writes the MTU value
	// into cilium-config's "mtu" (0: detect from the devices).
	b.template("config.yaml", `apiVersion: v1
kind: ConfigMap
metadata:
  name: cilium-config
data:
  mtu: {{ .Values.MTU | default 0 | quote }}
`)
	return b.chart
}
