package platformtest

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/cto-platform/cto/internal/platform"
)

// Install renders a component's model and applies its objects server-side
// into a namespace labelled with level ("" for none), as Argo CD would sync
// it; hooks are applied like the rest.
func Install(ctx context.Context, cfg *rest.Config, c platform.Component, level string) ([]*unstructured.Unstructured, error) {
	objs, err := Render(c)
	if err != nil {
		return nil, err
	}
	labels := map[string]any{}
	if level != "" {
		labels["pod-security.kubernetes.io/enforce"] = level
	}
	ns := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": c.Namespace, "labels": labels}}}
	return objs, Apply(ctx, cfg, c.Namespace, append([]*unstructured.Unstructured{ns}, objs...))
}

// Apply applies objects server-side, namespaced ones without a namespace
// into namespace, CRDs first so the objects of their kinds find them.
func Apply(ctx context.Context, cfg *rest.Config, namespace string, objs []*unstructured.Unstructured) error {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	var crds, rest []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == "CustomResourceDefinition" || o.GetKind() == "Namespace" {
			crds = append(crds, o)
		} else {
			rest = append(rest, o)
		}
	}
	for _, o := range append(crds, rest...) {
		gvk := o.GroupVersionKind()
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		// A kind whose CRD was just created serves once established.
		for try := 0; err != nil && try < 100; try++ {
			time.Sleep(100 * time.Millisecond)
			mapper.Reset()
			m, err = mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		}
		if err != nil {
			return fmt.Errorf("%s %s: %w", gvk.Kind, o.GetName(), err)
		}
		ri := dyn.Resource(m.Resource)
		var r dynamic.ResourceInterface = ri
		if m.Scope.Name() == "namespace" {
			if o.GetNamespace() == "" {
				o.SetNamespace(namespace)
			}
			r = ri.Namespace(o.GetNamespace())
		}
		if _, err := r.Apply(ctx, o.GetName(), o, metav1.ApplyOptions{FieldManager: "platformtest", Force: true}); err != nil {
			return fmt.Errorf("%s %s: %w", gvk.Kind, o.GetName(), err)
		}
	}
	return nil
}
