// Package platform installs the CTO Platform on a Kubernetes cluster: the
// component catalog (embedded YAML), Cilium and Argo CD through Helm, one
// Argo CD Application per remaining component, the waits until everything
// is Synced and Healthy, and the cto-config the platform reads.
package platform

import (
	_ "embed"
	"fmt"
	"maps"
	"path"
	"regexp"
	"slices"
	"sort"

	"sigs.k8s.io/yaml"
)

//go:embed catalog.yaml
var catalogYAML []byte

// Component is one entry of the catalog.
type Component struct {
	Name        string   `json:"name"`
	Repo        string   `json:"repo"`
	Chart       string   `json:"chart"`
	Version     string   `json:"version"`
	Path        string   `json:"path,omitempty"`
	Revision    string   `json:"revision,omitempty"`
	Namespace   string   `json:"namespace"`
	PodSecurity string   `json:"podSecurity,omitempty"`
	Wave        int      `json:"wave"`
	Profiles    []string `json:"profiles"`
	GPU         bool     `json:"gpu,omitempty"`
	Bootstrap   bool     `json:"bootstrap,omitempty"`
	TalosOnly   bool     `json:"talosOnly,omitempty"`
	DependsOn   []string `json:"dependsOn,omitempty"`
	// TalosExtensions are the Talos system extensions its pods need on
	// the nodes that run them: every node, or GPU nodes only for a GPU
	// component. They go into those nodes' Image Factory schematic.
	TalosExtensions []string `json:"talosExtensions,omitempty"`
	// KubeletMounts are host directories its pods use that Talos's
	// kubelet container does not see: bound into it on the nodes that
	// run them, as extensions are chosen.
	KubeletMounts []string                  `json:"kubeletMounts,omitempty"`
	Values        map[string]any            `json:"values,omitempty"`
	ProfileValues map[string]map[string]any `json:"profileValues,omitempty"`
	// MTUValue names the value that takes the MTU of the network pod
	// traffic crosses between nodes, when the provider sets one.
	MTUValue string `json:"mtuValue,omitempty"`
	// WebIngress marks the raw chart that carries the web UIs' Ingresses
	// (and the ACME issuer): selected only for a cluster with a domain,
	// its resources are generated (webIngressResources).
	WebIngress bool `json:"webIngress,omitempty"`
}

// Catalog is every component cto knows, in file order.
type Catalog struct {
	Components []Component `json:"components"`
}

// Selection says which cluster the components are for.
type Selection struct {
	Profile string
	GPU     bool
	// Talos is a cluster cto installed Talos on (it needs Cilium).
	Talos bool
	// NetworkMTU is the MTU of the private network that carries traffic
	// between nodes, 0 for the NICs' own (which Cilium detects from the
	// public link, too large for a network with a smaller MTU).
	NetworkMTU int
	// Domain is the cluster's DNS suffix (<cluster>.<domain>) the web UIs
	// answer under, "" for none (port-forwards only).
	Domain string
	// ACMEDNS is the DNS provider whose API token answers ACME DNS-01
	// challenges ("cloudflare"); "" keeps certificates self-signed.
	ACMEDNS string
	// ACMEServer is the ACME directory the issuer registers with ("":
	// Let's Encrypt's production one).
	ACMEServer string
}

// exactVersion is a pinned version: no range, no "latest", no wildcard.
var exactVersion = regexp.MustCompile(`^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$`)

// officialExtension is how the Image Factory names an official extension.
var officialExtension = regexp.MustCompile(`^siderolabs/[a-z0-9][a-z0-9-]*$`)

// NodeExtensions returns the Talos extensions a node needs to run the
// selected components' pods, sorted and without repeats: every
// component's on every node, a GPU component's on GPU nodes only.
func NodeExtensions(comps []Component, gpuNode bool) []string {
	return onNode(comps, gpuNode, func(c Component) []string { return c.TalosExtensions })
}

// NodeKubeletMounts returns the host directories the kubelet must see
// on a node to run the selected components' pods, sorted and without
// repeats: every component's on every node, a GPU component's on GPU
// nodes only.
func NodeKubeletMounts(comps []Component, gpuNode bool) []string {
	return onNode(comps, gpuNode, func(c Component) []string { return c.KubeletMounts })
}

