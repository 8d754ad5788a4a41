package platform_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/chart/common"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/cto-platform/cto/internal/platform"
	"github.com/cto-platform/cto/internal/platform/platformtest"
	"github.com/cto-platform/cto/test/kubeenv"
)

// widgets is a chart whose crds/ folder defines Widgets; version 2 adds a
// printer column, and its template makes a Widget that uses a field only
// version 2's CRD defines.
func widgets(version string, withColor bool) *chart.Chart {
	column := ""
	field := ""
	if withColor {
		column = `
      additionalPrinterColumns:
      - {name: Color, type: string, jsonPath: .spec.color}`
		field = `
                color: {type: string}`
	}
	crd := fmt.Sprintf(`apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.test}
spec:
  group: example.test
  names: {kind: Widget, plural: widgets, singular: widget}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true%s
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
                size: {type: integer}%s
`, column, field)
	widget := "apiVersion: example.test/v1\nkind: Widget\nmetadata: {name: one}\nspec: {size: 1}\n"
	if withColor {
		widget = "apiVersion: example.test/v1\nkind: Widget\nmetadata: {name: one}\nspec: {size: 1, color: blue}\n"
	}
	return &chart.Chart{
		Metadata:  &chart.Metadata{APIVersion: "v2", Name: "widgets", Version: version},
		Templates: []*common.File{{Name: "templates/widget.yaml", Data: []byte(widget)}},
		Files:     []*common.File{{Name: "crds/widgets.yaml", Data: []byte(crd)}},
	}
}

// TestUpgradeAppliesTheNewCRDsFirst: Helm installs a chart's crds/ folder
// only with a new release; an upgrade whose templates use a field of the
// new CRDs works because cto applies them first, and Changes tells the
// versions apart before and after.
func TestUpgradeAppliesTheNewCRDsFirst(t *testing.T) {
	env := kubeenv.Require(t)
	ctx := context.Background()
	repo := platformtest.ServeCharts(t, widgets("1.0.0", false), widgets("2.0.0", true))
	comp := platform.Component{Name: "widgets", Repo: repo, Chart: "widgets", Version: "1.0.0", Namespace: "default", Bootstrap: true, Profiles: []string{"minimal"}}
	platformtest.UninstallAtCleanup(t, env.Kubeconfig, "default", "widgets")
	crds := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	dyn := connect(t, env).dyn
	t.Cleanup(func() {
		dyn.Resource(crds).Delete(context.Background(), "widgets.example.test", metav1.DeleteOptions{})
	})

	in := installer(t, env, "", platform.Selection{Profile: "minimal", Talos: true})
	in.WithComponents([]platform.Component{comp})
	if _, err := in.ReleaseComponent(ctx, comp); err != nil {
		t.Fatal(err)
	}
	comp.Version = "2.0.0"
	in.WithComponents([]platform.Component{comp})
	changes, err := in.Changes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []platform.Change{{Component: "widgets", Via: "helm", From: "1.0.0", To: "2.0.0"}}; !slices.Equal(changes, want) {
		t.Fatalf("changes %v, want %v", changes, want)
	}
	if _, err := in.ReleaseComponent(ctx, comp); err != nil {
		t.Fatalf("upgrade to 2.0.0: %v", err)
	}
	crd, err := dyn.Resource(crds).Get(ctx, "widgets.example.test", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	if len(versions) != 1 || !strings.Contains(fmt.Sprint(versions[0]), "Color") {
		t.Errorf("the CRD was not upgraded with the chart: %v", versions)
	}
	w, err := dyn.Resource(schema.GroupVersionResource{Group: "example.test", Version: "v1", Resource: "widgets"}).Namespace("default").Get(ctx, "one", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if color, _, _ := unstructured.NestedString(w.Object, "spec", "color"); color != "blue" {
		t.Errorf("the Widget lost the field only the new CRD defines (color %q): the CRD came after the templates", color)
	}
	if changes, err = in.Changes(ctx); err != nil || changes[0].From != "2.0.0" {
		t.Errorf("after the upgrade: changes %v, %v; want widgets at 2.0.0", changes, err)
	}
}
