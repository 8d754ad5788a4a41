package deploy

import (
	"fmt"
	"path"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/cto-platform/cto/internal/pipeline"
	"github.com/cto-platform/cto/internal/platform"
	"github.com/cto-platform/cto/internal/platform/platformtest"
	"github.com/cto-platform/cto/internal/provider/latitude"
	"github.com/cto-platform/cto/internal/spec"
	"github.com/cto-platform/cto/internal/state"
	"github.com/cto-platform/cto/internal/talos"
	"github.com/cto-platform/cto/internal/talos/talostest"
	"github.com/cto-platform/cto/test/controllers/provisioner"
)

// kubeletView lists the host directories Talos's kubelet container sees
// at their own path, at the pinned Talos version (v1.13.9):
// internal/app/machined/pkg/system/services/kubelet.go, the mounts of
// (*Kubelet).Runner. /var/run is the host's /run; the kubelet image
// (github.com/siderolabs/kubelet, Dockerfile: debian-base) has /var/run
// as Debian's symlink to /run, so the kubelet sees it at /run too. /proc
// is the container's own proc mount (containerd's default spec) in the
// host's PID namespace (oci.WithHostNamespace(specs.PIDNamespace)).
// Anything else resolves inside the kubelet container's own root.
var kubeletView = []string{
	"/dev", "/sys", "/sys/fs/cgroup", "/lib/modules", "/etc/kubernetes",
	"/usr/local/lib/kubelet/credentialproviders", "/etc/nfsmount.conf", "/etc/machine-id",
	"/etc/os-release", "/system/resolved/resolv.conf", "/etc/cni", "/usr/libexec/kubernetes",
	"/var/run", "/run", "/var/lib/containerd", "/var/lib/kubelet", "/var/log/containers",
	"/var/log/pods", "/var/mnt", "/proc",
}

// withoutMount are host paths outside the kubelet's view that Talos's
// own guides use without an extra mount: Talos's Cilium guide installs
// Cilium with its chart's cni.binPath /opt/cni/bin (a DirectoryOrCreate
// hostPath the kubelet creates in its own root; the pod gets the host's).
var withoutMount = map[string]string{"/opt/cni/bin": "cilium"}

// within reports whether p is dir or below it.
func within(p, dir string) bool {
	p = path.Clean(p)
	return p == dir || strings.HasPrefix(p, dir+"/")
}

// kubeletHostPaths are the hostPath volumes of a pod the kubelet acts on
// in its own mount namespace: a typed one (Kubernetes v1.36
// pkg/volume/hostpath/host_path.go: SetUp checks the type, and creates
// a DirectoryOrCreate path, in the kubelet's filesystem; an untyped one
// goes to the container runtime on the host as it is), and one a
// container mounts with Bidirectional propagation (mounts made below it
// must reach the kubelet: Longhorn's Talos support page).
func kubeletHostPaths(spec corev1.PodSpec) []string {
	bidirectional := map[string]bool{}
	for _, c := range append(spec.InitContainers, spec.Containers...) {
		for _, m := range c.VolumeMounts {
			if m.MountPropagation != nil && *m.MountPropagation == corev1.MountPropagationBidirectional {
				bidirectional[m.Name] = true
			}
		}
	}
	var out []string
	for _, v := range spec.Volumes {
		hp := v.HostPath
		if hp == nil {
			continue
		}
		if (hp.Type != nil && *hp.Type != corev1.HostPathUnset) || bidirectional[v.Name] {
			out = append(out, hp.Path)
		}
	}
	return out
}

