package platform_test

import (
	"cmp"
	"slices"
	"strings"
	"testing"

	"github.com/cto-platform/cto/internal/platform"
	"github.com/cto-platform/cto/internal/platform/platformtest"
)

func TestCatalogProfiles(t *testing.T) {
	c, err := platform.LoadCatalog()
	if err != nil {
		t.Fatal(err)
	}
	minimal := []string{"local-path-provisioner", "argo-cd", "cert-manager", "selfsigned-issuer", "ingress-nginx", "argo-events", "argo-workflows", "cto"}
	standard := append(slices.Clone(minimal), "external-secrets", "prometheus", "prometheus-node-exporter", "grafana", "cloudnative-pg")
	production := append(slices.Clone(standard), "longhorn", "loki", "redis-operator")
	tests := []struct {
		name string
		sel  platform.Selection
		want []string
	}{
		{"minimal on an existing cluster", platform.Selection{Profile: "minimal"}, minimal},
		{"minimal on Talos adds Cilium", platform.Selection{Profile: "minimal", Talos: true}, append(slices.Clone(minimal), "cilium")},
		{"standard", platform.Selection{Profile: "standard"}, standard},
		{"production", platform.Selection{Profile: "production"}, production},
		{"gpu adds the NVIDIA device plugin and its RuntimeClass", platform.Selection{Profile: "standard", GPU: true}, append(slices.Clone(standard), "nvidia-device-plugin", "nvidia-runtimeclass")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			comps, err := c.Select(tt.sel)
			if err != nil {
				t.Fatal(err)
			}
			got := platform.Names(comps)
			want := slices.Clone(tt.want)
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("components = %v\nwant %v", got, want)
			}
			// Ordered by wave.
			for i := 1; i < len(comps); i++ {
				if comps[i].Wave < comps[i-1].Wave {
					t.Fatalf("%s (wave %d) after %s (wave %d)", comps[i].Name, comps[i].Wave, comps[i-1].Name, comps[i-1].Wave)
				}
			}
		})
	}
	if _, err := c.Select(platform.Selection{Profile: "huge"}); err == nil {
		t.Fatal("an unknown profile selected components")
	}
}

func TestCatalogPins(t *testing.T) {
	c, err := platform.LoadCatalog()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"cilium": "1.20.3", "argo-workflows": "1.0.18", "argo-events": "2.4.22", "cert-manager": "v1.21.1",
		"ingress-nginx": "4.15.1", "argo-cd": "10.1.1", "longhorn": "1.12.1", "external-secrets": "2.9.0", "prometheus": "29.27.0",
		"prometheus-node-exporter": "4.56.1", "grafana": "12.11.1", "loki": "7.3.0", "cloudnative-pg": "0.29.0",
		"redis-operator": "0.26.1", "nvidia-device-plugin": "0.20.0", "local-path-provisioner": "0.0.37", "cto": "0.2.9",
	}
	for _, comp := range c.Components {
		if v, ok := want[comp.Name]; ok && comp.Version != v {
			t.Errorf("%s version = %s, want %s", comp.Name, comp.Version, v)
		}
		if strings.ContainsAny(comp.Version, "*^~<>x ") {
			t.Errorf("%s version %q is not exact", comp.Name, comp.Version)
		}
	}
}

