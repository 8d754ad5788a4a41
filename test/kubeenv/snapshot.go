package kubeenv

import (
	"context"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Argo CD's resources.
var (
	ApplicationGVR = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "applications"}
	AppProjectGVR  = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "appprojects"}
)

// snapshotKinds are the resources ResourceVersions notes, each under the
// key's prefix.
var snapshotKinds = []struct {
	prefix string
	gvr    schema.GroupVersionResource
	// optional: a resource whose CRD may not be installed.
	optional bool
}{
	{"namespace", schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}, false},
	{"secret", schema.GroupVersionResource{Version: "v1", Resource: "secrets"}, false},
	{"configmap", schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}, false},
	{"deployment", schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}, false},
	{ApplicationGVR.Resource, ApplicationGVR, true},
	{AppProjectGVR.Resource, AppProjectGVR, true},
}

// ResourceVersions snapshots the resourceVersion of every namespace,
// Secret, ConfigMap, Deployment, Argo CD Application and AppProject, so a
// test can show that a rerun wrote nothing.
func (e *Env) ResourceVersions(ctx context.Context) (map[string]string, error) {
	dyn, err := e.dynamicClient()
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, k := range snapshotKinds {
		list, err := dyn.Resource(k.gvr).List(ctx, metav1.ListOptions{})
		if k.optional && apierrors.IsNotFound(err) {
			continue // Argo CD's CRDs are not installed
		}
		if err != nil {
			return nil, err
		}
		for _, o := range list.Items {
			key := k.prefix + "/" + o.GetName()
			if ns := o.GetNamespace(); ns != "" {
				key = k.prefix + "/" + ns + "/" + o.GetName()
			}
			out[key] = o.GetResourceVersion()
		}
	}
	return out, nil
}