// componentHostPaths renders a component's model with its values and
// returns, by workload, the host paths its pods need the kubelet to see;
// local-path-provisioner's helper pods count too, built at run time from
// its ConfigMap as the provisioner builds them.
func componentHostPaths(t *testing.T, c platform.Component) map[string][]string {
	t.Helper()
	objs, err := platformtest.Render(c)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, o := range objs {
		if o.GetKind() == "ConfigMap" && o.GetName() == "local-path-config" {
			data, _, _ := unstructured.NestedString(o.Object, "data", "helperPod.yaml")
			var tmpl corev1.Pod
			if err := yaml.Unmarshal([]byte(data), &tmpl); err != nil {
				t.Fatal(err)
			}
			helper := provisioner.HelperPod(tmpl, c.Namespace, "node1", "/var/lib/local-path-provisioner/pvc-1_ns_claim", "pvc-1")
			out["helper Pod "+helper.Name] = kubeletHostPaths(helper.Spec)
			continue
		}
		tpl, ok, err := platformtest.PodTemplate(o)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			out[o.GetKind()+" "+o.GetName()] = kubeletHostPaths(tpl.Spec)
		}
	}
	return out
}

// Every host path a component's pods need the kubelet to see lies in a
// directory Talos's kubelet container sees from the host, or in an extra
// mount of the generated config of every node the pods may run on (GPU
// components on GPU nodes only): otherwise the kubelet checks, creates
// and mounts below a directory of its own container, not the host's.
func TestHostPathsVisibleToTalosKubelet(t *testing.T) {
	secrets := talostest.FixedSecrets(t)
	lat, err := latitude.New(latitude.Config{Token: "test"})
	if err != nil {
		t.Fatal(err)
	}
	clusters := []struct {
		profile           string
		gpu               bool
		controlPlanes, ws int
	}{
		{"minimal", false, 1, 0}, {"standard", false, 1, 2}, {"production", false, 3, 2},
		{"minimal", true, 1, 1}, {"production", true, 3, 2},
	}
	for _, cl := range clusters {
		t.Run(fmt.Sprintf("%s gpu=%v", cl.profile, cl.gpu), func(t *testing.T) {
			r := newRun(t, t.TempDir())
			sp := spec.Defaults()
			sp.Name, sp.Provider, sp.Profile, sp.GPU = "demo", lat.Name(), cl.profile, cl.gpu
			sp.Nodes, sp.ControlPlanes = cl.controlPlanes+cl.ws, cl.controlPlanes
			r.Deps = &pipeline.Deps{Spec: sp, Provider: lat}
			var nodes []state.Node
			for i := range sp.Nodes {
				role, name := talos.RoleControlPlane, "demo-cp"+strconv.Itoa(i+1)
				if i >= cl.controlPlanes {
					role, name = talos.RoleWorker, "demo-worker"+strconv.Itoa(i-cl.controlPlanes+1)
				}
				nodes = append(nodes, state.Node{Name: name, Role: role, Index: i, PublicIP: "203.0.113." + strconv.Itoa(11+i), PrivateIP: "10.8.0." + strconv.Itoa(11+i)})
			}
			in, err := clusterInput(r, nodes, secrets)
			if err != nil {
				t.Fatal(err)
			}
			comps, err := platform.SelectComponents(PlatformSelection(sp))
			if err != nil {
				t.Fatal(err)
			}
			paths := map[string]map[string][]string{}
			for _, c := range comps {
				paths[c.Name] = componentHostPaths(t, c)
			}
			for _, n := range nodes {
				ni, err := nodeInput(r, n, talos.Disk{Serial: "S3EWNX0N123456"}, strings.Repeat("0", 64))
				if err != nil {
					t.Fatal(err)
				}
				seen := kubeletView
				for _, m := range renderedConfig(t, in, ni).Machine().Kubelet().ExtraMounts() {
					if m.Source == m.Destination {
						seen = append(seen[:len(seen):len(seen)], m.Destination)
					}
				}
				for _, c := range comps {
					if c.GPU && !ni.GPU {
						continue
					}
					for workload, hps := range paths[c.Name] {
						for _, hp := range hps {
							if !visible(hp, seen) && withoutMount[path.Clean(hp)] != c.Name {
								t.Errorf("node %s: %s's %s uses host path %s, which Talos's kubelet does not see (no machine.kubelet.extraMounts entry covers it)", n.Name, c.Name, workload, hp)
							}
						}
					}
				}
			}
		})
	}
}

func visible(p string, dirs []string) bool {
	for _, d := range dirs {
		if within(p, d) {
			return true
		}
	}
	return false
}
