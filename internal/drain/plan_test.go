package drain

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestPlan: which of a node's pods Drain evicts, leaves alone or refuses
// without force, by kubectl drain's filters (see plan).
func TestPlan(t *testing.T) {
	yes := true
	owned := func(apiVersion, kind string) []metav1.OwnerReference {
		return []metav1.OwnerReference{{APIVersion: apiVersion, Kind: kind, Name: "owner", Controller: &yes}}
	}
	now := metav1.Now()
	pod := func(name string, mod func(*corev1.Pod)) corev1.Pod {
		p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, OwnerReferences: owned("apps/v1", "ReplicaSet")},
			Status: corev1.PodStatus{Phase: corev1.PodRunning}}
		if mod != nil {
			mod(&p)
		}
		return p
	}
	pods := []corev1.Pod{
		pod("replica", nil),
		pod("daemon", func(p *corev1.Pod) { p.OwnerReferences = owned("apps/v1", "DaemonSet") }),
		pod("static", func(p *corev1.Pod) {
			p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: "n1", Controller: &yes}}
			p.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: "hash"}
		}),
		pod("leaving", func(p *corev1.Pod) { p.DeletionTimestamp = &now }),
		pod("done", func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }),
		pod("crashed", func(p *corev1.Pod) { p.Status.Phase = corev1.PodFailed; p.OwnerReferences = nil }),
		pod("bare", func(p *corev1.Pod) { p.OwnerReferences = nil }),
		pod("scratch", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
		}),
		// Owned, but not as controller: nothing recreates it.
		pod("referenced", func(p *corev1.Pod) { p.OwnerReferences[0].Controller = nil }),
		// A DaemonSet of another group is not the DaemonSet controller's.
		pod("lookalike", func(p *corev1.Pod) { p.OwnerReferences = owned("example.com/v1", "DaemonSet") }),
	}
	p := plan(pods)
	var evicted, left []string
	for _, e := range p.evict {
		evicted = append(evicted, e.Name)
	}
	for _, s := range p.skip {
		left = append(left, s.pod)
	}
	if want := []string{"replica", "bare", "scratch", "referenced", "lookalike"}; !reflect.DeepEqual(evicted, want) {
		t.Errorf("evicted %v, want %v", evicted, want)
	}
	if want := []string{"ns/daemon", "ns/static", "ns/leaving", "ns/done", "ns/crashed"}; !reflect.DeepEqual(left, want) {
		t.Errorf("left alone %v, want %v", left, want)
	}
	if want := []string{"ns/bare", "ns/referenced"}; !reflect.DeepEqual(p.unmanaged, want) {
		t.Errorf("unmanaged %v, want %v", p.unmanaged, want)
	}
}
