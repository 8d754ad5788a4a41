package platform

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// ConfigFile is the name of the platform's configuration.
const ConfigFile = "cto-config.json"

// Config is cto-config.json: what the platform reads (its defaults for
// intake, play, remediation and monitor, and its agents, in the shape of
// the platform's own cto-config.json) filled from the deploy, and the
// cluster it runs on. Only inputs go in (no timestamps, maps marshal
// sorted), so a rerun writes the same bytes.
type Config struct {
	Version    string                 `json:"version"`
	Cluster    ClusterInfo            `json:"cluster"`
	GitHub     GitHub                 `json:"github"`
	Components []ConfigComponent      `json:"components"`
	Defaults   ConfigDefaults         `json:"defaults"`
	Agents     map[string]ConfigAgent `json:"agents"`
}

// ClusterInfo describes the cluster.
type ClusterInfo struct {
	Name     string `json:"name"`
	Profile  string `json:"profile"`
	Provider string `json:"provider"`
	GPU      bool   `json:"gpu,omitempty"`
	// StorageClass is the profile's one storage class: every volume the
	// platform's workloads claim should use it.
	StorageClass string `json:"storageClass,omitempty"`
	// Namespace is where the platform runs; WorkflowNamespace where Argo
	// Workflows and Events run.
	Namespace         string `json:"namespace"`
	WorkflowNamespace string `json:"workflowNamespace,omitempty"`
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
	Intake      ConfigIntake      `json:"intake"`
	Play        ConfigPlay        `json:"play"`
	Remediation ConfigRemediation `json:"remediation"`
	Monitor     ConfigMonitor     `json:"monitor"`
}

// ConfigModel is a model and its provider.
type ConfigModel struct {
	Model    string `json:"model"`
	Provider string `json:"provider"`
}

// ConfigIntake is how a PRD becomes tasks.
type ConfigIntake struct {
	GitHubApp       string      `json:"githubApp"`
	Mode            string      `json:"mode"`
	CLI             string      `json:"cli"`
	IncludeCodebase bool        `json:"includeCodebase"`
	SourceBranch    string      `json:"sourceBranch"`
	Primary         ConfigModel `json:"primary"`
	Research        ConfigModel `json:"research"`
	Fallback        ConfigModel `json:"fallback"`
}

// ConfigPlay is the repository the platform's workflows run on and the
// agents that implement, review and test.
type ConfigPlay struct {
	Model                string `json:"model"`
	CLI                  string `json:"cli"`
	ImplementationAgent  string `json:"implementationAgent"`
	FrontendAgent        string `json:"frontendAgent"`
	QualityAgent         string `json:"qualityAgent"`
	SecurityAgent        string `json:"securityAgent"`
	TestingAgent         string `json:"testingAgent"`
	Repository           string `json:"repository"`
	Service              string `json:"service"`
	DocsRepository       string `json:"docsRepository"`
	DocsProjectDirectory string `json:"docsProjectDirectory"`
	WorkingDirectory     string `json:"workingDirectory"`
}

// ConfigRemediation is how failures found in the repository are fixed.
type ConfigRemediation struct {
	Repository           string `json:"repository"`
	DocsRepository       string `json:"docsRepository"`
	DocsProjectDirectory string `json:"docsProjectDirectory"`
	Agent                string `json:"agent"`
	CLI                  string `json:"cli"`
	Model                string `json:"model"`
	MaxIterations        int    `json:"maxIterations"`
	Template             string `json:"template"`
	SyncTimeoutSecs      int    `json:"syncTimeoutSecs"`
}

// ConfigMonitor is the agent that watches runs.
type ConfigMonitor struct {
	Agent         string `json:"agent"`
	CLI           string `json:"cli"`
	Model         string `json:"model"`
	Template      string `json:"template"`
	MaxIterations int    `json:"maxIterations"`
}

// ConfigAgent is one agent: its GitHub App, CLI, model and tools.
type ConfigAgent struct {
	GitHubApp string      `json:"githubApp"`
	CLI       string      `json:"cli"`
	Model     string      `json:"model"`
	Tools     ConfigTools `json:"tools"`
}

// ConfigTools are an agent's remote (tools server) and local MCP tools.
type ConfigTools struct {
	Remote       []string       `json:"remote"`
	LocalServers map[string]any `json:"localServers"`
}

// The platform's defaults (its own cto-config.json): the CLI and model
// agents run with, and each agent's GitHub App.
const (
	defaultCLI    = "claude"
	defaultModel  = "claude-opus-4-5-20251101"
	modelProvider = "anthropic"
	watchTmpl     = "watch/factory"
)

// Tool groups of the platform's tools server, by what an agent does.
var (
	researchTools = []string{"context7_resolve_library_id", "context7_get_library_docs", "firecrawl_scrape", "firecrawl_crawl", "firecrawl_map", "firecrawl_search"}
	memoryTools   = []string{"openmemory_openmemory_query", "openmemory_openmemory_store", "openmemory_openmemory_list", "openmemory_openmemory_get", "openmemory_openmemory_reinforce"}
	writeTools    = []string{"github_create_pull_request", "github_push_files", "github_create_branch", "github_get_file_contents"}
	reviewTools   = []string{"github_get_pull_request", "github_get_pull_request_files", "github_get_pull_request_comments", "github_add_pull_request_review_comment", "github_create_pull_request_review", "github_get_file_contents"}
	kubeReadTools = []string{"kubernetes_listResources", "kubernetes_getResource", "kubernetes_describeResource", "kubernetes_getPodsLogs"}
)

