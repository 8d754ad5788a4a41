package platform

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
)

// why says why an object of a component is not healthy, from what the
// cluster reports about it and about the pods and volumes it makes: a pod
// its namespace's security level forbids, a pod no node takes, a volume
// claim nothing binds, a LoadBalancer Service without an address. It is
// "" when the cluster tells nothing more.
func (in *Installer) why(ctx context.Context, r objectRef) string {
	switch r.Kind {
	case "Deployment":
		return in.deploymentWhy(ctx, r)
	case "StatefulSet", "DaemonSet":
		if msg := in.failedCreate(ctx, r); msg != "" {
			return msg
		}
		return in.podsWhy(ctx, r)
	case "PersistentVolumeClaim":
		pvc, err := in.client.CoreV1().PersistentVolumeClaims(r.Namespace).Get(ctx, r.Name, metav1.GetOptions{})
		if err != nil {
			return err.Error()
		}
		return in.claimWhy(ctx, pvc)
	case "Service":
		svc, err := in.client.CoreV1().Services(r.Namespace).Get(ctx, r.Name, metav1.GetOptions{})
		if err != nil {
			return err.Error()
		}
		if svc.Spec.Type == corev1.ServiceTypeLoadBalancer && len(svc.Status.LoadBalancer.Ingress) == 0 {
			return "type LoadBalancer and no address assigned: nothing on the cluster hands out load-balancer addresses for it"
		}
	case "Ingress":
		ing, err := in.client.NetworkingV1().Ingresses(r.Namespace).Get(ctx, r.Name, metav1.GetOptions{})
		if err != nil {
			return err.Error()
		}
		if len(ing.Status.LoadBalancer.Ingress) == 0 {
			class := "the default class"
			if ing.Spec.IngressClassName != nil {
				class = "class " + *ing.Spec.IngressClassName
			}
			return "no address: no ingress controller of " + class + " has admitted it"
		}
	}
	return ""
}

// deploymentWhy reads the Deployment's newest ReplicaSet: the ReplicaSet
// controller records a pod it could not create (admission, quota) in its
// ReplicaFailure condition.
func (in *Installer) deploymentWhy(ctx context.Context, r objectRef) string {
	d, err := in.client.AppsV1().Deployments(r.Namespace).Get(ctx, r.Name, metav1.GetOptions{})
	if err != nil {
		return err.Error()
	}
	sets, err := in.client.AppsV1().ReplicaSets(r.Namespace).List(ctx, metav1.ListOptions{LabelSelector: metav1.FormatLabelSelector(d.Spec.Selector)})
	if err != nil {
		return err.Error()
	}
	newest, revision := -1, -1
	for i, rs := range sets.Items {
		if !metav1.IsControlledBy(&rs, d) {
			continue
		}
		// The Deployment controller numbers its ReplicaSets in this
		// annotation; the highest is the one being rolled out.
		n, _ := strconv.Atoi(rs.Annotations["deployment.kubernetes.io/revision"])
		if n > revision {
			newest, revision = i, n
		}
	}
	if newest >= 0 {
		for _, c := range sets.Items[newest].Status.Conditions {
			if c.Type == "ReplicaFailure" && c.Status == corev1.ConditionTrue {
				return oneLine(c.Message)
			}
		}
	}
	return in.podsWhy(ctx, r)
}

// failedCreate is the newest FailedCreate warning the StatefulSet and
// DaemonSet controllers record when a pod of theirs is refused.
func (in *Installer) failedCreate(ctx context.Context, r objectRef) string {
	sel := fields.Set{"involvedObject.kind": r.Kind, "involvedObject.name": r.Name, "reason": "FailedCreate"}.AsSelector().String()
	evs, err := in.client.CoreV1().Events(r.Namespace).List(ctx, metav1.ListOptions{FieldSelector: sel})
	if err != nil || len(evs.Items) == 0 {
		return ""
	}
	sort.Slice(evs.Items, func(i, j int) bool { return lastSeen(evs.Items[i]).Before(lastSeen(evs.Items[j])) })
	return oneLine(evs.Items[len(evs.Items)-1].Message)
}

func lastSeen(e corev1.Event) time.Time {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case e.Series != nil:
		return e.Series.LastObservedTime.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}

