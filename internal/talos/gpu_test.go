package talos_test

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	coreconfig "github.com/siderolabs/talos/pkg/machinery/config"

	"github.com/cto-platform/cto/internal/talos"
)

// registerTaints reads kubelet extraConfig.registerWithTaints as the
// kubelet's configuration types it (KubeletConfiguration.RegisterWithTaints
// is []v1.Taint; Talos decodes extraConfig with validation, so an unknown
// field fails the same way).
func registerTaints(t *testing.T, cfg coreconfig.Provider) []corev1.Taint {
	t.Helper()
	raw, ok := cfg.Machine().Kubelet().ExtraConfig()["registerWithTaints"]
	if !ok {
		return nil
	}
	var out struct {
		Taints []corev1.Taint `json:"taints"`
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(map[string]any{"taints": raw}, &out, true); err != nil {
		t.Fatalf("registerWithTaints does not decode as kubelet taints: %v", err)
	}
	return out.Taints
}

// A GPU node is configured as Talos's NVIDIA guide says (modules and the
// bpf_jit_harden sysctl), carries the label GPU components select, and the
// taint only when asked; other nodes carry none of it.
func TestGPUNodeConfig(t *testing.T) {
	c := haCluster(t)
	node := func(name string, gpu, taint bool) coreconfig.Provider {
		return parse(t, must(talos.Generate(c, talos.NodeInput{Name: name, Role: talos.RoleWorker, PublicMAC: pubMAC, PrivateMAC: privMAC,
			PrivateIP: "10.8.0.22", GPU: gpu, GPUTaint: taint, InstallImage: installer, Disk: talos.Disk{Serial: "NVME-3"}})))
	}
	gpu, tainted, plain := node("demo-gpu1", true, false), node("demo-gpu2", true, true), node("demo-worker1", false, false)

	for name, cfg := range map[string]coreconfig.Provider{"gpu": gpu, "tainted gpu": tainted} {
		if got := cfg.Machine().Sysctls()["net.core.bpf_jit_harden"]; got != "1" {
			t.Errorf("%s node: net.core.bpf_jit_harden = %q, want 1", name, got)
		}
		if got := cfg.Machine().NodeLabels()[talos.GPULabel]; got != "true" {
			t.Errorf("%s node: label %s = %q, want true", name, talos.GPULabel, got)
		}
		if len(cfg.Machine().NodeTaints()) != 0 {
			t.Errorf("%s node: machine.nodeTaints %v would never reach a worker's Node (NodeRestriction)", name, cfg.Machine().NodeTaints())
		}
	}
	if got := registerTaints(t, gpu); len(got) != 0 {
		t.Errorf("GPU node without --gpu-taint registers with taints %v", got)
	}
	want := corev1.Taint{Key: talos.GPUTaintKey, Value: talos.GPUTaintValue, Effect: corev1.TaintEffectNoSchedule}
	if got := registerTaints(t, tainted); len(got) != 1 || got[0] != want {
		t.Errorf("tainted GPU node registers with %v, want [%v]", got, want)
	}
	if _, ok := plain.Machine().Sysctls()["net.core.bpf_jit_harden"]; ok {
		t.Error("plain node sets net.core.bpf_jit_harden")
	}
	if len(plain.Machine().NodeLabels()) != 0 || len(registerTaints(t, plain)) != 0 {
		t.Errorf("plain node: labels %v, taints %v", plain.Machine().NodeLabels(), registerTaints(t, plain))
	}

	_, err := talos.Generate(c, talos.NodeInput{Name: "demo-worker1", Role: talos.RoleWorker, PublicMAC: pubMAC, PrivateMAC: privMAC,
		PrivateIP: "10.8.0.21", GPUTaint: true, InstallImage: installer, Disk: talos.Disk{Serial: "NVME-2"}})
	if err == nil || !strings.Contains(err.Error(), "GPU taint") {
		t.Errorf("a GPU taint on a plain node: err = %v", err)
	}
}

// The schematic is a function of its set of extensions: order and repeats
// do not change its id, and no extension is plain Talos.
func TestSchematicForExtensions(t *testing.T) {
	a := talos.SchematicFor([]string{"siderolabs/util-linux-tools", "siderolabs/iscsi-tools"})
	b := talos.SchematicFor([]string{"siderolabs/iscsi-tools", "siderolabs/util-linux-tools", "siderolabs/iscsi-tools"})
	if a.ID() != b.ID() {
		t.Errorf("same extensions, ids %s and %s", a.ID(), b.ID())
	}
	if got := a.Extensions(); len(got) != 2 || got[0] != "siderolabs/iscsi-tools" {
		t.Errorf("extensions = %v", got)
	}
	const plainID = "376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba" // the public factory's plain schematic
	if got := talos.SchematicFor(nil).ID(); got != plainID {
		t.Errorf("plain schematic id = %s, want %s", got, plainID)
	}
}

func TestInstallerSchematic(t *testing.T) {
	im := talos.Factory{}.Images("abc123", "v1.13.9")
	if id, ok := talos.InstallerSchematic(im.Installer()); !ok || id != "abc123" {
		t.Errorf("InstallerSchematic(%s) = %q, %v", im.Installer(), id, ok)
	}
	if _, ok := talos.InstallerSchematic("ghcr.io/siderolabs/installer:v1.13.9"); ok {
		t.Error("a non-factory installer has a schematic")
	}
}
