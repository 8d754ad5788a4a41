// Package kind makes the clusters of provider local: Kubernetes in
// containers through sigs.k8s.io/kind, on whichever container engine runs
// here (Docker, Podman or nerdctl). No servers, no Talos.
package kind

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/kind/pkg/cluster"
	"sigs.k8s.io/yaml"

	"github.com/cto-platform/cto/internal/kubeconfig"
)

// Nodes is the part of kind's library cto uses. Library implements it over
// sigs.k8s.io/kind; tests give a recorder.
type Nodes interface {
	// Create makes a cluster from cfg. kind records the cluster's context
	// in the kubeconfig at kubeconfigPath.
	Create(name string, cfg *v1alpha4.Cluster, kubeconfigPath string) error
	// Delete removes a cluster's containers and its context from the
	// kubeconfig at kubeconfigPath.
	Delete(name, kubeconfigPath string) error
	// KubeConfig returns the admin kubeconfig for use from this host.
	KubeConfig(name string) (string, error)
	// List names every kind cluster on the engine.
	List() ([]string, error)
}

// HostPorts are mapped from the control-plane node to this machine, as the
// earlier installer did: HTTP and HTTPS ingress, Argo CD, Argo Workflows.
var HostPorts = []int32{80, 443, 8080, 2746}

// NodeLabel marks the node the platform schedules its ingress on.
const NodeLabel = "cto-platform"

// waitForReady bounds how long Create waits for the nodes to be Ready.
const waitForReady = 5 * time.Minute

// ClusterName is the kind cluster of a cto cluster.
func ClusterName(name string) string { return "cto-" + name }

// Config is the kind configuration of a cluster of n nodes: one control
// plane carrying the host ports and the platform label, the rest workers.
func Config(name string, n int) *v1alpha4.Cluster {
	cp := v1alpha4.Node{
		Role:   v1alpha4.ControlPlaneRole,
		Labels: map[string]string{NodeLabel: "true"},
	}
	for _, p := range HostPorts {
		cp.ExtraPortMappings = append(cp.ExtraPortMappings, v1alpha4.PortMapping{ContainerPort: p, HostPort: p, Protocol: v1alpha4.PortMappingProtocolTCP})
	}
	cfg := &v1alpha4.Cluster{
		TypeMeta: v1alpha4.TypeMeta{Kind: "Cluster", APIVersion: "kind.x-k8s.io/v1alpha4"},
		Name:     ClusterName(name),
		Nodes:    []v1alpha4.Node{cp},
	}
	for i := 1; i < n; i++ {
		cfg.Nodes = append(cfg.Nodes, v1alpha4.Node{Role: v1alpha4.WorkerRole})
	}
	return cfg
}

// Clusters creates and deletes cto's local clusters.
type Clusters struct {
	Nodes Nodes
}

// Create makes cluster name with n nodes unless it exists already (a rerun
// after an interruption), and returns its admin kubeconfig with the context
// named cto-<name>. kind is never let near the user's kubeconfig: its
// bookkeeping goes to a throwaway file.
func (c Clusters) Create(ctx context.Context, name string, n int) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if n < 1 {
		n = 1
	}
	kindName := ClusterName(name)
	existing, err := c.Nodes.List()
	if err != nil {
		return nil, fmt.Errorf("list kind clusters: %w", err)
	}
	if !slices.Contains(existing, kindName) {
		err := withScratchKubeconfig(func(path string) error {
			return c.Nodes.Create(kindName, Config(name, n), path)
		})
		if err != nil {
			return nil, fmt.Errorf("create kind cluster %s: %w", kindName, err)
		}
	}
	raw, err := c.Nodes.KubeConfig(kindName)
	if err != nil {
		return nil, fmt.Errorf("read the kubeconfig of kind cluster %s: %w", kindName, err)
	}
	return renameContext([]byte(raw), "kind-"+kindName, kubeconfig.ContextName(name))
}

// Delete removes cluster name's containers. It reports whether there was
// anything to delete; a cluster already gone is not an error.
func (c Clusters) Delete(ctx context.Context, name string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	kindName := ClusterName(name)
	existing, err := c.Nodes.List()
	if err != nil {
		return false, fmt.Errorf("list kind clusters: %w", err)
	}
	if !slices.Contains(existing, kindName) {
		return false, nil
	}
	err = withScratchKubeconfig(func(path string) error { return c.Nodes.Delete(kindName, path) })
	if err != nil {
		return true, fmt.Errorf("delete kind cluster %s: %w", kindName, err)
	}
	return true, nil
}

func withScratchKubeconfig(fn func(path string) error) error {
	dir, err := os.MkdirTemp("", "cto-kind-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	return fn(filepath.Join(dir, "kubeconfig"))
}

// renameContext renames kind's cluster, user and context entries (all
// named kind-<cluster>) to name, and makes it the current context.
func renameContext(kubeconfig []byte, from, to string) ([]byte, error) {
	var doc map[string]any
	if err := yaml.Unmarshal(kubeconfig, &doc); err != nil {
		return nil, fmt.Errorf("kind returned an unreadable kubeconfig: %w", err)
	}
	rename := func(m map[string]any, key string) {
		if v, ok := m[key].(string); ok && v == from {
			m[key] = to
		}
	}
	for _, list := range []string{"clusters", "users", "contexts"} {
		items, _ := doc[list].([]any)
		for _, it := range items {
			m, ok := it.(map[string]any)
			if !ok {
				continue
			}
			rename(m, "name")
			if ctx, ok := m["context"].(map[string]any); ok {
				rename(ctx, "cluster")
				rename(ctx, "user")
			}
		}
	}
	doc["current-context"] = to
	return yaml.Marshal(doc)
}

// Library is Nodes over kind's library on engine ("docker", "podman" or
// "nerdctl"; "" lets kind detect one).
func Library(engine string) Nodes {
	var opt cluster.ProviderOption
	switch engine {
	case "docker":
		opt = cluster.ProviderWithDocker()
	case "podman":
		opt = cluster.ProviderWithPodman()
	case "nerdctl":
		opt = cluster.ProviderWithNerdctl("")
	}
	return library{p: cluster.NewProvider(opt)}
}

type library struct{ p *cluster.Provider }

func (l library) Create(name string, cfg *v1alpha4.Cluster, kubeconfigPath string) error {
	return l.p.Create(name,
		cluster.CreateWithV1Alpha4Config(cfg),
		cluster.CreateWithWaitForReady(waitForReady),
		cluster.CreateWithKubeconfigPath(kubeconfigPath),
		cluster.CreateWithDisplayUsage(false),
		cluster.CreateWithDisplaySalutation(false),
	)
}

func (l library) Delete(name, kubeconfigPath string) error { return l.p.Delete(name, kubeconfigPath) }

func (l library) KubeConfig(name string) (string, error) { return l.p.KubeConfig(name, false) }

func (l library) List() ([]string, error) { return l.p.List() }
