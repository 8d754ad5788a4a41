package upgrade

import (
	"slices"
	"testing"

	"github.com/cto-platform/cto/internal/state"
	"github.com/cto-platform/cto/internal/talos"
)

func TestImageVersion(t *testing.T) {
	for image, want := range map[string]string{
		"registry.k8s.io/kube-apiserver:v1.35.2":               "v1.35.2",
		"ghcr.io/siderolabs/kubelet:v1.36.3-fat":               "v1.36.3",
		"registry.k8s.io/kube-scheduler:v1.36.3@sha256:abcdef": "v1.36.3",
		"localhost:5000/kube-scheduler":                        "",
		"registry.k8s.io/kube-apiserver:latest":                "",
	} {
		if got := imageVersion(image); got != want {
			t.Errorf("imageVersion(%q) = %q, want %q", image, got, want)
		}
	}
}

func TestComponentImage(t *testing.T) {
	for _, c := range []struct{ component, current, want string }{
		{KubeAPIServer, "", "registry.k8s.io/kube-apiserver:v1.36.3"},
		{KubeControllerManager, "", "registry.k8s.io/kube-controller-manager:v1.36.3"},
		{KubeScheduler, "", "registry.k8s.io/kube-scheduler:v1.36.3"},
		{Kubelet, "ghcr.io/siderolabs/kubelet:v1.35.2", "ghcr.io/siderolabs/kubelet:v1.36.3"},
		// talosctl keeps the kubelet's flavour (extractKubeletVersionSuffix).
		{Kubelet, "ghcr.io/siderolabs/kubelet:v1.35.2-slim", "ghcr.io/siderolabs/kubelet:v1.36.3-slim"},
	} {
		if got := componentImage(c.component, "1.36.3", c.current); got != c.want {
			t.Errorf("componentImage(%s, %q) = %q, want %q", c.component, c.current, got, c.want)
		}
	}
}

func TestLowestVersion(t *testing.T) {
	if got := lowest([]string{"v1.36.3", "v1.35.2", "v1.36.0"}); got != "v1.35.2" {
		t.Errorf("lowest = %s", got)
	}
	if got := lowest(nil); got != "" {
		t.Errorf("lowest of nothing = %q", got)
	}
}

// TestKubernetesPhases: the order talosctl upgrade-k8s follows, one
// journaled phase per component and node.
func TestKubernetesPhases(t *testing.T) {
	cp := func(name string, i int) state.Node {
		return state.Node{Name: name, Role: talos.RoleControlPlane, Index: i}
	}
	p := &KubernetesPlan{Target: "v1.36.3", From: "v1.35.2",
		cps: []state.Node{cp("cp1", 1), cp("cp2", 2)}, workers: []state.Node{{Name: "w1", Role: talos.RoleWorker, Index: 3}}}
	var names []string
	for _, ph := range (kubernetesStep{p}).Phases() {
		names = append(names, ph.Name())
	}
	want := []string{
		"kubernetes v1.36.3 pre-pull",
		"kubernetes v1.36.3 kube-apiserver cp1", "kubernetes v1.36.3 kube-apiserver cp2",
		"kubernetes v1.36.3 kube-controller-manager cp1", "kubernetes v1.36.3 kube-controller-manager cp2",
		"kubernetes v1.36.3 kube-scheduler cp1", "kubernetes v1.36.3 kube-scheduler cp2",
		"kubernetes v1.36.3 kubelet cp1", "kubernetes v1.36.3 kubelet cp2", "kubernetes v1.36.3 kubelet w1",
	}
	if !slices.Equal(names, want) {
		t.Errorf("phases:\n%q\nwant\n%q", names, want)
	}
}

func TestKubernetesPlanDone(t *testing.T) {
	p := &KubernetesPlan{Target: "v1.36.3", From: "v1.36.3", Running: map[string]map[string]string{
		"cp1": {KubeAPIServer: "v1.36.3", KubeControllerManager: "v1.36.3", KubeScheduler: "v1.36.3", Kubelet: "v1.36.3"},
		"w1":  {Kubelet: "v1.36.3"},
	}}
	if !p.Done() {
		t.Error("a cluster on the target is not done")
	}
	p.Running["w1"][Kubelet] = "v1.35.2"
	if p.Done() {
		t.Error("a worker's config on the old kubelet is done")
	}
}
