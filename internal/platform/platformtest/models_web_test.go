package platformtest

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	psapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"

	"github.com/cto-platform/cto/internal/platform"
)

var profiles = []string{"minimal", "standard", "production"}

// rendered renders every selected component that has a model.
func rendered(t *testing.T, sel platform.Selection) map[string][]*unstructured.Unstructured {
	t.Helper()
	comps, err := platform.SelectComponents(sel)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]*unstructured.Unstructured{}
	for _, c := range modelled(comps) {
		objs, err := Render(c)
		if err != nil {
			t.Fatalf("profile %s: %v", sel.Profile, err)
		}
		out[c.Name] = objs
	}
	return out
}

// modelled are the components of comps whose chart has a model.
func modelled(comps []platform.Component) []platform.Component {
	return slices.DeleteFunc(slices.Clone(comps), func(c platform.Component) bool {
		_, ok := models[c.Chart]
		return !ok
	})
}

func findObject(objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

// Every pod a modelled component creates is admitted by Pod Security at
// the level cto labels its namespace with: Talos enforces baseline where
// no label says otherwise and exempts kube-system (its generated admission
// configuration).
func TestModelsAdmittedByPodSecurity(t *testing.T) {
	eval, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, profile := range profiles {
		sel := platform.Selection{Profile: profile, Talos: true, Domain: "c1.example.com"}
		comps, err := platform.SelectComponents(sel)
		if err != nil {
			t.Fatal(err)
		}
		levels := platform.NamespaceLevels(comps)
		for name, objs := range rendered(t, sel) {
			var ns string
			for _, c := range comps {
				if c.Name == name {
					ns = c.Namespace
				}
			}
			if ns == "kube-system" {
				continue
			}
			level := psapi.LevelBaseline
			if l := levels[ns]; l != "" {
				level = psapi.Level(l)
			}
			for _, o := range objs {
				tpl, ok, err := PodTemplate(o)
				if err != nil {
					t.Fatalf("%s %s/%s: %v", name, o.GetKind(), o.GetName(), err)
				}
				if !ok {
					continue
				}
				res := policy.AggregateCheckResults(eval.EvaluatePod(psapi.LevelVersion{Level: level, Version: psapi.LatestVersion()}, &tpl.ObjectMeta, &tpl.Spec))
				if !res.Allowed {
					t.Errorf("%s: %s %s: pods forbidden in namespace %s (Pod Security %s): %s: %s", profile, o.GetKind(), o.GetName(), ns, level, res.ForbiddenReason(), res.ForbiddenDetail())
				}
			}
		}
	}
}

// Bare metal has no cloud controller and the catalog runs no
// load-balancer IPAM: a LoadBalancer Service would wait for an address
// for ever.
func TestNoServiceWaitsForALoadBalancer(t *testing.T) {
	for _, profile := range profiles {
		for name, objs := range rendered(t, platform.Selection{Profile: profile, Talos: true}) {
			for _, o := range objs {
				if typ, _, _ := unstructured.NestedString(o.Object, "spec", "type"); o.GetKind() == "Service" && typ == "LoadBalancer" {
					t.Errorf("%s: %s's Service %s is of type LoadBalancer, which nothing on bare metal gives an address", profile, name, o.GetName())
				}
			}
		}
	}
}

// Every claim a chart renders is mounted by a pod that runs: a
// WaitForFirstConsumer class (local-path) binds a claim only once its
// first pod is scheduled, so an unused claim stays Pending and Argo CD
// reports the chart Progressing for ever.
func TestEveryClaimHasAPod(t *testing.T) {
	for _, profile := range profiles {
		for name, objs := range rendered(t, platform.Selection{Profile: profile, Talos: true}) {
			used := map[string]bool{}
			for _, o := range objs {
				tpl, ok, err := PodTemplate(o)
				if err != nil || !ok || (o.GetKind() != "DaemonSet" && replicas(o) == 0) {
					continue
				}
				for _, v := range tpl.Spec.Volumes {
					if v.PersistentVolumeClaim != nil {
						used[v.PersistentVolumeClaim.ClaimName] = true
					}
				}
			}
			for _, o := range objs {
				if o.GetKind() == "PersistentVolumeClaim" && !used[o.GetName()] {
					t.Errorf("%s: %s's claim %s is mounted by no running pod", profile, name, o.GetName())
				}
			}
		}
	}
}

func podSpec(t *testing.T, o *unstructured.Unstructured) corev1.PodSpec {
	t.Helper()
	if o == nil {
		t.Fatal("workload not rendered")
	}
	tpl, ok, err := PodTemplate(o)
	if err != nil || !ok {
		t.Fatalf("%s %s: no pod template (%v)", o.GetKind(), o.GetName(), err)
	}
	return tpl.Spec
}

func replicas(o *unstructured.Unstructured) int64 {
	if o == nil {
		return -1
	}
	n, _, _ := unstructured.NestedInt64(o.Object, "spec", "replicas")
	return n
}

// The catalog's values reach the objects the charts render.
func TestCatalogValuesReachObjects(t *testing.T) {
	for _, profile := range profiles {
		t.Run(profile, func(t *testing.T) {
			objs := rendered(t, platform.Selection{Profile: profile, Talos: true, NetworkMTU: 1400, Domain: "c1.example.com"})

			// Cilium on Talos: kube-proxy replacement, no cgroup mount, no
			// SYS_MODULE, the network's MTU, one operator per node.
			cil := objs["cilium"]
			cfg := findObject(cil, "ConfigMap", "cilium-config")
			if cfg == nil || cfg.Object["data"].(map[string]any)["mtu"] != "1400" || cfg.Object["data"].(map[string]any)["kube-proxy-replacement"] != "true" {
				t.Errorf("cilium-config = %v", cfg)
			}
			agent := podSpec(t, findObject(cil, "DaemonSet", "cilium"))
			for _, ic := range agent.InitContainers {
				if ic.Name == "mount-cgroup" {
					t.Error("cilium mounts cgroups, which Talos already has mounted")
				}
			}
			if caps := agent.Containers[0].SecurityContext.Capabilities.Add; slices.Contains(caps, "SYS_MODULE") || !slices.Contains(caps, "NET_ADMIN") {
				t.Errorf("cilium-agent capabilities = %v", caps)
			}
			nodes := map[string]int64{"minimal": 1, "standard": 3, "production": 3}[profile]
			if n := replicas(findObject(cil, "Deployment", "cilium-operator")); n < 1 || n > nodes {
				t.Errorf("cilium-operator replicas = %d, but one per node fits on %d nodes", n, nodes)
			}

			// Argo CD: plain names, CRDs, production replicas.
			argo := objs["argo-cd"]
			want := int64(1)
			if profile == "production" {
				want = 2
			}
			for _, w := range []struct{ kind, name string }{{"Deployment", "argocd-server"}, {"Deployment", "argocd-repo-server"}, {"Deployment", "argocd-applicationset-controller"}, {"StatefulSet", "argocd-application-controller"}} {
				if n := replicas(findObject(argo, w.kind, w.name)); n != want {
					t.Errorf("%s %s replicas = %d, want %d", w.kind, w.name, n, want)
				}
			}
			if findObject(argo, "Service", "argocd-server") == nil || findObject(argo, "CustomResourceDefinition", "applications.argoproj.io") == nil {
				t.Error("argo-cd renders no argocd-server Service or Application CRD")
			}

			// cert-manager: its CRDs, production replicas.
			cm := objs["cert-manager"]
			if findObject(cm, "CustomResourceDefinition", "certificates.cert-manager.io") == nil {
				t.Error("cert-manager installs no CRDs")
			}
			if n := replicas(findObject(cm, "Deployment", "cert-manager-webhook")); n != want {
				t.Errorf("cert-manager-webhook replicas = %d, want %d", n, want)
			}

			// ingress-nginx: a DaemonSet on ports 80 and 443 of the nodes,
			// Ingress status from the nodes, a ClusterIP Service.
			ing := objs["ingress-nginx"]
			if findObject(ing, "Deployment", "ingress-nginx-controller") != nil {
				t.Error("ingress-nginx runs a Deployment")
			}
			ds := podSpec(t, findObject(ing, "DaemonSet", "ingress-nginx-controller"))
			var hostPorts []int32
			for _, p := range ds.Containers[0].Ports {
				hostPorts = append(hostPorts, p.HostPort)
			}
			slices.Sort(hostPorts)
			if !slices.Equal(hostPorts, []int32{80, 443}) {
				t.Errorf("ingress-nginx host ports = %v, want 80 and 443", hostPorts)
			}
			if slices.ContainsFunc(ds.Containers[0].Args, func(a string) bool { return strings.HasPrefix(a, "--publish-service") }) {
				t.Error("ingress-nginx reports its Service's address, not the nodes'")
			}
			if typ, _, _ := unstructured.NestedString(findObject(ing, "Service", "ingress-nginx-controller").Object, "spec", "type"); typ != "ClusterIP" {
				t.Errorf("ingress-nginx Service type = %s", typ)
			}
			if findObject(ing, "IngressClass", platform.IngressClass) == nil {
				t.Error("no IngressClass nginx")
			}

			// Every web UI of the profile gets an Ingress.
			web := objs["web-ingress"]
			comps, _ := platform.SelectComponents(platform.Selection{Profile: profile})
			for _, svc := range platform.Services(comps) {
				o := findObject(web, "Ingress", svc.Service)
				if o == nil {
					t.Errorf("no Ingress for %s", svc.Title)
					continue
				}
				if o.GetNamespace() != svc.Namespace || o.GetAnnotations()["cert-manager.io/cluster-issuer"] != platform.SelfSignedIssuer {
					t.Errorf("Ingress %s: namespace %s, annotations %v", o.GetName(), o.GetNamespace(), o.GetAnnotations())
				}
			}
		})
	}
}

// The models refuse values as the real charts' templates do.
func TestModelsValidateValues(t *testing.T) {
	for _, tc := range []struct {
		chart, version string
		values         map[string]any
		want           string
	}{
		{"cert-manager", "v1.21.1", map[string]any{"installCRDs": true, "crds": map[string]any{"enabled": true}}, "cannot be enabled at the same time"},
		{"cert-manager", "v1.21.1", map[string]any{"installCRDs": true, "crds": map[string]any{"keep": false}}, ".crds.keep is not compatible"},
		{"cilium", "1.20.3", map[string]any{"hubble": map[string]any{"ui": map[string]any{"enabled": true}}}, "Hubble UI requires .Values.hubble.relay.enabled=true"},
		{"cilium", "1.20.3", map[string]any{"hubble": map[string]any{"enabled": false, "relay": map[string]any{"enabled": true}}}, "Hubble Relay requires"},
	} {
		_, err := Render(platform.Component{Name: tc.chart, Chart: tc.chart, Version: tc.version, Namespace: "x", Values: tc.values})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s with %v: error %v, want %q", tc.chart, tc.values, err, tc.want)
		}
	}
	_, err := Render(platform.Component{Name: "cert-manager", Chart: "cert-manager", Version: "v1.21.1", Namespace: "x", Values: map[string]any{"crds": map[string]any{"enabled": true}}})
	if err != nil {
		t.Errorf("cert-manager with crds.enabled refused: %v", err)
	}
}

func ExampleRender() {
	objs, _ := Render(platform.Component{Name: "ingress-nginx", Chart: "ingress-nginx", Version: "4.15.1", Namespace: "ingress-nginx"})
	for _, o := range objs {
		fmt.Println(o.GetKind(), o.GetName())
	}
	// Output:
	// Deployment ingress-nginx-controller
	// IngressClass nginx
	// Service ingress-nginx-controller
}
