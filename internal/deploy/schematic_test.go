package deploy

import (
	"context"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/cto-platform/cto/internal/events"
	"github.com/cto-platform/cto/internal/pipeline"
	"github.com/cto-platform/cto/internal/platform"
	"github.com/cto-platform/cto/internal/talos"
	"github.com/cto-platform/cto/internal/talos/fake"
)

// installedExtensions reads the extensions of the schematic a node's
// config installs, from what the factory double stored under its id.
func installedExtensions(t *testing.T, ff *fake.Factory, n *fake.Node) (id string, exts []string) {
	t.Helper()
	img := n.Config().Machine().Install().Image()
	id, ok := talos.InstallerSchematic(img)
	if !ok {
		t.Fatalf("%s installs %s, not a factory installer", n.Name, img)
	}
	return id, storedExtensions(t, ff, id)
}

func storedExtensions(t *testing.T, ff *fake.Factory, id string) []string {
	t.Helper()
	body, ok := ff.Schematic(id)
	if !ok {
		t.Fatalf("schematic %s was never registered with the factory", id)
	}
	var s talos.Schematic
	if err := yaml.UnmarshalStrict(body, &s); err != nil {
		t.Fatalf("schematic %s: %v", id, err)
	}
	return s.Extensions()
}

var (
	longhornExts = []string{"siderolabs/iscsi-tools", "siderolabs/util-linux-tools"}
	nvidiaExts   = []string{"siderolabs/nvidia-container-toolkit-production", "siderolabs/nvidia-open-gpu-kernel-modules-production"}
)

// The schematic follows the catalog: Longhorn's extensions on every node
// of a production cluster, the NVIDIA ones on the GPU workers only; and
// each role boots the schematic its install image carries, or the
// extensions would disappear on install.
func TestSchematicFollowsTheCatalog(t *testing.T) {
	for _, tc := range []struct {
		profile  string
		gpu      bool
		cp, work []string
	}{
		{"standard", false, nil, nil},
		{"production", false, longhornExts, longhornExts},
		{"standard", true, nil, nvidiaExts},
		{"production", true, longhornExts, append(slices.Clone(longhornExts), nvidiaExts...)},
	} {
		t.Run(tc.profile+map[bool]string{true: "-gpu"}[tc.gpu], func(t *testing.T) {
			w := newTalosWorld(t, 1)
			w.spec.Profile, w.spec.GPU = tc.profile, tc.gpu
			worker := w.addWorker()
			r, err := w.runSteps(context.Background(), events.Discard, talosStep{})
			if err != nil {
				t.Fatal(err)
			}
			cpID, cpExts := installedExtensions(t, w.factory, w.nodes[0])
			workerID, workerExts := installedExtensions(t, w.factory, worker)
			if want := slices.Sorted(slices.Values(tc.cp)); !slices.Equal(cpExts, want) {
				t.Errorf("control plane installs extensions %v, want %v", cpExts, want)
			}
			if want := slices.Sorted(slices.Values(tc.work)); !slices.Equal(workerExts, want) {
				t.Errorf("worker installs extensions %v, want %v", workerExts, want)
			}

			r.Deps.BootMedia = TalosBootMedia
			boot, err := bootMedia(context.Background(), r)
			if err != nil {
				t.Fatal(err)
			}
			for role, id := range map[string]string{talos.RoleControlPlane: cpID, talos.RoleWorker: workerID} {
				if url := boot[role].URL; !strings.Contains(url, "/pxe/"+id+"/") {
					t.Errorf("%s boots %s but installs schematic %s", role, url, id)
				}
			}
		})
	}
}

