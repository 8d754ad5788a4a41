// Package platformtest serves models of the catalog's charts from a local
// Helm repository, so installs are tested without the network. A model is
// written here from reading the upstream chart at the catalog's version
// and keeps what decides health on bare metal (workloads and their pod
// security needs, volumes, Service types, scheduling, value validation);
// none is copied from the projects the catalog names.
package platformtest

import (
	"cmp"
	"fmt"
	"strings"

	"helm.sh/helm/v4/pkg/chart/common"
	chart "helm.sh/helm/v4/pkg/chart/v2"
)

// StandIn returns the chart's model when it has one (models), and
// otherwise a chart holding one ConfigMap.
func StandIn(name, version string) *chart.Chart {
	if build, ok := models[name]; ok {
		return build(version)
	}
	b := newChart(name, version)
	b.template("configmap.yaml", `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-stand-in
data:
  chart: {{ .Chart.Name }}-{{ .Chart.Version }}
`)
	return b.chart
}

// models build the chart of each component that has a model. A model is
// faithful in what decides health on bare metal; each names the upstream
// chart version and files it was checked against.
var models = map[string]func(version string) *chart.Chart{
	"cilium":                   cilium,
	"argo-cd":                  argoCD,
	"cert-manager":             certManager,
	"raw":                      raw,
	"ingress-nginx":            ingressNginx,
	"local-path-provisioner":   localPath,
	"longhorn":                 longhorn,
	"external-secrets":         externalSecrets,
	"prometheus":               prometheus,
	"prometheus-node-exporter": nodeExporter,
	"grafana":                  grafana,
	"loki":                     loki,
	"argo-workflows":           argoWorkflows,
	"argo-events":              argoEvents,
	"cloudnative-pg":           cloudnativePG,
	"redis-operator":           redisOperator,
	"nvidia-device-plugin":     nvidiaDevicePlugin,
	"cto":                      cto,
}

// builder assembles a chart.
type builder struct{ chart *chart.Chart }

func newChart(name, version string) *builder {
	return &builder{chart: &chart.Chart{Metadata: &chart.Metadata{APIVersion: "v2", Name: name, Version: version, AppVersion: version, Description: "model of the upstream chart for tests"}}}
}

// template adds templates/file.
func (b *builder) template(file, body string) {
	b.chart.Templates = append(b.chart.Templates, &common.File{Name: "templates/" + file, Data: []byte(body)})
}

// crd adds crds/file, installed before the templates as Helm does.
func (b *builder) crd(file, body string) {
	b.chart.Files = append(b.chart.Files, &common.File{Name: "crds/" + file, Data: []byte(body)})
}

// values sets the chart's default values.yaml.
func (b *builder) values(doc string) {
	vals, err := common.ReadValues([]byte(doc))
	if err != nil {
		panic(fmt.Sprintf("chart %s: values.yaml: %v", b.chart.Name(), err))
	}
	b.chart.Values = vals
	b.chart.Raw = append(b.chart.Raw, &common.File{Name: "values.yaml", Data: []byte(doc)})
}

// noScheduling is what a chart whose pods take nodeSelector, tolerations
// and affinity from the top of its values (pod.scheduling ".Values")
// ships by default: none of them.
const noScheduling = "nodeSelector: {}\ntolerations: []\naffinity: {}\n"

// applicationColumns are the columns `kubectl get applications` shows, as
// Argo CD's Application CRD declares them (manifests/crds/application-crd.yaml).
const applicationColumns = `      additionalPrinterColumns:
        - jsonPath: .status.sync.status
          name: Sync Status
          type: string
        - jsonPath: .status.health.status
          name: Health Status
          type: string
        - jsonPath: .status.sync.revision
          name: Revision
          priority: 10
          type: string
        - jsonPath: .spec.project
          name: Project
          priority: 10
          type: string
`

// crdSpec describes a schemaless CustomResourceDefinition: what the models
// need of a chart's CRDs is that its kinds exist.
type crdSpec struct {
	group, kind, plural string
	short               string // a short name, or ""
	version             string // default v1
	cluster             bool   // cluster-scoped
	// status gives the kind a status subresource, as controller-gen
	// writes CRDs; Argo CD's have none (its controller writes status with
	// the object).
	status bool
	// columns are the version's additionalPrinterColumns, indented, or "".
	columns string
	// meta is more of metadata (indented lines, template text), or "".
	meta string
}

func (c crdSpec) yaml() string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: %s.%s\n", c.plural, c.group)
	if c.meta != "" {
		fmt.Fprintf(&b, "  %s\n", c.meta)
	}
	fmt.Fprintf(&b, "spec:\n  group: %s\n  names:\n    kind: %s\n    listKind: %sList\n    plural: %s\n    singular: %s\n", c.group, c.kind, c.kind, c.plural, lower(c.kind))
	if c.short != "" {
		fmt.Fprintf(&b, "    shortNames: [%s]\n", c.short)
	}
	scope, version := "Namespaced", cmp.Or(c.version, "v1")
	if c.cluster {
		scope = "Cluster"
	}
	fmt.Fprintf(&b, "  scope: %s\n  versions:\n    - name: %s\n      served: true\n      storage: true\n", scope, version)
	if c.status {
		b.WriteString("      subresources:\n        status: {}\n")
	}
	b.WriteString("      schema:\n        openAPIV3Schema:\n          type: object\n          x-kubernetes-preserve-unknown-fields: true\n")
	b.WriteString(c.columns)
	return b.String()
}

// crd is a CRD of Argo's group (Argo CD, Workflows, Events).
func crd(kind, plural, short, columns, meta string) string {
	return crdSpec{group: "argoproj.io", version: "v1alpha1", kind: kind, plural: plural, short: short, columns: columns, meta: meta}.yaml()
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// workload renders a Deployment, StatefulSet or DaemonSet template; for a
// DaemonSet replicas is unused.
func workload(kind, name, replicas string) string {
	spec := ""
	switch kind {
	case "Deployment", "StatefulSet":
		spec = "  replicas: " + replicas + "\n"
	}
	if kind == "StatefulSet" {
		spec += "  serviceName: " + name + "\n"
	}
	return fmt.Sprintf(`apiVersion: apps/v1
kind: %s
metadata:
  name: %s
  labels:
    app.kubernetes.io/name: %s
spec:
%s  selector:
    matchLabels:
      app.kubernetes.io/name: %s
  template:
    metadata:
      labels:
        app.kubernetes.io/name: %s
    spec:
      containers:
        - name: main
          image: registry.invalid/%s:stand-in
`, kind, name, name, spec, name, name, name)
}
