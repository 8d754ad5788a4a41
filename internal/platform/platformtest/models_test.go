package platformtest

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/chart/common"
	chartutil "helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/engine"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	psaapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
	"sigs.k8s.io/yaml"

	"github.com/cto-platform/cto/internal/platform"
	"github.com/cto-platform/cto/test/controllers/provisioner"
)

// object is the part of a rendered manifest the checks read.
type object struct {
	Kind     string            `json:"kind"`
	Metadata metav1.ObjectMeta `json:"metadata"`
	Data     map[string]string `json:"data"`
	Spec     struct {
		Replicas             *int32                         `json:"replicas"`
		StorageClassName     *string                        `json:"storageClassName"`
		Type                 string                         `json:"type"`
		Template             corev1.PodTemplateSpec         `json:"template"`
		VolumeClaimTemplates []corev1.PersistentVolumeClaim `json:"volumeClaimTemplates"`
	} `json:"spec"`
}

// renderComponent renders a component's model with its values as Helm
// does for its release (name, namespace), the templates only.
func renderComponent(c platform.Component) ([]object, error) {
	ch := StandIn(c.Chart, c.Version)
	vals, err := chartutil.ToRenderValues(ch, c.Values, common.ReleaseOptions{Name: c.Name, Namespace: c.Namespace, IsInstall: true}, common.DefaultCapabilities)
	if err != nil {
		return nil, err
	}
	files, err := engine.Render(ch, vals)
	if err != nil {
		return nil, err
	}
	var out []object
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range files {
			if !yield(k) {
				return
			}
		}
	}) {
		for _, doc := range strings.Split(files[name], "\n---") {
			if strings.TrimSpace(doc) == "" {
				continue
			}
			var o object
			if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			if o.Kind != "" {
				out = append(out, o)
			}
		}
	}
	return out, nil
}

// namespaceLevels is the Pod Security level each namespace is enforced
// at: the most permissive of its components' podSecurity (as the
// installer labels namespaces), else Talos's cluster default "baseline".
func namespaceLevels(comps []platform.Component) map[string]psaapi.Level {
	rank := map[string]int{"": 0, "restricted": 1, "baseline": 2, "privileged": 3}
	set := map[string]string{}
	for _, c := range comps {
		if rank[c.PodSecurity] > rank[set[c.Namespace]] {
			set[c.Namespace] = c.PodSecurity
		}
	}
	out := map[string]psaapi.Level{}
	for _, c := range comps {
		l := set[c.Namespace]
		if l == "" {
			l = "baseline"
		}
		out[c.Namespace] = psaapi.Level(l)
	}
	return out
}

var selections = []platform.Selection{
	{Profile: "minimal", Talos: true},
	{Profile: "standard", Talos: true},
	{Profile: "production", Talos: true},
	{Profile: "minimal", Talos: true, GPU: true},
	{Profile: "production", Talos: true, GPU: true},
}

// storageClass is each profile's one storage class (docs/guide.md).
var storageClass = map[string]string{"minimal": "local-path", "standard": "local-path", "production": "longhorn"}