// Each distinct schematic is journaled under its content: a cluster whose
// components change (another profile) registers the new one instead of
// reusing the old id, and the same content is registered once.
func TestSchematicJournaledPerContent(t *testing.T) {
	w := newTalosWorld(t, 1)
	c, j := w.journal()
	r := &pipeline.Run{Cluster: c, Journal: j, Events: events.Discard, Deps: &pipeline.Deps{Spec: w.spec}}
	standard, err := ensureSchematic(context.Background(), r, false)
	if err != nil {
		t.Fatal(err)
	}
	r.Deps.Spec.Profile = "production"
	production, err := ensureSchematic(context.Background(), r, false)
	if err != nil {
		t.Fatal(err)
	}
	if standard == production {
		t.Fatalf("standard and production share schematic %s", standard)
	}
	if got := storedExtensions(t, w.factory, production); !slices.Equal(got, longhornExts) {
		t.Errorf("production schematic carries %v, want %v", got, longhornExts)
	}
	if again, err := ensureSchematic(context.Background(), r, false); err != nil || again != production {
		t.Errorf("again: %s, %v", again, err)
	}
	if w.factory.Posts() != 2 {
		t.Errorf("factory posts = %d, want 2 (one per content)", w.factory.Posts())
	}
}

// --gpu-taint taints the GPU workers at registration and lets the control
// planes, the only untainted nodes, run the other workloads.
func TestGPUTaint(t *testing.T) {
	for _, taint := range []bool{false, true} {
		w := newTalosWorld(t, 1)
		w.spec.GPU, w.spec.GPUTaint = true, taint
		worker := w.addWorker()
		if _, err := w.runSteps(context.Background(), events.Discard, talosStep{}); err != nil {
			t.Fatal(err)
		}
		wc := worker.Config()
		if got := wc.Machine().NodeLabels()[talos.GPULabel]; got != "true" {
			t.Errorf("taint %v: GPU worker label %s = %q", taint, talos.GPULabel, got)
		}
		_, tainted := wc.Machine().Kubelet().ExtraConfig()["registerWithTaints"]
		if tainted != taint {
			t.Errorf("--gpu-taint %v: worker registers with taints: %v", taint, wc.Machine().Kubelet().ExtraConfig())
		}
		if got := w.nodes[0].Config().Cluster().ScheduleOnControlPlanes(); got != taint {
			t.Errorf("--gpu-taint %v: scheduling on control planes = %v", taint, got)
		}
		if _, ok := w.nodes[0].Config().Machine().NodeLabels()[talos.GPULabel]; ok {
			t.Errorf("the control plane of a cluster with GPU workers is labelled a GPU node")
		}
	}
}

// tolerations collects every tolerations list in a component's values.
func tolerations(v any) (out [][]any) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if l, ok := x.([]any); ok && k == "tolerations" {
				out = append(out, l)
				continue
			}
			out = append(out, tolerations(x)...)
		}
	case []any:
		for _, x := range v {
			out = append(out, tolerations(x)...)
		}
	}
	return out
}

// Every GPU component tolerates the taint --gpu-taint puts on GPU nodes,
// or it could never run where it is needed.
func TestGPUComponentsTolerateTheGPUTaint(t *testing.T) {
	comps, err := platform.SelectComponents(platform.Selection{Profile: "minimal", GPU: true, Talos: true})
	if err != nil {
		t.Fatal(err)
	}
	gpuComps := 0
	for _, c := range comps {
		if !c.GPU {
			continue
		}
		gpuComps++
		lists := tolerations(c.Values)
		if len(lists) == 0 {
			t.Errorf("GPU component %s sets no tolerations", c.Name)
		}
		for _, l := range lists {
			ok := slices.ContainsFunc(l, func(x any) bool {
				m, _ := x.(map[string]any)
				return m["key"] == talos.GPUTaintKey && m["effect"] == "NoSchedule" &&
					(m["operator"] == "Exists" || m["value"] == talos.GPUTaintValue)
			})
			if !ok {
				t.Errorf("GPU component %s: tolerations %v do not tolerate %s=%s:NoSchedule", c.Name, l, talos.GPUTaintKey, talos.GPUTaintValue)
			}
		}
	}
	if gpuComps == 0 {
		t.Fatal("the catalog has no GPU component")
	}
}
