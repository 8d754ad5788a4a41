package platform

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"
)

// cto-config.json carries what the platform reads, filled from the
// deploy: the play and remediation run on the user's repository, every
// agent the platform knows has its GitHub App, CLI, model and tools, and
// the cluster's facts (profile, the profile's storage class, namespaces);
// a rerun, whatever the components' order, writes the same bytes.
func TestConfigFilledFromTheDeploy(t *testing.T) {
	sel := Selection{Profile: "production", Talos: true, GPU: true}
	comps, err := SelectComponents(sel)
	if err != nil {
		t.Fatal(err)
	}
	data := NewConfig("lab", "latitude", "acme/widgets", sel, comps).JSON()
	reversed := slices.Clone(comps)
	slices.Reverse(reversed)
	if again := NewConfig("lab", "latitude", "acme/widgets", sel, reversed).JSON(); !bytes.Equal(data, again) {
		t.Fatalf("a rerun wrote different bytes:\n%s\n%s", data, again)
	}

	var doc struct {
		Version  string `json:"version"`
		Defaults map[string]map[string]any
		Agents   map[string]struct {
			GitHubApp string `json:"githubApp"`
			CLI       string `json:"cli"`
			Model     string `json:"model"`
			Tools     struct {
				Remote       []string       `json:"remote"`
				LocalServers map[string]any `json:"localServers"`
			} `json:"tools"`
		}
		Cluster map[string]any `json:"cluster"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Version != "1.0" {
		t.Errorf("version %q", doc.Version)
	}
	play := doc.Defaults["play"]
	for k, want := range map[string]any{"repository": "acme/widgets", "service": "widgets", "docsRepository": "acme/widgets", "docsProjectDirectory": "docs",
		"workingDirectory": ".", "implementationAgent": "5DLabs-Rex", "qualityAgent": "5DLabs-Cleo", "testingAgent": "5DLabs-Tess", "cli": "claude"} {
		if play[k] != want {
			t.Errorf("defaults.play.%s = %v, want %v", k, play[k], want)
		}
	}
	if doc.Defaults["remediation"]["repository"] != "acme/widgets" {
		t.Errorf("defaults.remediation = %v", doc.Defaults["remediation"])
	}
	intake := doc.Defaults["intake"]
	if intake["githubApp"] != "5DLabs-Morgan" || intake["sourceBranch"] != "main" || intake["primary"].(map[string]any)["model"] == "" {
		t.Errorf("defaults.intake = %v", intake)
	}
	if doc.Defaults["monitor"]["agent"] == nil {
		t.Errorf("defaults.monitor = %v", doc.Defaults["monitor"])
	}
	for _, name := range []string{"morgan", "rex", "cleo", "tess", "blaze", "cipher", "grizz", "nova", "tap", "spark", "bolt", "atlas"} {
		a, ok := doc.Agents[name]
		if !ok || a.GitHubApp == "" || a.CLI == "" || a.Model == "" || len(a.Tools.Remote) == 0 || a.Tools.LocalServers == nil {
			t.Errorf("agent %s = %+v", name, a)
		}
	}
	if !slices.Contains(doc.Agents["rex"].Tools.Remote, "github_create_pull_request") || slices.Contains(doc.Agents["cleo"].Tools.Remote, "github_push_files") {
		t.Errorf("rex writes and cleo reviews: %v / %v", doc.Agents["rex"].Tools.Remote, doc.Agents["cleo"].Tools.Remote)
	}
	if doc.Cluster["storageClass"] != "longhorn" || doc.Cluster["namespace"] != "cto" || doc.Cluster["workflowNamespace"] != "automation" || doc.Cluster["gpu"] != true {
		t.Errorf("cluster = %v", doc.Cluster)
	}
	minimal, _ := SelectComponents(Selection{Profile: "minimal"})
	if sc := NewConfig("lab", "existing", "", Selection{Profile: "minimal"}, minimal).Cluster.StorageClass; sc != "local-path" {
		t.Errorf("minimal storage class %q", sc)
	}
}