func TestCatalogValues(t *testing.T) {
	cil := platformtest.Component(t, platform.Selection{Profile: "minimal", Talos: true}, "cilium")
	if cil.Values["k8sServicePort"] != float64(7445) || cil.Values["k8sServiceHost"] != "localhost" || cil.Values["kubeProxyReplacement"] != true {
		t.Errorf("cilium values are not Talos's: %v", cil.Values)
	}
	if _, set := cil.Values["MTU"]; set {
		t.Errorf("cilium's MTU is set without a network MTU: %v", cil.Values["MTU"])
	}
	if mtu := platformtest.Component(t, platform.Selection{Profile: "minimal", Talos: true, NetworkMTU: 1400}, "cilium").Values["MTU"]; mtu != 1400 {
		t.Errorf("cilium's MTU = %v on a network of MTU 1400", mtu)
	}
	caps := cil.Values["securityContext"].(map[string]any)["capabilities"].(map[string]any)["ciliumAgent"].([]any)
	if slices.Contains(caps, any("SYS_MODULE")) {
		t.Error("cilium keeps SYS_MODULE, which Talos refuses")
	}
	// Talos's NVIDIA guide: the device plugin with RuntimeClass nvidia,
	// whose handler is the runtime the toolkit extension registers.
	dp := platformtest.Component(t, platform.Selection{Profile: "minimal", GPU: true}, "nvidia-device-plugin")
	if dp.PodSecurity != "privileged" {
		t.Error("nvidia-device-plugin namespace is not privileged (its pods mount host paths)")
	}
	if dp.Values["runtimeClassName"] != "nvidia" {
		t.Errorf("device plugin runtimeClassName = %v, want nvidia", dp.Values["runtimeClassName"])
	}
	rc := platformtest.Component(t, platform.Selection{Profile: "minimal", GPU: true}, "nvidia-runtimeclass").Values["resources"].([]any)[0].(map[string]any)
	if rc["kind"] != "RuntimeClass" || rc["handler"] != "nvidia" || rc["metadata"].(map[string]any)["name"] != "nvidia" {
		t.Errorf("RuntimeClass = %v, want nvidia with handler nvidia", rc)
	}
	prod := platformtest.Component(t, platform.Selection{Profile: "production"}, "argo-cd")
	if prod.Values["server"].(map[string]any)["replicas"] != float64(2) {
		t.Errorf("production argo-cd server replicas = %v, want 2", prod.Values["server"])
	}
	if prod.Values["crds"].(map[string]any)["install"] != true {
		t.Error("production overrides dropped the base values")
	}
	minimal := platformtest.Component(t, platform.Selection{Profile: "minimal"}, "argo-cd")
	if _, ok := minimal.Values["server"]; ok {
		t.Errorf("minimal argo-cd got production replicas: %v", minimal.Values["server"])
	}
	for _, comp := range []string{"local-path-provisioner", "longhorn"} {
		if platformtest.Component(t, platform.Selection{Profile: "production"}, comp).PodSecurity != "privileged" {
			t.Errorf("%s namespace is not privileged", comp)
		}
	}
}

func TestParseCatalogRefuses(t *testing.T) {
	tests := map[string]string{
		"range":       "components: [{name: a, repo: r, chart: a, version: '^1.2', namespace: n, profiles: [minimal]}]",
		"unknown key": "components: [{name: a, repo: r, chart: a, version: 1.0.0, namespace: n, profiles: [minimal], colour: red}]",
		"unknown dep": "components: [{name: a, repo: r, chart: a, version: 1.0.0, namespace: n, profiles: [minimal], dependsOn: [b]}]",
		"later wave dep": `components:
- {name: a, repo: r, chart: a, version: 1.0.0, namespace: n, profiles: [minimal], dependsOn: [b]}
- {name: b, repo: r, chart: b, version: 1.0.0, namespace: n, profiles: [minimal], wave: 3}`,
		"dep not in profile": `components:
- {name: a, repo: r, chart: a, version: 1.0.0, namespace: n, profiles: [minimal, standard], dependsOn: [b]}
- {name: b, repo: r, chart: b, version: 1.0.0, namespace: n, profiles: [standard]}`,
		"extension not official": "components: [{name: a, repo: r, chart: a, version: 1.0.0, namespace: n, profiles: [minimal], talosExtensions: [iscsi-tools]}]",
		"relative kubelet mount": "components: [{name: a, repo: r, chart: a, version: 1.0.0, namespace: n, profiles: [minimal], kubeletMounts: [var/lib/a]}]",
		"kubelet mount of /":     "components: [{name: a, repo: r, chart: a, version: 1.0.0, namespace: n, profiles: [minimal], kubeletMounts: [/]}]",
		"twice": `components:
- {name: a, repo: r, chart: a, version: 1.0.0, namespace: n, profiles: [minimal]}
- {name: a, repo: r, chart: a, version: 1.0.0, namespace: n, profiles: [minimal]}`,
	}
	for name, doc := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := platform.ParseCatalog([]byte(doc)); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	ok := "components: [{name: a, repo: r, chart: a, version: 1.0.0, namespace: n, profiles: [minimal]}]"
	if _, err := platform.ParseCatalog([]byte(ok)); err != nil {
		t.Fatalf("one plain entry refused: %v", err)
	}
}

