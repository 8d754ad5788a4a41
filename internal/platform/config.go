package platform

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// ConfigFile is the name of the platform's configuration.
const ConfigFile = "cto-config.json"

// Config is cto-config.json: what the platform reads about the cluster it
// runs on. Only inputs go in (no timestamps), so a rerun writes the same
// bytes.
type Config struct {
	Version    string            `json:"version"`
	Cluster    ClusterInfo       `json:"cluster"`
	GitHub     GitHub            `json:"github"`
	Components []ConfigComponent `json:"components"`
	Defaults   ConfigDefaults    `json:"defaults"`
	Agents     map[string]any    `json:"agents"`
}

// ClusterInfo describes the cluster.
type ClusterInfo struct {
	Name     string `json:"name"`
	Profile  string `json:"profile"`
	Provider string `json:"provider"`
	GPU      bool   `json:"gpu,omitempty"`
}

// GitHub is the organization and repository the platform works on.
type GitHub struct {
	Org  string `json:"org"`
	Repo string `json:"repo"`
}

// ConfigComponent is one installed component.
type ConfigComponent struct {
	Name      string `json:"name"`
	Chart     string `json:"chart"`
	Version   string `json:"version"`
	Namespace string `json:"namespace"`
}

// ConfigDefaults are the platform's workflow defaults.
type ConfigDefaults struct {
	Play ConfigPlay `json:"play"`
}

// ConfigPlay names the repository the platform's workflows run on.
type ConfigPlay struct {
	Repository string `json:"repository"`
}

// NewConfig builds cto-config for the selected components. githubRepo is
// "org/repo" or empty.
func NewConfig(cluster, provider, githubRepo string, sel Selection, comps []Component) Config {
	org, repo, _ := strings.Cut(githubRepo, "/")
	c := Config{
		Version:  "1.0",
		Cluster:  ClusterInfo{Name: cluster, Profile: sel.Profile, Provider: provider, GPU: sel.GPU},
		GitHub:   GitHub{Org: org, Repo: repo},
		Defaults: ConfigDefaults{Play: ConfigPlay{Repository: githubRepo}},
		Agents:   map[string]any{},
	}
	for _, comp := range comps {
		c.Components = append(c.Components, ConfigComponent{Name: comp.Name, Chart: comp.Chart, Version: comp.Version, Namespace: comp.Namespace})
	}
	return c
}

// JSON is the file's content.
func (c Config) JSON() []byte {
	data, _ := json.MarshalIndent(c, "", "  ")
	return append(data, '\n')
}

// StoreConfig keeps cto-config.json in the cluster as the ConfigMap
// cto-config of namespace cto. An unchanged config is not rewritten.
func (in *Installer) StoreConfig(ctx context.Context, data []byte) error {
	cm := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": ConfigMapName, "namespace": PlatformNamespace, "labels": map[string]any{managedBy: fieldManager}},
		"data":     map[string]any{ConfigFile: string(data)},
	}}
	if err := in.apply(ctx, cm); err != nil {
		return fmt.Errorf("ConfigMap %s/%s: %w", PlatformNamespace, ConfigMapName, err)
	}
	return nil
}