// agentSpecs are the platform's agents: GitHub App and the tools beyond
// research and memory.
var agentSpecs = map[string]struct {
	app   string
	tools [][]string
}{
	"morgan": {"5DLabs-Morgan", [][]string{{"repomix_pack_codebase", "repomix_pack_remote_repository", "repomix_grep_repomix_output", "repomix_read_repomix_output"}}},
	"rex":    {"5DLabs-Rex", [][]string{writeTools}},
	"cleo":   {"5DLabs-Cleo", [][]string{reviewTools}},
	"tess":   {"5DLabs-Tess", [][]string{{"github_get_pull_request", "github_get_pull_request_files", "github_create_pull_request_review", "github_get_pull_request_status"}, kubeReadTools}},
	"blaze": {"5DLabs-Blaze", [][]string{{"shadcn_list_components", "shadcn_get_component", "shadcn_get_component_demo", "shadcn_get_component_metadata", "shadcn_list_blocks", "shadcn_get_block",
		"shadcn_get_directory_structure", "ai_elements_get_ai_elements_components", "ai_elements_get_ai_elements_component"}, writeTools}},
	"cipher": {"5DLabs-Cipher", [][]string{{"github_list_code_scanning_alerts", "github_get_code_scanning_alert", "github_list_secret_scanning_alerts", "github_get_secret_scanning_alert", "github_get_pull_request", "github_create_pull_request_review"}}},
	"grizz":  {"5DLabs-Grizz", [][]string{writeTools}},
	"nova":   {"5DLabs-Nova", [][]string{writeTools}},
	"tap":    {"5DLabs-Tap", [][]string{writeTools}},
	"spark":  {"5DLabs-Spark", [][]string{writeTools}},
	"bolt":   {"5DLabs-Bolt", [][]string{kubeReadTools[:3], {"kubernetes_createResource", "kubernetes_updateResource", "kubernetes_deleteResource"}, kubeReadTools[3:], writeTools}},
	"atlas": {"5DLabs-Atlas", [][]string{{"github_get_pull_request", "github_get_pull_request_files", "github_merge_pull_request", "github_update_pull_request_branch",
		"github_get_pull_request_status", "github_create_pull_request_review", "github_get_file_contents"}}},
}

// NewConfig builds cto-config for the selected components. githubRepo is
// "org/repo" or empty (then the platform has no repository to work on
// until one is set).
func NewConfig(cluster, provider, githubRepo string, sel Selection, comps []Component) Config {
	org, repo, _ := strings.Cut(githubRepo, "/")
	c := Config{
		Version: "1.0",
		Cluster: ClusterInfo{Name: cluster, Profile: sel.Profile, Provider: provider, GPU: sel.GPU, Namespace: PlatformNamespace},
		GitHub:  GitHub{Org: org, Repo: repo},
		Agents:  map[string]ConfigAgent{},
	}
	for _, comp := range comps {
		c.Components = append(c.Components, ConfigComponent{Name: comp.Name, Chart: comp.Chart, Version: comp.Version, Namespace: comp.Namespace})
		switch comp.Name {
		case "cto":
			if g, ok := comp.Values["global"].(map[string]any); ok {
				c.Cluster.StorageClass, _ = g["storageClass"].(string)
			}
		case "argo-workflows":
			c.Cluster.WorkflowNamespace = comp.Namespace
		}
	}
	sort.Slice(c.Components, func(i, j int) bool { return c.Components[i].Name < c.Components[j].Name })
	c.Defaults = defaults(githubRepo, repo)
	for name, a := range agentSpecs {
		tools := slices.Concat(researchTools, memoryTools)
		if name == "atlas" { // reviews and merges: no web research
			tools = slices.Clone(memoryTools)
			tools = append([]string{researchTools[0], researchTools[1]}, tools...)
		}
		for _, g := range a.tools {
			tools = append(tools, g...)
		}
		c.Agents[name] = ConfigAgent{GitHubApp: a.app, CLI: defaultCLI, Model: defaultModel, Tools: ConfigTools{Remote: tools, LocalServers: map[string]any{}}}
	}
	return c
}

// defaults fills the platform's workflow defaults with the deploy's
// repository: the play runs on it (its service named after it, its docs
// in docs/), remediation fixes it.
func defaults(githubRepo, repo string) ConfigDefaults {
	m := ConfigModel{Model: defaultModel, Provider: modelProvider}
	return ConfigDefaults{
		Intake: ConfigIntake{GitHubApp: agentSpecs["morgan"].app, Mode: "cli", CLI: defaultCLI, SourceBranch: "main", Primary: m, Research: m, Fallback: m},
		Play: ConfigPlay{Model: defaultModel, CLI: defaultCLI,
			ImplementationAgent: agentSpecs["rex"].app, FrontendAgent: agentSpecs["blaze"].app, QualityAgent: agentSpecs["cleo"].app,
			SecurityAgent: agentSpecs["cipher"].app, TestingAgent: agentSpecs["tess"].app,
			Repository: githubRepo, Service: repo, DocsRepository: githubRepo, DocsProjectDirectory: "docs", WorkingDirectory: "."},
		Remediation: ConfigRemediation{Repository: githubRepo, DocsRepository: githubRepo, DocsProjectDirectory: "docs",
			Agent: agentSpecs["rex"].app, CLI: defaultCLI, Model: defaultModel, MaxIterations: 3, Template: watchTmpl, SyncTimeoutSecs: 300},
		Monitor: ConfigMonitor{Agent: agentSpecs["rex"].app, CLI: defaultCLI, Model: defaultModel, Template: watchTmpl, MaxIterations: 3},
	}
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
