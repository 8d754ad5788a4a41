package kind_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/yaml"

	"github.com/cto-platform/cto/internal/provider/kind"
)

// recorder is a container engine in memory: it keeps clusters, records
// every call, and writes kind's context into the kubeconfig it is given,
// as kind does.
type recorder struct {
	mu       sync.Mutex
	clusters map[string]*v1alpha4.Cluster
	calls    []string
	paths    []string
	failNext error
}

func newRecorder() *recorder { return &recorder{clusters: map[string]*v1alpha4.Cluster{}} }

func (r *recorder) Create(name string, cfg *v1alpha4.Cluster, kubeconfigPath string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, "create "+name)
	r.paths = append(r.paths, kubeconfigPath)
	if err := r.failNext; err != nil {
		r.failNext = nil
		return err
	}
	if _, ok := r.clusters[name]; ok {
		return fmt.Errorf("node(s) already exist for a cluster with the name %q", name)
	}
	r.clusters[name] = cfg
	return os.WriteFile(kubeconfigPath, []byte("contexts: [{name: kind-"+name+"}]\n"), 0o600)
}

func (r *recorder) Delete(name, kubeconfigPath string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, "delete "+name)
	r.paths = append(r.paths, kubeconfigPath)
	delete(r.clusters, name)
	return nil
}

func (r *recorder) KubeConfig(name string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, "kubeconfig "+name)
	if _, ok := r.clusters[name]; !ok {
		return "", fmt.Errorf("could not locate any control plane nodes for cluster named %q", name)
	}
	return fmt.Sprintf(`apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: Q0E=
    server: https://127.0.0.1:40123
  name: kind-%[1]s
contexts:
- context:
    cluster: kind-%[1]s
    user: kind-%[1]s
  name: kind-%[1]s
current-context: kind-%[1]s
kind: Config
preferences: {}
users:
- name: kind-%[1]s
  user:
    client-certificate-data: Q0VSVA==
    client-key-data: S0VZ
`, name), nil
}

func (r *recorder) List() ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, "list")
	var out []string
	for n := range r.clusters {
		out = append(out, n)
	}
	slices.Sort(out)
	return out, nil
}

func (r *recorder) log() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.calls, ", ")
}

func TestCreateMakesTheClusterAndRenamesTheContext(t *testing.T) {
	rec := newRecorder()
	c := kind.Clusters{Nodes: rec}
	kc, err := c.Create(context.Background(), "dev", 3)
	if err != nil {
		t.Fatal(err)
	}
	if got := rec.log(); got != "list, create cto-dev, kubeconfig cto-dev" {
		t.Errorf("calls = %s", got)
	}
	cfg := rec.clusters["cto-dev"]
	if cfg == nil || len(cfg.Nodes) != 3 {
		t.Fatalf("cluster config = %+v, want 3 nodes", cfg)
	}
	cp := cfg.Nodes[0]
	if cp.Role != v1alpha4.ControlPlaneRole || cp.Labels["cto-platform"] != "true" {
		t.Errorf("first node = %+v, want the labelled control plane", cp)
	}
	var ports []int32
	for _, m := range cp.ExtraPortMappings {
		if m.ContainerPort != m.HostPort {
			t.Errorf("port mapping %+v maps to another host port", m)
		}
		ports = append(ports, m.HostPort)
	}
	if !slices.Equal(ports, []int32{80, 443, 8080, 2746}) {
		t.Errorf("host ports = %v", ports)
	}
	for _, w := range cfg.Nodes[1:] {
		if w.Role != v1alpha4.WorkerRole || len(w.ExtraPortMappings) != 0 {
			t.Errorf("extra node = %+v, want a plain worker", w)
		}
	}
	// kind's own bookkeeping went to a scratch file, gone now: never the
	// user's kubeconfig.
	home, _ := os.UserHomeDir()
	if p := rec.paths[0]; p == "" || strings.HasPrefix(p, home+"/.kube") {
		t.Errorf("kind was given kubeconfig path %q", p)
	}
	if _, err := os.Stat(rec.paths[0]); !os.IsNotExist(err) {
		t.Errorf("scratch kubeconfig %s left behind (%v)", rec.paths[0], err)
	}

	var doc struct {
		Current  string `json:"current-context"`
		Contexts []struct {
			Name    string `json:"name"`
			Context struct{ Cluster, User string }
		} `json:"contexts"`
		Clusters []struct {
			Name    string `json:"name"`
			Cluster struct {
				Server string `json:"server"`
			} `json:"cluster"`
		} `json:"clusters"`
		Users []struct {
			Name string `json:"name"`
			User struct {
				Key string `json:"client-key-data"`
			} `json:"user"`
		} `json:"users"`
	}
	if err := yaml.Unmarshal(kc, &doc); err != nil {
		t.Fatalf("kubeconfig: %v\n%s", err, kc)
	}
	if doc.Current != "cto-dev" || len(doc.Contexts) != 1 || doc.Contexts[0].Name != "cto-dev" ||
		doc.Contexts[0].Context.Cluster != "cto-dev" || doc.Contexts[0].Context.User != "cto-dev" {
		t.Errorf("contexts: current %q, %+v", doc.Current, doc.Contexts)
	}
	if len(doc.Clusters) != 1 || doc.Clusters[0].Name != "cto-dev" || doc.Clusters[0].Cluster.Server != "https://127.0.0.1:40123" {
		t.Errorf("clusters = %+v", doc.Clusters)
	}
	if len(doc.Users) != 1 || doc.Users[0].Name != "cto-dev" || doc.Users[0].User.Key != "S0VZ" {
		t.Errorf("users = %+v", doc.Users)
	}
}