// The Talos extensions follow the components: Longhorn's on every node of
// a production cluster, the NVIDIA ones on GPU nodes of a GPU cluster only.
func TestNodeExtensions(t *testing.T) {
	storage := []string{"siderolabs/iscsi-tools", "siderolabs/util-linux-tools"}
	nvidia := []string{"siderolabs/nvidia-container-toolkit-production", "siderolabs/nvidia-open-gpu-kernel-modules-production"}
	for _, tc := range []struct {
		sel     platform.Selection
		gpuNode bool
		want    []string
	}{
		{platform.Selection{Profile: "minimal", Talos: true}, false, nil},
		{platform.Selection{Profile: "standard", Talos: true}, false, nil},
		{platform.Selection{Profile: "production", Talos: true}, false, storage},
		{platform.Selection{Profile: "standard", Talos: true, GPU: true}, false, nil},
		{platform.Selection{Profile: "standard", Talos: true, GPU: true}, true, nvidia},
		{platform.Selection{Profile: "production", Talos: true, GPU: true}, false, storage},
		{platform.Selection{Profile: "production", Talos: true, GPU: true}, true, append(slices.Clone(storage), nvidia...)},
	} {
		comps, err := platform.SelectComponents(tc.sel)
		if err != nil {
			t.Fatal(err)
		}
		want := slices.Sorted(slices.Values(tc.want))
		if got := platform.NodeExtensions(comps, tc.gpuNode); !slices.Equal(got, want) {
			t.Errorf("%+v, GPU node %v: extensions %v, want %v", tc.sel, tc.gpuNode, got, want)
		}
	}
}

// The kubelet mounts follow the components as extensions do: the
// local-path directory everywhere, Longhorn's in production, a GPU
// component's on GPU nodes only.
func TestNodeKubeletMounts(t *testing.T) {
	for _, tc := range []struct {
		profile string
		want    []string
	}{
		{"minimal", []string{"/var/lib/local-path-provisioner"}},
		{"standard", []string{"/var/lib/local-path-provisioner"}},
		{"production", []string{"/var/lib/local-path-provisioner", "/var/lib/longhorn"}},
	} {
		comps, err := platform.SelectComponents(platform.Selection{Profile: tc.profile, Talos: true, GPU: true})
		if err != nil {
			t.Fatal(err)
		}
		if got := platform.NodeKubeletMounts(comps, true); !slices.Equal(got, tc.want) {
			t.Errorf("%s: kubelet mounts %v, want %v", tc.profile, got, tc.want)
		}
	}
	comps := []platform.Component{{Name: "a", KubeletMounts: []string{"/var/lib/a"}}, {Name: "g", GPU: true, KubeletMounts: []string{"/var/lib/g", "/var/lib/a"}}}
	if got := platform.NodeKubeletMounts(comps, false); !slices.Equal(got, []string{"/var/lib/a"}) {
		t.Errorf("node without GPUs: %v", got)
	}
	if got := platform.NodeKubeletMounts(comps, true); !slices.Equal(got, []string{"/var/lib/a", "/var/lib/g"}) {
		t.Errorf("GPU node: %v", got)
	}
}