// Every pod the catalog's components create is admitted by Pod Security
// (k8s.io/pod-security-admission's own checks, the API server's) at its
// namespace's level, kube-system exempt as Talos configures it; no
// namespace is more permissive than one of its pods needs; every claim
// uses the profile's storage class.
func TestModelsAdmittedAndOnTheProfilesStorage(t *testing.T) {
	eval, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, sel := range selections {
		t.Run(fmt.Sprintf("%s gpu=%v", sel.Profile, sel.GPU), func(t *testing.T) {
			comps, err := platform.SelectComponents(sel)
			if err != nil {
				t.Fatal(err)
			}
			levels := namespaceLevels(comps)
			needs := map[string]psaapi.Level{}
			for _, c := range modelled(comps) {
				objs, err := renderComponent(c)
				if err != nil {
					t.Errorf("%s does not render: %v", c.Name, err)
					continue
				}
				for _, o := range objs {
					if o.Kind == "PersistentVolumeClaim" {
						checkClass(t, c.Name, o.Metadata.Name, o.Spec.StorageClassName, storageClass[sel.Profile])
					}
					for _, vct := range o.Spec.VolumeClaimTemplates {
						checkClass(t, c.Name, o.Metadata.Name+"/"+vct.Name, vct.Spec.StorageClassName, storageClass[sel.Profile])
					}
					if o.Kind == "ConfigMap" && o.Metadata.Name == "local-path-config" {
						// The pods local-path-provisioner creates at run
						// time, from this template, in its namespace.
						var tmpl corev1.Pod
						if err := yaml.Unmarshal([]byte(o.Data["helperPod.yaml"]), &tmpl); err != nil {
							t.Fatal(err)
						}
						helper := provisioner.HelperPod(tmpl, c.Namespace, "node1", "/var/lib/local-path-provisioner/pvc-1_ns_claim", "pvc-1")
						o.Kind, o.Metadata.Name = "Pod", helper.Name
						o.Spec.Template = corev1.PodTemplateSpec{ObjectMeta: helper.ObjectMeta, Spec: helper.Spec}
					}
					if !slices.Contains([]string{"Deployment", "StatefulSet", "DaemonSet", "Job", "Pod"}, o.Kind) || c.Namespace == "kube-system" {
						continue
					}
					lv := psaapi.LevelVersion{Level: levels[c.Namespace], Version: psaapi.LatestVersion()}
					res := policy.AggregateCheckResults(eval.EvaluatePod(lv, &o.Spec.Template.ObjectMeta, &o.Spec.Template.Spec))
					if !res.Allowed {
						t.Errorf("%s: %s %s/%s violates PodSecurity %q: %s: %s", c.Name, o.Kind, c.Namespace, o.Metadata.Name, lv.Level, res.ForbiddenReason(), res.ForbiddenDetail())
					}
					for _, l := range []psaapi.Level{psaapi.LevelRestricted, psaapi.LevelBaseline, psaapi.LevelPrivileged} {
						lv := psaapi.LevelVersion{Level: l, Version: psaapi.LatestVersion()}
						if policy.AggregateCheckResults(eval.EvaluatePod(lv, &o.Spec.Template.ObjectMeta, &o.Spec.Template.Spec)).Allowed {
							if rankOf(l) > rankOf(needs[c.Namespace]) {
								needs[c.Namespace] = l
							}
							break
						}
					}
				}
			}
			// No wider than needed: a namespace above baseline (Talos's
			// default) has a pod that needs it.
			for _, c := range comps {
				if c.Namespace == "kube-system" || levels[c.Namespace] != psaapi.LevelPrivileged {
					continue
				}
				if _, ok := models[c.Chart]; ok && needs[c.Namespace] != psaapi.LevelPrivileged && c.Name != "nvidia-runtimeclass" {
					t.Errorf("namespace %s is privileged, but its pods need only %q", c.Namespace, needs[c.Namespace])
				}
			}
		})
	}
}

func rankOf(l psaapi.Level) int {
	return map[psaapi.Level]int{"": 0, psaapi.LevelRestricted: 1, psaapi.LevelBaseline: 2, psaapi.LevelPrivileged: 3}[l]
}

func checkClass(t *testing.T, comp, name string, got *string, want string) {
	t.Helper()
	if got == nil || *got != want {
		g := "<default>"
		if got != nil {
			g = *got
		}
		t.Errorf("%s: claim %s uses storage class %s, want the profile's %s", comp, name, g, want)
	}
}

func find(t *testing.T, objs []object, kind, name string) *object {
	t.Helper()
	for i := range objs {
		if objs[i].Kind == kind && objs[i].Metadata.Name == name {
			return &objs[i]
		}
	}
	return nil
}

func mustRender(t *testing.T, c platform.Component) []object {
	t.Helper()
	objs, err := renderComponent(c)
	if err != nil {
		t.Fatalf("%s: %v", c.Name, err)
	}
	return objs
}

