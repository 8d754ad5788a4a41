package cli

import (
	"github.com/cto-platform/cto/internal/state/statetest"

	"github.com/cto-platform/cto/internal/license"
	"github.com/cto-platform/cto/internal/license/licensetest"

	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"

	"github.com/cto-platform/cto/internal/provider/kind"
	"github.com/cto-platform/cto/internal/spec"
	"github.com/cto-platform/cto/internal/state"
)

// On this machine no container engine answers: `cto deploy` with no flags
// must say so in one line, exit non-zero and create nothing.
func TestDeployLocalWithoutEngine(t *testing.T) {
	if engine, err := kind.DetectEngine(context.Background()); err == nil {
		t.Skipf("%s answers on this machine; the fake-host tests cover the refusal", engine)
	}
	dir := t.TempDir()
	code, stdout, stderr := run(t, "deploy", "--state-dir", dir)
	if code == ExitOK {
		t.Fatalf("exit 0; stderr %q", stderr)
	}
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "ERROR: no container engine is running: ") ||
		!strings.Contains(lines[0], "Docker") || !strings.Contains(lines[0], "--provider latitude") {
		t.Errorf("stderr = %q, want one line naming the missing engine and the way out", stderr)
	}
	if stdout != "" {
		t.Errorf("stdout = %q", stdout)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("state dir holds %d entries, want none", len(entries))
	}
}

// fakeHost swaps the machine and kind's library for the test.
func fakeHost(t *testing.T, engineErr error, memGiB uint64, nodes kind.Nodes) {
	t.Helper()
	oldHost, oldNodes := localHost, localNodes
	t.Cleanup(func() { localHost, localNodes = oldHost, oldNodes })
	localHost = func() kind.Host {
		return kind.Host{
			Engine: func(context.Context) (string, error) {
				if engineErr != nil {
					return "", engineErr
				}
				return "docker", nil
			},
			MemTotal: func() (uint64, error) { return memGiB << 30, nil },
		}
	}
	localNodes = func(engine string) kind.Nodes { return nodes }
}

func TestDeployLocalRefusesBeforeCreatingAnything(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		mem     uint64
		args    []string
		message string
	}{
		{"no engine", fmt.Errorf("%w: install Docker", kind.ErrNoEngine), 64, nil, "no container engine is running: install Docker"},
		{"too little memory", nil, 4, nil, "this machine has 4.0 GiB of memory and a local cluster with --profile minimal needs 8 GiB"},
		{"too little for standard", nil, 12, []string{"--profile", "standard"}, "--profile standard needs 16 GiB"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fakeHost(t, tc.err, tc.mem, &nodesLog{})
			dir := t.TempDir()
			code, _, stderr := run(t, append([]string{"deploy", "--state-dir", dir}, tc.args...)...)
			if code == ExitOK || !strings.Contains(stderr, tc.message) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
				t.Errorf("exit %d, stderr %q; want one line with %q", code, stderr, tc.message)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("state dir holds %d entries, want none", len(entries))
			}
		})
	}
}

// A resumed deploy of a cluster at a provider never asks for a container
// engine, even though local is the default provider.
func TestDeployResumeOfProviderClusterSkipsLocalPreflight(t *testing.T) {
	fakeHost(t, fmt.Errorf("%w: install Docker", kind.ErrNoEngine), 64, &nodesLog{})
	dir := t.TempDir()
	writeJournal(t, dir, "edge", "vultr")
	t.Setenv("VULTR_API_KEY", "")
	t.Setenv("CTO_LICENSE", licensetest.Valid(t, "L-1", license.Business))
	code, _, stderr := run(t, "deploy", "--state-dir", dir, "--name", "edge")
	if strings.Contains(stderr, "container engine") || !strings.Contains(stderr, "VULTR_API_KEY is not set") {
		t.Errorf("exit %d, stderr %q: want the resumed vultr deploy to get as far as asking for its key", code, stderr)
	}
}

// nodesLog is a container engine in memory that records kind's calls.
type nodesLog struct {
	clusters []string
	calls    []string
}

func (n *nodesLog) Create(name string, cfg *v1alpha4.Cluster, path string) error {
	n.calls = append(n.calls, "create "+name)
	n.clusters = append(n.clusters, name)
	return nil
}

func (n *nodesLog) Delete(name, path string) error {
	n.calls = append(n.calls, "delete "+name)
	n.clusters = slices.DeleteFunc(n.clusters, func(c string) bool { return c == name })
	return nil
}

func (n *nodesLog) KubeConfig(name string) (string, error) {
	n.calls = append(n.calls, "kubeconfig "+name)
	return "current-context: kind-" + name + "\n", nil
}

func (n *nodesLog) List() ([]string, error) { return slices.Clone(n.clusters), nil }

func writeJournal(t *testing.T, dir, name, provider string) {
	t.Helper()
	_, j := statetest.New(t, dir, name)
	s := spec.Defaults()
	s.Name, s.Provider = name, provider
	raw, _ := json.Marshal(s)
	if err := j.Update(func(j *state.Journal) { j.Spec = raw; j.Provider = provider }); err != nil {
		t.Fatal(err)
	}
}

func TestDestroyLocalDeletesTheKindCluster(t *testing.T) {
	nodes := &nodesLog{clusters: []string{"cto-dev", "cto-other"}}
	fakeHost(t, nil, 64, nodes)
	dir := t.TempDir()
	writeJournal(t, dir, "dev", "local")

	code, _, stderr := run(t, "destroy", "--state-dir", dir, "--name", "dev", "--dry-run")
	if code != ExitOK || !strings.Contains(stderr, "Would delete local cluster cto-dev") || len(nodes.calls) != 0 {
		t.Fatalf("dry run: exit %d, stderr %q, calls %v", code, stderr, nodes.calls)
	}

	code, _, stderr = run(t, "destroy", "--state-dir", dir, "--name", "dev", "--yes")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !slices.Equal(nodes.calls, []string{"delete cto-dev"}) || !slices.Equal(nodes.clusters, []string{"cto-other"}) {
		t.Errorf("calls %v, clusters left %v", nodes.calls, nodes.clusters)
	}
	wantNoClusterFolder(t, dir, "dev", "after deleting the kind cluster")
	if !strings.Contains(stderr, "Deleted local cluster cto-dev") {
		t.Errorf("stderr = %q", stderr)
	}
}

func TestDestroyLocalWithoutEngineKeepsTheState(t *testing.T) {
	fakeHost(t, fmt.Errorf("%w: start Docker", kind.ErrNoEngine), 64, &nodesLog{})
	dir := t.TempDir()
	writeJournal(t, dir, "dev", "local")
	code, _, stderr := run(t, "destroy", "--state-dir", dir, "--name", "dev", "--yes")
	if code == ExitOK || !strings.Contains(stderr, "cannot delete local cluster cto-dev: no container engine is running") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
	if _, err := os.Stat(journalPath(dir, "dev")); err != nil {
		t.Errorf("the journal of a cluster that could not be deleted is gone: %v", err)
	}
}
