package argocd

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// Health is a resource's or an Application's health, in Argo CD's words.
type Health struct {
	Status  string
	Message string
}

// Argo CD's health codes, from most to least healthy (gitops-engine
// pkg/health/health.go healthOrder).
var healthOrder = []string{"Healthy", "Suspended", "Progressing", "Missing", "Degraded", "Unknown"}

// worse says whether b is less healthy than a.
func worse(a, b string) bool {
	rank := func(s string) int {
		for i, c := range healthOrder {
			if c == s {
				return i
			}
		}
		return 0
	}
	return rank(b) > rank(a)
}

// ResourceHealth is the health Argo CD gives a live object, or nil for a
// kind it has no check for (gitops-engine pkg/health: GetResourceHealth
// and GetHealthCheckFunc, with the rules of health_deployment.go,
// health_statefulset.go, health_daemonset.go, health_service.go,
// health_ingress.go, health_pvc.go, health_job.go, health_pod.go; Argo
// CD's built-in resource_customizations for cert-manager.io Certificate,
// Issuer and ClusterIssuer).
func ResourceHealth(obj *unstructured.Unstructured) *Health {
	if obj.GetDeletionTimestamp() != nil {
		return &Health{"Progressing", "Pending deletion"}
	}
	gvk := obj.GroupVersionKind()
	switch gvk.Group + "/" + gvk.Kind {
	case "apps/Deployment":
		return typedHealth(obj, deploymentHealth)
	case "apps/StatefulSet":
		return typedHealth(obj, statefulSetHealth)
	case "apps/DaemonSet":
		return typedHealth(obj, daemonSetHealth)
	case "/Service":
		typ, _, _ := unstructured.NestedString(obj.Object, "spec", "type")
		ingress, _, _ := unstructured.NestedSlice(obj.Object, "status", "loadBalancer", "ingress")
		if typ == string(corev1.ServiceTypeLoadBalancer) && len(ingress) == 0 {
			return &Health{Status: "Progressing"}
		}
		return &Health{Status: "Healthy"}
	case "networking.k8s.io/Ingress", "extensions/Ingress":
		if ingress, _, _ := unstructured.NestedSlice(obj.Object, "status", "loadBalancer", "ingress"); len(ingress) > 0 {
			return &Health{Status: "Healthy"}
		}
		return &Health{Status: "Progressing"}
	case "/PersistentVolumeClaim":
		phase, _, _ := unstructured.NestedString(obj.Object, "status", "phase")
		switch corev1.PersistentVolumeClaimPhase(phase) {
		case corev1.ClaimBound:
			return &Health{Status: "Healthy"}
		case corev1.ClaimPending:
			return &Health{Status: "Progressing"}
		case corev1.ClaimLost:
			return &Health{Status: "Degraded"}
		}
		return &Health{Status: "Unknown"}
	case "batch/Job":
		return typedHealth(obj, jobHealth)
	case "/Pod":
		return typedHealth(obj, podHealth)
	case "cert-manager.io/Certificate":
		return conditionHealth(obj, "Waiting for certificate")
	case "cert-manager.io/Issuer", "cert-manager.io/ClusterIssuer":
		return conditionHealth(obj, "Initializing issuer")
	}
	return nil
}

// typedHealth applies a kind's rule to obj converted to its typed form;
// an object that does not convert is Unknown.
func typedHealth[T any](obj *unstructured.Unstructured, rule func(*T) *Health) *Health {
	var typed T
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, &typed); err != nil {
		return &Health{"Unknown", err.Error()}
	}
	return rule(&typed)
}

// health_deployment.go: the rollout rules of kubectl rollout status.
func deploymentHealth(d *appsv1.Deployment) *Health {
	if d.Spec.Paused {
		return &Health{"Suspended", "Deployment is paused"}
	}
	if d.Generation > d.Status.ObservedGeneration {
		return &Health{"Progressing", "Waiting for rollout to finish: observed deployment generation less than desired generation"}
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Reason == "ProgressDeadlineExceeded" {
			return &Health{"Degraded", fmt.Sprintf("Deployment %q exceeded its progress deadline", d.Name)}
		}
	}
	switch {
	case d.Spec.Replicas != nil && d.Status.UpdatedReplicas < *d.Spec.Replicas:
		return &Health{"Progressing", fmt.Sprintf("Waiting for rollout to finish: %d out of %d new replicas have been updated...", d.Status.UpdatedReplicas, *d.Spec.Replicas)}
	case d.Status.Replicas > d.Status.UpdatedReplicas:
		return &Health{"Progressing", fmt.Sprintf("Waiting for rollout to finish: %d old replicas are pending termination...", d.Status.Replicas-d.Status.UpdatedReplicas)}
	case d.Status.AvailableReplicas < d.Status.UpdatedReplicas:
		return &Health{"Progressing", fmt.Sprintf("Waiting for rollout to finish: %d of %d updated replicas are available...", d.Status.AvailableReplicas, d.Status.UpdatedReplicas)}
	}
	return &Health{Status: "Healthy"}
}

