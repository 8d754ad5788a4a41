package day2

import (
	"context"
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/cto-platform/cto/internal/platform"
	"github.com/cto-platform/cto/test/sim"
	"github.com/cto-platform/cto/test/simworld"
)

// TestDayTwo lives a cluster's day 2 on the simulated datacenter, one
// command after the other: 3 control planes and 2 workers, scaled to 5
// workers, Talos upgraded, Kubernetes upgraded, the platform upgraded,
// scaled down to 1 worker, a control plane replaced. Through all of it,
// from the doubles' side, etcd never loses quorum and a Deployment whose
// PodDisruptionBudget keeps 2 of 3 replicas never has fewer available.
func TestDayTwo(t *testing.T) {
	const name = "life"
	w := simworld.New(t, sim.Options{TalosVersions: []string{oldTalos, newTalos}})
	w.MustRun(simworld.DeployArgs(name, "minimal", 5, "--control-planes", "3", "--talos-version", oldTalos, "--kubernetes-version", oldKubernetes)...)
	kube := w.Kube(name)
	dumpOnFailure(t, kube)
	b := workload(t, kube, 3, 2)
	check := func(after string) {
		t.Helper()
		if losses := w.Sim.Etcd().QuorumLosses(); len(losses) > 0 {
			t.Fatalf("after %s: etcd lost quorum: %v", after, losses)
		}
		if fewest, events := b.Fewest(); fewest < 2 {
			t.Fatalf("after %s: the workload fell to %d available replicas (budget: 2; %d pod events)", after, fewest, events)
		}
	}
	took := func(args ...string) {
		t.Helper()
		start := time.Now()
		w.MustRun(args...)
		t.Logf("%s: %s", args[0]+" "+args[3], time.Since(start).Round(100*time.Millisecond))
	}

	took("scale", "--name", name, "--workers", "5", "--yes")
	if n := len(w.ReadyNodes(name, 8)); n != 8 {
		t.Fatalf("%d Ready nodes after scaling to 5 workers, want 8", n)
	}
	check("scale to 5 workers")

	took("upgrade", "--name", name, "--talos-version", newTalos, "--yes")
	for _, n := range w.Journal(name).NodesCopy() {
		if v := w.Sim.Node(n.Name).RunningVersion(); v != newTalos {
			t.Errorf("%s runs Talos %s after the upgrade, want %s", n.Name, v, newTalos)
		}
	}
	check("the Talos upgrade")

	took("upgrade", "--name", name, "--kubernetes-version", newKubernetes, "--yes")
	for _, n := range w.Journal(name).NodesCopy() {
		if v := w.Sim.Node(n.Name).KubeletVersion(); v != newKubernetes {
			t.Errorf("%s's kubelet runs %s after the upgrade, want %s", n.Name, v, newKubernetes)
		}
	}
	check("the Kubernetes upgrade")

	// The platform as an older cto left it: one Application behind.
	apps := dynamic.NewForConfigOrDie(w.KubeConfig(name)).Resource(platform.ApplicationGVR).Namespace(platform.ArgoNamespace)
	ctx := context.Background()
	app, err := apps.Get(ctx, "argo-workflows", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want, _, _ := unstructured.NestedString(app.Object, "spec", "source", "targetRevision")
	if _, err := apps.Patch(ctx, "argo-workflows", types.MergePatchType, []byte(`{"spec":{"source":{"targetRevision":"0.40.0"}}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	took("upgrade", "--name", name, "--platform", "--yes")
	if app, err = apps.Get(ctx, "argo-workflows", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := unstructured.NestedString(app.Object, "spec", "source", "targetRevision"); got != want {
		t.Errorf("argo-workflows targets %s after the platform upgrade, want %s", got, want)
	}
	check("the platform upgrade")

	took("scale", "--name", name, "--workers", "1", "--yes")
	if n := len(w.ReadyNodes(name, 4)); n != 4 {
		t.Errorf("%d Ready nodes after scaling down to 1 worker, want 4", n)
	}
	check("scale down to 1 worker")

	took("replace", "--name", name, "--node", name+"-cp2", "--yes")
	check("the control plane's replacement")

	// What is left: 3 control planes and 1 worker, each one server at the
	// provider, all on the new versions.
	nodes := w.Journal(name).NodesCopy()
	if len(nodes) != 4 {
		t.Errorf("the journal has %d nodes, want 4", len(nodes))
	}
	servers := 0
	for _, s := range w.Sim.State().Latitude.Servers {
		if contains(fmt.Sprint(s.Tags), name) {
			servers++
		}
	}
	if servers != 4 {
		t.Errorf("%d servers of %s are billing, want 4", servers, name)
	}
	for _, n := range nodes {
		tn := w.Sim.Node(n.Name)
		if tn.RunningVersion() != newTalos || tn.KubeletVersion() != newKubernetes {
			t.Errorf("%s runs Talos %s and kubelet %s, want %s and %s", n.Name, tn.RunningVersion(), tn.KubeletVersion(), newTalos, newKubernetes)
		}
	}
	st := w.MustRun("status", "--name", name)
	if !contains(st.Stdout, newTalos) || !contains(st.Stdout, newKubernetes) || contains(st.Stdout, "In progress") {
		t.Errorf("status does not show the versions, or shows a command under way:\n%s", st.Stdout)
	}
	fewest, events := b.Fewest()
	t.Logf("through it all: etcd kept quorum; the workload kept at least %d of 3 replicas available over %d pod events", fewest, events)
}
