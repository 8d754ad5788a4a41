// Package platformtest serves models of the catalog's charts from a local
// Helm repository, so installs are tested without the network. A model is
// written here from reading the upstream chart at the catalog's version
// and keeps what decides health on bare metal (workloads and their pod
// security needs, volumes, Service types, scheduling, value validation);
// none is copied from the projects the catalog names.
package platformtest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"helm.sh/helm/v4/pkg/chart/common"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	repo "helm.sh/helm/v4/pkg/repo/v1"

	"github.com/cto-platform/cto/internal/platform"
)

// Mirror is a local Helm repository holding a stand-in chart for every
// catalog component, at the catalog's version.
type Mirror struct {
	URL string
	dir string
}

// ServeMirror starts the repository on loopback for the test's lifetime.
// Charts named in skip are left out (a chart that cannot be fetched).
func ServeMirror(t testing.TB, skip ...string) *Mirror {
	t.Helper()
	dir := t.TempDir()
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(srv.Close)
	if err := WriteRepository(dir, srv.URL, skip...); err != nil {
		t.Fatal(err)
	}
	return &Mirror{URL: srv.URL, dir: dir}
}

// WriteRepository packages the stand-in charts into dir with an index.yaml
// whose URLs start with baseURL.
func WriteRepository(dir, baseURL string, skip ...string) error {
	cat, err := platform.LoadCatalog()
	if err != nil {
		return err
	}
	skipped := map[string]bool{}
	for _, s := range skip {
		skipped[s] = true
	}
	done := map[string]bool{}
	for _, c := range cat.Components {
		key := c.Chart + "-" + c.Version
		if skipped[c.Chart] || done[key] {
			continue
		}
		done[key] = true
		if _, err := chartutil.Save(StandIn(c.Chart, c.Version), dir); err != nil {
			return fmt.Errorf("package %s: %w", key, err)
		}
	}
	idx, err := repo.IndexDirectory(dir, baseURL)
	if err != nil {
		return err
	}
	return idx.WriteFile(filepath.Join(dir, "index.yaml"), 0o644)
}

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

// crd is a schemaless CRD of Argo CD's group; like Argo CD's own, it has no
// status subresource (the controller writes status with the object).
// columns are the version's additionalPrinterColumns, indented, or "";
// meta is more of metadata (indented lines, or "").
func crd(kind, plural, short, columns, meta string) string {
	return fmt.Sprintf(`apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: %s.argoproj.io%s
spec:
  group: argoproj.io
  names:
    kind: %s
    listKind: %sList
    plural: %s
    singular: %s
    shortNames: [%s]
  scope: Namespaced
  versions:
    - name: v1alpha1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          x-kubernetes-preserve-unknown-fields: true
%s`, plural, meta, kind, kind, plural, lower(kind), short, columns)
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

// Remove deletes a chart's archive from the mirror (its index still lists
// it), as a broken mirror would.
func (m *Mirror) Remove(chartName, version string) error {
	return os.Remove(filepath.Join(m.dir, chartName+"-"+version+".tgz"))
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
