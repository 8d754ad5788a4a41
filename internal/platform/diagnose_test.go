package platform

import (
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/cto-platform/cto/test/controllers/controllerstest"
	"github.com/cto-platform/cto/test/kubeenv"
)

// TestWhyNamesTheCause builds, on a cluster with real controllers,
// admission (Talos's Pod Security baseline) and a scheduler, each way a
// component stays unhealthy on bare metal, and checks the reason read back
// is the cluster's own.
func TestWhyNamesTheCause(t *testing.T) {
	cluster := controllerstest.Start(t, 2*time.Minute, kubeenv.Node{Name: "node-1", CPU: 4, MemoryGiB: 8, InternalIP: "10.8.0.11"})
	ctx := cluster.Ctx
	in, err := New(Options{Kubeconfig: cluster.Env.Kubeconfig, Selection: Selection{Profile: "minimal"}})
	if err != nil {
		t.Fatal(err)
	}
	kc := in.client
	created := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	const ns = "diagnose"
	cluster.Namespace(t, ns, nil)

	hostNet := podSpec()
	hostNet.HostNetwork = true
	created(kc.AppsV1().DaemonSets(ns).Create(ctx, daemonSet("exporter", hostNet), metav1.CreateOptions{}))

	hostPID := podSpec()
	hostPID.HostPID = true
	created(kc.AppsV1().Deployments(ns).Create(ctx, deployment("forbidden", hostPID), metav1.CreateOptions{}))

	nowhere := podSpec()
	nowhere.NodeSelector = map[string]string{"nvidia.com/gpu.present": "true"}
	created(kc.AppsV1().Deployments(ns).Create(ctx, deployment("unplaced", nowhere), metav1.CreateOptions{}))

	missing := "mayastor"
	created(kc.CoreV1().PersistentVolumeClaims(ns).Create(ctx, &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data"},
		Spec: corev1.PersistentVolumeClaimSpec{
			StorageClassName: &missing, AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}, metav1.CreateOptions{}))

	created(kc.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "ingress"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Selector: map[string]string{"app": "ingress"},
			Ports: []corev1.ServicePort{{Name: "https", Port: 443}}},
	}, metav1.CreateOptions{}))

	cases := []struct {
		ref  objectRef
		want []string
	}{
		{objectRef{"DaemonSet", ns, "exporter"}, []string{"forbidden", `violates PodSecurity "baseline:latest"`, "hostNetwork=true"}},
		{objectRef{"Deployment", ns, "forbidden"}, []string{"forbidden", `violates PodSecurity "baseline:latest"`, "hostPID=true"}},
		{objectRef{"Deployment", ns, "unplaced"}, []string{"cannot be scheduled", "node affinity/selector"}},
		{objectRef{"PersistentVolumeClaim", ns, "data"}, []string{`storage class "mayastor"`, "not found"}},
		{objectRef{"Service", ns, "ingress"}, []string{"type LoadBalancer and no address"}},
	}
	for _, c := range cases {
		var got string
		// The controllers record a refusal within a second or two.
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			if got = in.why(ctx, c.ref); got != "" {
				break
			}
		}
		t.Logf("why %s: %s", c.ref, got)
		for _, w := range c.want {
			if !strings.Contains(got, w) {
				t.Errorf("why %s = %q, want it to say %q", c.ref, got, w)
			}
		}
		if strings.Contains(got, "\n") {
			t.Errorf("why %s spans lines: %q", c.ref, got)
		}
	}

	// An Application as Argo CD reports it: the explanation names the
	// first unhealthy resource the cluster can explain.
	app := &unstructured.Unstructured{Object: map[string]any{"status": map[string]any{
		"sync":   map[string]any{"status": "Synced"},
		"health": map[string]any{"status": "Progressing"},
		"resources": []any{
			map[string]any{"kind": "ConfigMap", "namespace": ns, "name": "settings", "status": "Synced"},
			map[string]any{"kind": "Service", "namespace": ns, "name": "web", "status": "Synced", "health": map[string]any{"status": "Healthy"}},
			map[string]any{"group": "apps", "kind": "DaemonSet", "namespace": ns, "name": "exporter", "status": "Synced",
				"health": map[string]any{"status": "Progressing", "message": "Waiting for daemon set \"exporter\" rollout to finish"}},
		},
	}}}
	s := in.explain(ctx, appStatus("prometheus", "27.0.0", app))
	line := (&NotReadyError{After: 20 * time.Minute, Pending: []ComponentStatus{s}}).Error()
	for _, w := range []string{"prometheus:", "DaemonSet diagnose/exporter:", "hostNetwork=true"} {
		if !strings.Contains(line, w) {
			t.Errorf("the timeout error %q does not say %q", line, w)
		}
	}
}

func podSpec() corev1.PodSpec {
	return corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: "registry.invalid/main:1"}}}
}

// deployment and daemonSet run spec as pods labelled app=name.
func deployment(name string, spec corev1.PodSpec) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       appsv1.DeploymentSpec{Selector: selector(name), Template: template(name, spec)},
	}
}

func daemonSet(name string, spec corev1.PodSpec) *appsv1.DaemonSet {
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       appsv1.DaemonSetSpec{Selector: selector(name), Template: template(name, spec)},
	}
}

func selector(app string) *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}
}

func template(app string, spec corev1.PodSpec) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app}}, Spec: spec}
}