// The values the catalog sets reach the rendered objects.
func TestCatalogValuesReachTheModels(t *testing.T) {
	prod := platform.Selection{Profile: "production", Talos: true, GPU: true}
	replicas := []struct{ comp, kind, name string }{
		{"argo-workflows", "Deployment", "argo-workflows-workflow-controller"},
		{"argo-workflows", "Deployment", "argo-workflows-server"},
		{"grafana", "Deployment", "grafana"},
		{"cto", "Deployment", "cto-controller"},
	}
	for _, r := range replicas {
		o := find(t, mustRender(t, Component(t, prod, r.comp)), r.kind, r.name)
		if o == nil || o.Spec.Replicas == nil || *o.Spec.Replicas != 2 {
			t.Errorf("production %s %s: replicas not 2: %+v", r.comp, r.name, o)
		}
	}

	// Loki: one single binary, none of the simple-scalable targets or the
	// memory-hungry caches.
	lokiObjs := mustRender(t, Component(t, prod, "loki"))
	if o := find(t, lokiObjs, "StatefulSet", "loki"); o == nil || *o.Spec.Replicas != 1 {
		t.Errorf("loki single binary: %+v", o)
	}
	for _, n := range []string{"loki-read", "loki-write", "loki-backend", "loki-chunks-cache", "loki-results-cache"} {
		if find(t, lokiObjs, "StatefulSet", n) != nil {
			t.Errorf("loki renders %s", n)
		}
	}

	// Prometheus leaves node-exporter to its own component.
	promObjs := mustRender(t, Component(t, prod, "prometheus"))
	if find(t, promObjs, "DaemonSet", "prometheus-prometheus-node-exporter") != nil {
		t.Error("prometheus still renders node-exporter in observability")
	}
	if find(t, mustRender(t, Component(t, prod, "prometheus-node-exporter")), "DaemonSet", "prometheus-node-exporter") == nil {
		t.Error("prometheus-node-exporter renders no DaemonSet")
	}

	// The device plugin: GPU nodes only, tolerating their taint, on the
	// nvidia runtime.
	dp := find(t, mustRender(t, Component(t, prod, "nvidia-device-plugin")), "DaemonSet", "nvidia-device-plugin")
	if dp == nil {
		t.Fatal("no device plugin DaemonSet")
	}
	ps := dp.Spec.Template.Spec
	if ps.NodeSelector["nvidia.com/gpu.present"] != "true" {
		t.Errorf("device plugin nodeSelector = %v", ps.NodeSelector)
	}
	if ps.RuntimeClassName == nil || *ps.RuntimeClassName != "nvidia" {
		t.Errorf("device plugin runtimeClassName = %v", ps.RuntimeClassName)
	}
	if !slices.ContainsFunc(ps.Tolerations, func(tl corev1.Toleration) bool {
		return tl.Key == "nvidia.com/gpu" && tl.Operator == corev1.TolerationOpExists && tl.Effect == corev1.TaintEffectNoSchedule
	}) {
		t.Errorf("device plugin does not tolerate nvidia.com/gpu: %v", ps.Tolerations)
	}

	// The cto chart: no pull secret a cto cluster lacks, no nginx Ingress,
	// no Cloudflare tunnel, tools not a NodePort.
	for _, sel := range selections {
		for _, o := range mustRender(t, Component(t, sel, "cto")) {
			switch {
			case len(o.Spec.Template.Spec.ImagePullSecrets) > 0:
				t.Errorf("%s: cto %s pulls with %v", sel.Profile, o.Metadata.Name, o.Spec.Template.Spec.ImagePullSecrets)
			case o.Kind == "Ingress" || o.Kind == "ClusterTunnel":
				t.Errorf("%s: cto renders %s %s", sel.Profile, o.Kind, o.Metadata.Name)
			case o.Kind == "Service" && o.Spec.Type != "ClusterIP":
				t.Errorf("%s: cto Service %s is %s", sel.Profile, o.Metadata.Name, o.Spec.Type)
			}
		}
	}
}

// The models keep the upstream charts' refusals: loki 7.3.0 in
// SingleBinary mode with its default read/write/backend replicas, and the
// device plugin in the default namespace.
func TestModelsRefuseWhatTheChartsRefuse(t *testing.T) {
	l := Component(t, platform.Selection{Profile: "production"}, "loki")
	for _, k := range []string{"read", "write", "backend"} {
		delete(l.Values, k)
	}
	if _, err := renderComponent(l); err == nil || !strings.Contains(err.Error(), "single binary and simple scalable") {
		t.Errorf("loki SingleBinary with simple-scalable replicas: %v, want the chart's refusal", err)
	}
	dp := Component(t, platform.Selection{Profile: "minimal", GPU: true}, "nvidia-device-plugin")
	dp.Namespace = "default"
	if _, err := renderComponent(dp); err == nil {
		t.Error("the device plugin rendered in the default namespace")
	}
}