// onNode collects what the components that run on a node declare, sorted
// and without repeats: a GPU component runs on GPU nodes only.
func onNode(comps []Component, gpuNode bool, of func(Component) []string) []string {
	var out []string
	for _, c := range comps {
		if c.GPU && !gpuNode {
			continue
		}
		out = append(out, of(c)...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// LoadCatalog parses the embedded catalog and checks it.
func LoadCatalog() (*Catalog, error) { return ParseCatalog(catalogYAML) }

// ParseCatalog parses a catalog document and checks every entry.
func ParseCatalog(data []byte) (*Catalog, error) {
	var c Catalog
	if err := yaml.UnmarshalStrict(data, &c); err != nil {
		return nil, fmt.Errorf("platform catalog: %w", err)
	}
	if err := c.check(); err != nil {
		return nil, fmt.Errorf("platform catalog: %w", err)
	}
	return &c, nil
}

func (c *Catalog) check() error {
	seen := map[string]*Component{}
	for i := range c.Components {
		comp := &c.Components[i]
		switch {
		case comp.Name == "" || comp.Repo == "" || comp.Chart == "" || comp.Namespace == "":
			return fmt.Errorf("component %d (%q) needs name, repo, chart and namespace", i, comp.Name)
		case !exactVersion.MatchString(comp.Version):
			return fmt.Errorf("component %s: version %q is not an exact version", comp.Name, comp.Version)
		case seen[comp.Name] != nil:
			return fmt.Errorf("component %s is listed twice", comp.Name)
		case len(comp.Profiles) == 0:
			return fmt.Errorf("component %s is in no profile", comp.Name)
		}
		switch comp.PodSecurity {
		case "", "privileged", "baseline", "restricted":
		default:
			return fmt.Errorf("component %s: podSecurity %q is not privileged, baseline or restricted", comp.Name, comp.PodSecurity)
		}
		for _, ext := range comp.TalosExtensions {
			if !officialExtension.MatchString(ext) {
				return fmt.Errorf("component %s: Talos extension %q is not an official extension name (siderolabs/<name>)", comp.Name, ext)
			}
		}
		for _, m := range comp.KubeletMounts {
			if !path.IsAbs(m) || path.Clean(m) != m || m == "/" {
				return fmt.Errorf("component %s: kubelet mount %q is not a clean absolute directory below /", comp.Name, m)
			}
		}
		for p := range comp.ProfileValues {
			if !slices.Contains(comp.Profiles, p) {
				return fmt.Errorf("component %s has values for profile %s it is not in", comp.Name, p)
			}
		}
		seen[comp.Name] = comp
	}
	for _, comp := range c.Components {
		for _, dep := range comp.DependsOn {
			d := seen[dep]
			if d == nil {
				return fmt.Errorf("component %s depends on unknown %s", comp.Name, dep)
			}
			if d.Wave > comp.Wave {
				return fmt.Errorf("component %s (wave %d) depends on %s of a later wave (%d)", comp.Name, comp.Wave, dep, d.Wave)
			}
			for _, p := range comp.Profiles {
				if !slices.Contains(d.Profiles, p) {
					return fmt.Errorf("component %s in profile %s depends on %s, which is not in it", comp.Name, p, dep)
				}
			}
		}
	}
	return nil
}

// Select returns the components of a cluster, ordered by wave then name.
func (c *Catalog) Select(sel Selection) ([]Component, error) {
	known := false
	var out []Component
	for _, comp := range c.Components {
		if slices.Contains(comp.Profiles, sel.Profile) {
			known = true
		} else {
			continue
		}
		if (comp.GPU && !sel.GPU) || (comp.TalosOnly && !sel.Talos) || (comp.WebIngress && sel.Domain == "") {
			continue
		}
		comp.Values = comp.ValuesFor(sel.Profile)
		if comp.MTUValue != "" && sel.NetworkMTU > 0 {
			comp.Values = mergeValues(comp.Values, map[string]any{comp.MTUValue: sel.NetworkMTU})
		}
		out = append(out, comp)
	}
	if !known {
		return nil, fmt.Errorf("no component is in profile %q", sel.Profile)
	}
	for i := range out {
		if out[i].WebIngress {
			out[i].Values = mergeValues(out[i].Values, map[string]any{"resources": webIngressResources(sel, out)})
		}
	}
	sort.SliceStable(out, func(a, b int) bool {
		if out[a].Wave != out[b].Wave {
			return out[a].Wave < out[b].Wave
		}
		return out[a].Name < out[b].Name
	})
	return out, nil
}

// SelectComponents returns the embedded catalog's components for sel.
func SelectComponents(sel Selection) ([]Component, error) {
	cat, err := LoadCatalog()
	if err != nil {
		return nil, err
	}
	return cat.Select(sel)
}

// ValuesFor returns the component's values with a profile's overrides
// merged over them.
func (c Component) ValuesFor(profile string) map[string]any {
	return mergeValues(c.Values, c.ProfileValues[profile])
}

// Git reports whether the chart lives in a Git repository.
func (c Component) Git() bool { return c.Path != "" }

// GitRevision is the Git ref of a Git-hosted chart.
func (c Component) GitRevision() string {
	if c.Revision != "" {
		return c.Revision
	}
	return c.Version
}

// mergeValues deep-merges over into base, returning a new map.
func mergeValues(base, over map[string]any) map[string]any {
	out := maps.Clone(base)
	if out == nil {
		out = map[string]any{}
	}
	for k, v := range over {
		if bm, ok := out[k].(map[string]any); ok {
			if om, ok := v.(map[string]any); ok {
				out[k] = mergeValues(bm, om)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// Names lists the components' names.
func Names(comps []Component) []string {
	out := make([]string, len(comps))
	for i, c := range comps {
		out[i] = c.Name
	}
	return out
}
