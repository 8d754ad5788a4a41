package platformtest

import chart "helm.sh/helm/v4/pkg/chart/v2"

// raw models bedag's raw chart 2.0.0: every entry of resources rendered as
// given, with the chart's common labels merged in. Checked against
// github.com/bedag/helm-charts raw-2.0.0 charts/raw (templates/
// resources.yaml, values.yaml).
func raw(version string) *chart.Chart {
	b := newChart("raw", version)
	b.values("resources: []\ntemplates: []\n")
	b.template("resources.yaml", `{{- $base := dict "metadata" (dict "labels" (dict "app.kubernetes.io/managed-by" .Release.Service "app.kubernetes.io/instance" .Release.Name)) -}}
{{- range .Values.resources }}
---
{{ toYaml (merge . $base) }}
{{- end }}
{{- range .Values.templates }}
---
{{ tpl . $ }}
{{- end }}
`)
	return b.chart
}