// health_statefulset.go.
func statefulSetHealth(s *appsv1.StatefulSet) *Health {
	if s.Status.ObservedGeneration == 0 || s.Generation > s.Status.ObservedGeneration {
		return &Health{"Progressing", "Waiting for statefulset spec update to be observed..."}
	}
	if s.Spec.Replicas != nil && s.Status.ReadyReplicas < *s.Spec.Replicas {
		return &Health{"Progressing", fmt.Sprintf("Waiting for %d pods to be ready...", *s.Spec.Replicas-s.Status.ReadyReplicas)}
	}
	u := s.Spec.UpdateStrategy
	if u.Type == appsv1.RollingUpdateStatefulSetStrategyType && u.RollingUpdate != nil {
		if s.Spec.Replicas != nil && u.RollingUpdate.Partition != nil && s.Status.UpdatedReplicas < *s.Spec.Replicas-*u.RollingUpdate.Partition {
			return &Health{"Progressing", "Waiting for partitioned roll out to finish"}
		}
		return &Health{Status: "Healthy"}
	}
	if u.Type == appsv1.OnDeleteStatefulSetStrategyType {
		return &Health{Status: "Healthy"}
	}
	if s.Status.UpdateRevision != s.Status.CurrentRevision {
		return &Health{"Progressing", fmt.Sprintf("waiting for statefulset rolling update to complete %d pods at revision %s...", s.Status.UpdatedReplicas, s.Status.UpdateRevision)}
	}
	return &Health{Status: "Healthy"}
}

// health_daemonset.go.
func daemonSetHealth(d *appsv1.DaemonSet) *Health {
	if d.Generation > d.Status.ObservedGeneration {
		return &Health{"Progressing", "Waiting for rollout to finish: observed daemon set generation less than desired generation"}
	}
	if d.Spec.UpdateStrategy.Type == appsv1.OnDeleteDaemonSetStrategyType {
		return &Health{Status: "Healthy"}
	}
	if d.Status.UpdatedNumberScheduled < d.Status.DesiredNumberScheduled {
		return &Health{"Progressing", fmt.Sprintf("Waiting for daemon set %q rollout to finish: %d out of %d new pods have been updated...", d.Name, d.Status.UpdatedNumberScheduled, d.Status.DesiredNumberScheduled)}
	}
	if d.Status.NumberAvailable < d.Status.DesiredNumberScheduled {
		return &Health{"Progressing", fmt.Sprintf("Waiting for daemon set %q rollout to finish: %d of %d updated pods are available...", d.Name, d.Status.NumberAvailable, d.Status.DesiredNumberScheduled)}
	}
	return &Health{Status: "Healthy"}
}

// health_pod.go: a running pod is Healthy only when it restarts for ever
// and is Ready (Degraded once a container has died); a pod meant to end
// (a hook) is Progressing until it succeeds.
func podHealth(p *corev1.Pod) *Health {
	switch p.Status.Phase {
	case corev1.PodSucceeded:
		return &Health{"Healthy", p.Status.Message}
	case corev1.PodFailed:
		return &Health{"Degraded", p.Status.Message}
	case corev1.PodRunning:
		if p.Spec.RestartPolicy != corev1.RestartPolicyAlways && p.Spec.RestartPolicy != "" {
			return &Health{"Progressing", p.Status.Message}
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				return &Health{"Healthy", p.Status.Message}
			}
		}
		for _, c := range p.Status.ContainerStatuses {
			if c.LastTerminationState.Terminated != nil {
				return &Health{"Degraded", p.Status.Message}
			}
		}
	}
	return &Health{"Progressing", p.Status.Message}
}

// health_job.go.
func jobHealth(j *batchv1.Job) *Health {
	for _, c := range j.Status.Conditions {
		switch c.Type {
		case batchv1.JobFailed:
			return &Health{"Degraded", c.Message}
		case batchv1.JobSuspended:
			if c.Status == corev1.ConditionTrue {
				return &Health{Status: "Suspended"}
			}
		case batchv1.JobComplete:
			return &Health{"Healthy", c.Message}
		}
	}
	return &Health{Status: "Progressing"}
}

// conditionHealth reads a cert-manager resource's Ready condition, as Argo
// CD's resource_customizations/cert-manager.io/*/health.lua do.
func conditionHealth(obj *unstructured.Unstructured, waiting string) *Health {
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == "Issuing" && m["status"] == "True" {
			msg, _ := m["message"].(string)
			return &Health{"Progressing", msg}
		}
	}
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] != "Ready" {
			continue
		}
		msg, _ := m["message"].(string)
		if m["status"] == "True" {
			return &Health{"Healthy", msg}
		}
		if m["status"] == "False" {
			return &Health{"Degraded", msg}
		}
	}
	return &Health{"Progressing", waiting}
}
