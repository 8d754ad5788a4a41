package platformtest

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// PodTemplate returns the pod template of a Deployment, StatefulSet,
// DaemonSet or Job, and false for any other object.
func PodTemplate(obj *unstructured.Unstructured) (*corev1.PodTemplateSpec, bool, error) {
	switch obj.GetKind() {
	case "Deployment", "StatefulSet", "DaemonSet", "Job":
	default:
		return nil, false, nil
	}
	raw, ok, err := unstructured.NestedMap(obj.Object, "spec", "template")
	if err != nil || !ok {
		return nil, false, err
	}
	var tpl corev1.PodTemplateSpec
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw, &tpl); err != nil {
		return nil, false, err
	}
	return &tpl, true, nil
}
