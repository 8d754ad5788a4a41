package deploy

import (
	"context"
	"os"
	"slices"
	"testing"

	"github.com/cto-platform/cto/internal/state/statetest"

	"github.com/cto-platform/cto/internal/events"
	"github.com/cto-platform/cto/internal/pipeline"
	"github.com/cto-platform/cto/internal/spec"
	"github.com/cto-platform/cto/internal/state"
)

type fakeLocal struct {
	calls []string
	nodes []int
}

func (f *fakeLocal) Create(ctx context.Context, name string, nodes int) ([]byte, error) {
	f.calls = append(f.calls, name)
	f.nodes = append(f.nodes, nodes)
	return []byte("current-context: cto-" + name + "\n"), nil
}

func localRun(t *testing.T, provider string, lc pipeline.LocalCluster) (*pipeline.Run, *events.Recorder) {
	t.Helper()
	c, j := statetest.New(t, t.TempDir(), "dev")
	s := spec.Defaults()
	s.Name, s.Provider, s.Nodes = "dev", provider, 2
	rec := &events.Recorder{}
	return &pipeline.Run{Cluster: c, Journal: j, Events: rec, Deps: &pipeline.Deps{Spec: s, LocalCluster: lc}}, rec
}

func TestLocalClusterStepCreatesOnceAndSavesTheKubeconfig(t *testing.T) {
	lc := &fakeLocal{}
	r, _ := localRun(t, "local", lc)
	engine := &pipeline.Engine{Steps: []pipeline.Step{kubernetesStep{}}}
	if err := engine.Execute(context.Background(), r, pipeline.Options{}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(lc.calls, []string{"dev"}) || !slices.Equal(lc.nodes, []int{2}) {
		t.Fatalf("Create calls = %v with nodes %v", lc.calls, lc.nodes)
	}
	path := r.Cluster.Path("kubeconfig")
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("kubeconfig mode = %v, want 0600", info.Mode().Perm())
	}
	if data, _ := os.ReadFile(path); string(data) != "current-context: cto-dev\n" {
		t.Errorf("kubeconfig = %q", data)
	}
	if rec, ok := r.Journal.Step(StepKubernetes); !ok || rec.Status != state.StepDone {
		t.Errorf("journal step %s = %+v", StepKubernetes, rec)
	}
	if r.Journal.FactsCopy().LocalCluster != "cto-dev" || r.Journal.FactsCopy().LocalCNI != "kindnet" {
		t.Errorf("facts = %v", r.Journal.Facts)
	}

	// A rerun finds the step done and creates nothing.
	if err := engine.Execute(context.Background(), r, pipeline.Options{}); err != nil {
		t.Fatal(err)
	}
	if len(lc.calls) != 1 {
		t.Errorf("a rerun called Create again: %v", lc.calls)
	}
}
