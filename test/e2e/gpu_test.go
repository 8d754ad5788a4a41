package e2e

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/cto-platform/cto/internal/talos"
	"github.com/cto-platform/cto/test/sim"
	"github.com/cto-platform/cto/test/simworld"
)

// nodeExtensions reads the extensions of the schematic a node installed,
// as the Image Factory double stored it.
func nodeExtensions(t *testing.T, w *world, hostname string) []string {
	t.Helper()
	n := w.Sim.Node(hostname)
	if n == nil || n.Config() == nil {
		t.Fatalf("%s runs no config", hostname)
	}
	id, _ := talos.InstallerSchematic(n.Config().Machine().Install().Image())
	body, ok := w.Sim.Factory().Schematic(id)
	if !ok {
		t.Fatalf("%s installs schematic %q the factory never saw", hostname, id)
	}
	var s talos.Schematic
	if err := yaml.Unmarshal(body, &s); err != nil {
		t.Fatal(err)
	}
	return s.Extensions()
}

// A GPU worker comes up as a GPU node: the NVIDIA extensions installed,
// the label the GPU components select, its GPUs advertised and, asked
// with --gpu-taint, the taint that keeps other pods off it; the control
// plane then takes the other workloads.
func TestGPUWorker(t *testing.T) {
	w := newWorld(t, sim.Options{})
	w.MustRun(simworld.DeployArgs("gpu", "minimal", 2, "--worker-plan", "g3-h100-small", "--gpu", "--gpu-taint")...)
	nodes := w.ReadyNodes("gpu", 2)
	if len(nodes) != 2 {
		t.Fatalf("%d Nodes of gpu are Ready, want 2", len(nodes))
	}

	worker, cp := nodes["gpu-worker1"], nodes["gpu-cp1"]
	if got := worker.Labels[talos.GPULabel]; got != "true" {
		t.Errorf("GPU worker label %s = %q, want true (labels %v)", talos.GPULabel, got, worker.Labels)
	}
	want := corev1.Taint{Key: talos.GPUTaintKey, Value: talos.GPUTaintValue, Effect: corev1.TaintEffectNoSchedule}
	if !slices.ContainsFunc(worker.Spec.Taints, func(t corev1.Taint) bool { return t.MatchTaint(&want) && t.Value == want.Value }) {
		t.Errorf("GPU worker taints %v lack %v", worker.Spec.Taints, want)
	}
	if q := worker.Status.Capacity["nvidia.com/gpu"]; q.Value() != 1 {
		t.Errorf("GPU worker advertises %s nvidia.com/gpu, want the plan's 1", q.String())
	}
	if exts := nodeExtensions(t, w, "gpu-worker1"); !slices.Contains(exts, "siderolabs/nvidia-open-gpu-kernel-modules-production") ||
		!slices.Contains(exts, "siderolabs/nvidia-container-toolkit-production") {
		t.Errorf("GPU worker installed extensions %v, want the NVIDIA ones", exts)
	}
	if _, ok := cp.Labels[talos.GPULabel]; ok || len(nodeExtensions(t, w, "gpu-cp1")) != 0 {
		t.Errorf("the control plane (no GPU) is labelled %v or carries extensions %v", cp.Labels, nodeExtensions(t, w, "gpu-cp1"))
	}
	if slices.ContainsFunc(cp.Spec.Taints, func(t corev1.Taint) bool {
		return t.Key == "node-role.kubernetes.io/control-plane" || t.Key == talos.GPUTaintKey
	}) {
		t.Errorf("control plane taints %v: with every worker tainted for GPU pods it must take the other workloads", cp.Spec.Taints)
	}
	w.destroy("gpu")
}