func TestCreateAgainAdoptsTheCluster(t *testing.T) {
	rec := newRecorder()
	c := kind.Clusters{Nodes: rec}
	if _, err := c.Create(context.Background(), "dev", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(context.Background(), "dev", 1); err != nil {
		t.Fatalf("second Create: %v", err)
	}
	if n := strings.Count(rec.log(), "create "); n != 1 {
		t.Errorf("kind create called %d times over two runs: %s", n, rec.log())
	}
}

func TestCreateFailureSaysWhich(t *testing.T) {
	rec := newRecorder()
	rec.failNext = errors.New("failed to pull image")
	_, err := kind.Clusters{Nodes: rec}.Create(context.Background(), "dev", 1)
	if err == nil || !strings.Contains(err.Error(), "create kind cluster cto-dev: failed to pull image") {
		t.Errorf("Create = %v", err)
	}
}

func TestDeleteRemovesOnlyOurCluster(t *testing.T) {
	rec := newRecorder()
	c := kind.Clusters{Nodes: rec}
	for _, n := range []string{"dev", "other"} {
		if _, err := c.Create(context.Background(), n, 1); err != nil {
			t.Fatal(err)
		}
	}
	existed, err := c.Delete(context.Background(), "dev")
	if err != nil || !existed {
		t.Fatalf("Delete = %v, %v", existed, err)
	}
	left, _ := rec.List()
	if !slices.Equal(left, []string{"cto-other"}) {
		t.Errorf("clusters left = %v", left)
	}
	existed, err = c.Delete(context.Background(), "dev")
	if err != nil || existed {
		t.Errorf("Delete of a deleted cluster = %v, %v; want nothing to do", existed, err)
	}
	if n := strings.Count(rec.log(), "delete "); n != 1 {
		t.Errorf("kind delete called %d times, want once (the second Delete finds nothing): %s", n, rec.log())
	}
}

func TestPreflight(t *testing.T) {
	running := func(context.Context) (string, error) { return "podman", nil }
	gib := func(n float64) func() (uint64, error) {
		return func() (uint64, error) { return uint64(n * (1 << 30)), nil }
	}
	tests := []struct {
		name    string
		host    kind.Host
		profile string
		want    error
		engine  string
	}{
		{"no engine", kind.Host{Engine: func(context.Context) (string, error) {
			return "", fmt.Errorf("%w: install one", kind.ErrNoEngine)
		}, MemTotal: gib(64)}, "minimal", kind.ErrNoEngine, ""},
		{"8 GB machine, minimal", kind.Host{Engine: running, MemTotal: gib(7.6)}, "minimal", nil, "podman"},
		{"4 GiB, minimal", kind.Host{Engine: running, MemTotal: gib(4)}, "minimal", kind.ErrLowMemory, ""},
		{"16 GiB, standard", kind.Host{Engine: running, MemTotal: gib(16)}, "standard", nil, "podman"},
		{"16 GiB, production", kind.Host{Engine: running, MemTotal: gib(16)}, "production", kind.ErrLowMemory, ""},
		{"memory unknown", kind.Host{Engine: running, MemTotal: func() (uint64, error) { return 0, errors.New("no /proc") }}, "production", nil, "podman"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			engine, err := kind.Preflight(context.Background(), tc.host, tc.profile)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("Preflight = %v, want %v", err, tc.want)
			}
			if engine != tc.engine {
				t.Errorf("engine = %q, want %q", engine, tc.engine)
			}
			if err != nil && strings.Contains(err.Error(), "\n") {
				t.Errorf("the message takes more than one line: %q", err)
			}
		})
	}
}
