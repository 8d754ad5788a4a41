package platform

import (
	"bytes"
	"context"
	"fmt"
	"io"

	chart "helm.sh/helm/v4/pkg/chart/v2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	yamlutil "k8s.io/apimachinery/pkg/util/yaml"
)

// Change is one component's version on the cluster and in the catalog.
type Change struct {
	Component string
	// Via is how it is installed: "helm" or "argocd".
	Via string
	// From is the version the cluster runs ("" when it is not installed);
	// To the catalog's.
	From, To string
}

// Changes compares what the cluster runs with the catalog's versions:
// a Helm release's deployed chart version, or the revision an
// Application targets.
func (in *Installer) Changes(ctx context.Context) ([]Change, error) {
	bootstrap, apps := in.split()
	var out []Change
	for _, c := range bootstrap {
		rel, err := in.deployedRelease(c)
		if err != nil {
			return nil, fmt.Errorf("helm release %s: %w", c.Name, err)
		}
		from := ""
		if rel != nil {
			from = rel.Chart.Metadata.Version
		}
		out = append(out, Change{Component: c.Name, Via: "helm", From: from, To: c.Version})
	}
	if in.opts.GitOps.Repo != "" {
		return out, nil
	}
	for _, c := range apps {
		to := in.application(c)
		want, _, _ := unstructured.NestedString(to.Object, "spec", "source", "targetRevision")
		app, err := in.dynamic.Resource(ApplicationGVR).Namespace(ArgoNamespace).Get(ctx, c.Name, metav1.GetOptions{})
		from := ""
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			return nil, fmt.Errorf("Application %s: %w", c.Name, err)
		default:
			from, _, _ = unstructured.NestedString(app.Object, "spec", "source", "targetRevision")
		}
		out = append(out, Change{Component: c.Name, Via: "argocd", From: from, To: want})
	}
	return out, nil
}

// upgradeCRDs applies the CRDs of a chart's crds/ folder before its
// release is upgraded: Helm installs that folder with a release but
// never upgrades it (Helm's chart_best_practices/custom_resource_definitions),
// and the new templates may use fields only the new CRDs define.
func (in *Installer) upgradeCRDs(ctx context.Context, ch *chart.Chart) error {
	for _, crd := range ch.CRDObjects() {
		dec := yamlutil.NewYAMLOrJSONDecoder(bytes.NewReader(crd.File.Data), 4096)
		for {
			var obj unstructured.Unstructured
			if err := dec.Decode(&obj.Object); err == io.EOF {
				break
			} else if err != nil {
				return fmt.Errorf("%s in chart %s: %w", crd.Filename, ch.Name(), err)
			}
			if obj.GetKind() != "CustomResourceDefinition" {
				continue
			}
			if _, err := in.dynamic.Resource(crdGVR).Apply(ctx, obj.GetName(), &obj, metav1.ApplyOptions{FieldManager: fieldManager, Force: true}); err != nil {
				return fmt.Errorf("CRD %s of chart %s: %w", obj.GetName(), ch.Name(), err)
			}
		}
	}
	return nil
}