// podsWhy looks at the pods of a workload: one the scheduler cannot place,
// one stuck before its containers run, or one waiting for a volume.
func (in *Installer) podsWhy(ctx context.Context, r objectRef) string {
	var selector *metav1.LabelSelector
	switch r.Kind {
	case "Deployment":
		d, err := in.client.AppsV1().Deployments(r.Namespace).Get(ctx, r.Name, metav1.GetOptions{})
		if err != nil {
			return err.Error()
		}
		selector = d.Spec.Selector
	case "StatefulSet":
		s, err := in.client.AppsV1().StatefulSets(r.Namespace).Get(ctx, r.Name, metav1.GetOptions{})
		if err != nil {
			return err.Error()
		}
		selector = s.Spec.Selector
	case "DaemonSet":
		s, err := in.client.AppsV1().DaemonSets(r.Namespace).Get(ctx, r.Name, metav1.GetOptions{})
		if err != nil {
			return err.Error()
		}
		selector = s.Spec.Selector
	}
	sel, err := metav1.LabelSelectorAsSelector(selector)
	if err != nil || sel.Empty() {
		return ""
	}
	return in.podsOf(ctx, r.Namespace, sel)
}

func (in *Installer) podsOf(ctx context.Context, ns string, sel labels.Selector) string {
	pods, err := in.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return err.Error()
	}
	sort.Slice(pods.Items, func(i, j int) bool { return pods.Items[i].Name < pods.Items[j].Name })
	for _, p := range pods.Items {
		if p.Status.Phase == corev1.PodRunning || p.Status.Phase == corev1.PodSucceeded {
			if ready(p) {
				continue
			}
		}
		for _, v := range p.Spec.Volumes {
			if v.PersistentVolumeClaim == nil {
				continue
			}
			pvc, err := in.client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, v.PersistentVolumeClaim.ClaimName, metav1.GetOptions{})
			if err != nil {
				return fmt.Sprintf("pod %s: volume claim %s: %v", p.Name, v.PersistentVolumeClaim.ClaimName, err)
			}
			if msg := in.claimWhy(ctx, pvc); msg != "" {
				return fmt.Sprintf("pod %s: volume claim %s: %s", p.Name, pvc.Name, msg)
			}
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
				return fmt.Sprintf("pod %s cannot be scheduled: %s", p.Name, oneLine(c.Message))
			}
		}
		for _, cs := range append(p.Status.InitContainerStatuses, p.Status.ContainerStatuses...) {
			if w := cs.State.Waiting; w != nil && w.Reason != "ContainerCreating" && w.Reason != "PodInitializing" {
				return fmt.Sprintf("pod %s container %s: %s %s", p.Name, cs.Name, w.Reason, oneLine(w.Message))
			}
		}
	}
	return ""
}

func ready(p corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// claimWhy says why a volume claim is not bound ("" when it is).
func (in *Installer) claimWhy(ctx context.Context, pvc *corev1.PersistentVolumeClaim) string {
	if pvc.Status.Phase == corev1.ClaimBound {
		return ""
	}
	class := ""
	if pvc.Spec.StorageClassName != nil {
		class = *pvc.Spec.StorageClassName
	}
	if class == "" {
		// An unset class means the default one, chosen when the claim was
		// created (the DefaultStorageClass admission plugin).
		if pvc.Spec.StorageClassName == nil {
			return "pending: it names no storage class and the cluster had no default class when it was created"
		}
		return "pending: it asks for a pre-made volume (storage class \"\") and none matches"
	}
	if _, err := in.client.StorageV1().StorageClasses().Get(ctx, class, metav1.GetOptions{}); err != nil {
		return fmt.Sprintf("pending: storage class %q: %v", class, err)
	}
	// The latest event, warning or not: an early "class not found" is
	// stale once the class exists and the claim waits for its first pod.
	sel := fields.Set{"involvedObject.kind": "PersistentVolumeClaim", "involvedObject.name": pvc.Name}.AsSelector().String()
	if evs, err := in.client.CoreV1().Events(pvc.Namespace).List(ctx, metav1.ListOptions{FieldSelector: sel}); err == nil && len(evs.Items) > 0 {
		sort.Slice(evs.Items, func(i, j int) bool { return lastSeen(evs.Items[i]).Before(lastSeen(evs.Items[j])) })
		e := evs.Items[len(evs.Items)-1]
		return fmt.Sprintf("pending: %s: %s", e.Reason, oneLine(e.Message))
	}
	return fmt.Sprintf("pending: no volume of storage class %q has been provisioned for it", class)
}

// explain replaces a pending component's message by what is wrong with
// the first of its objects the cluster can say something about:
// "<Kind namespace/name>: <why>".
func (in *Installer) explain(ctx context.Context, s ComponentStatus) ComponentStatus {
	for _, r := range s.unhealthy {
		if msg := in.why(ctx, r); msg != "" {
			s.Message = r.String() + ": " + msg
			return s
		}
	}
	return s
}

// oneLine keeps an error line one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