// With a domain, every web UI named in credentials.json gets an Ingress
// of class nginx at its URL's host with a certificate from the issuer;
// with a DNS provider token the issuer is ACME DNS-01 through it.
func TestWebIngresses(t *testing.T) {
	if comps, _ := platform.SelectComponents(platform.Selection{Profile: "standard"}); slices.Contains(platform.Names(comps), "web-ingress") {
		t.Fatal("Ingresses without a domain")
	}
	for _, tc := range []struct {
		sel    platform.Selection
		issuer string
	}{
		{platform.Selection{Profile: "standard", Domain: "c1.example.com"}, platform.SelfSignedIssuer},
		{platform.Selection{Profile: "minimal", Domain: "c1.example.com", ACMEDNS: "cloudflare"}, platform.ACMEIssuer},
		{platform.Selection{Profile: "minimal", Domain: "c1.example.com", ACMEDNS: "cloudflare", ACMEServer: "https://acme-staging-v02.api.letsencrypt.org/directory"}, platform.ACMEIssuer},
	} {
		comps, err := platform.SelectComponents(tc.sel)
		if err != nil {
			t.Fatal(err)
		}
		var web *platform.Component
		for i := range comps {
			if comps[i].Name == "web-ingress" {
				web = &comps[i]
			}
		}
		if web == nil {
			t.Fatalf("%+v: no web-ingress component", tc.sel)
		}
		hosts := map[string]map[string]any{}
		var issuers []map[string]any
		for _, r := range web.Values["resources"].([]any) {
			obj := r.(map[string]any)
			switch obj["kind"] {
			case "Ingress":
				spec := obj["spec"].(map[string]any)
				hosts[spec["rules"].([]any)[0].(map[string]any)["host"].(string)] = obj
			case "ClusterIssuer":
				issuers = append(issuers, obj)
			}
		}
		svcs := platform.Services(comps)
		if len(svcs) == 0 || len(hosts) != len(svcs) {
			t.Fatalf("%s: %d Ingresses for %d web UIs", tc.sel.Profile, len(hosts), len(svcs))
		}
		for _, svc := range svcs {
			ing := hosts[strings.TrimPrefix(svc.URL(tc.sel.Domain), "https://")]
			if ing == nil {
				t.Errorf("no Ingress answers %s", svc.URL(tc.sel.Domain))
				continue
			}
			meta, spec := ing["metadata"].(map[string]any), ing["spec"].(map[string]any)
			if meta["namespace"] != svc.Namespace || spec["ingressClassName"] != "nginx" || meta["annotations"].(map[string]any)["cert-manager.io/cluster-issuer"] != tc.issuer {
				t.Errorf("Ingress for %s: %v", svc.Title, ing)
			}
			if tls := spec["tls"].([]any); len(tls) != 1 || tls[0].(map[string]any)["secretName"] == "" {
				t.Errorf("Ingress for %s has no TLS secret: %v", svc.Title, tls)
			}
			backend := spec["rules"].([]any)[0].(map[string]any)["http"].(map[string]any)["paths"].([]any)[0].(map[string]any)["backend"].(map[string]any)["service"].(map[string]any)
			if backend["name"] != svc.Service || backend["port"].(map[string]any)["number"] != svc.Port {
				t.Errorf("Ingress for %s goes to %v", svc.Title, backend)
			}
		}
		if tc.issuer == platform.ACMEIssuer {
			if len(issuers) != 1 {
				t.Fatalf("ACME issuers = %v", issuers)
			}
			acme := issuers[0]["spec"].(map[string]any)["acme"].(map[string]any)
			if want := cmp.Or(tc.sel.ACMEServer, "https://acme-v02.api.letsencrypt.org/directory"); acme["server"] != want {
				t.Errorf("ACME server %v, want %s", acme["server"], want)
			}
			ref := acme["solvers"].([]any)[0].(map[string]any)["dns01"].(map[string]any)["cloudflare"].(map[string]any)["apiTokenSecretRef"].(map[string]any)
			if ref["name"] != platform.DNSTokenSecret.Name || ref["key"] != platform.DNSTokenSecret.Key {
				t.Errorf("Cloudflare solver reads %v", ref)
			}
		} else if len(issuers) != 0 {
			t.Errorf("ClusterIssuers without a DNS token: %v", issuers)
		}
	}
}
