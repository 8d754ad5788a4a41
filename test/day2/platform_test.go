package day2

import (
	"context"
	"math/rand/v2"
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

// TestPlatformUpgrade: a component left on an older version (as a cluster
// deployed by an older cto has it) is shown against the catalog's, a dry
// run changes nothing, and the upgrade brings it to the catalog's version,
// Synced and Healthy; a second run has nothing to do.
func TestPlatformUpgrade(t *testing.T) {
	w := simworld.New(t, sim.Options{})
	w.MustRun(simworld.DeployArgs("plat", "minimal", 1)...)
	dyn := dynamic.NewForConfigOrDie(w.KubeConfig("plat"))
	apps := dyn.Resource(platform.ApplicationGVR).Namespace(platform.ArgoNamespace)
	ctx := context.Background()
	app, err := apps.Get(ctx, "argo-workflows", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want, _, _ := unstructured.NestedString(app.Object, "spec", "source", "targetRevision")
	const old = "0.40.0"
	if _, err := apps.Patch(ctx, "argo-workflows", types.MergePatchType, []byte(`{"spec":{"source":{"targetRevision":"`+old+`"}}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	revision := func() string {
		app, err := apps.Get(ctx, "argo-workflows", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		v, _, _ := unstructured.NestedString(app.Object, "spec", "source", "targetRevision")
		return v
	}

	dry := w.MustRun("upgrade", "--name", "plat", "--platform", "--dry-run")
	if !contains(dry.Stderr, "argo-workflows") || !contains(dry.Stderr, old) || !contains(dry.Stderr, want+"  ← upgrade") {
		t.Errorf("the dry run does not show argo-workflows going from %s to %s:\n%s", old, want, dry.Stderr)
	}
	if got := revision(); got != old {
		t.Fatalf("the dry run changed the Application to %s", got)
	}
	if r := w.Run("upgrade", "--name", "plat", "--platform", "--talos-version", "v1.13.9", "--yes"); r.Code != 2 {
		t.Errorf("two things at once: exit %d, want 2:\n%s", r.Code, r.Stderr)
	}

	w.MustRun("upgrade", "--name", "plat", "--platform", "--yes")
	if got := revision(); got != want {
		t.Errorf("argo-workflows targets %s after the upgrade, want %s", got, want)
	}
	app, err = apps.Get(ctx, "argo-workflows", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sync, _, _ := unstructured.NestedString(app.Object, "status", "sync", "status")
	health, _, _ := unstructured.NestedString(app.Object, "status", "health", "status")
	if sync != "Synced" || health != "Healthy" {
		t.Errorf("argo-workflows is %s/%s after the upgrade, want Synced/Healthy", sync, health)
	}
	if op := w.Journal("plat").FactsCopy().Operation; op != "" {
		t.Errorf("the journal still has %q under way", op)
	}
	again := w.MustRun("upgrade", "--name", "plat", "--platform", "--yes")
	if !contains(again.Stderr, "already") {
		t.Errorf("a second platform upgrade does not say there is nothing to do:\n%s", again.Stderr)
	}
}

// TestPlatformUpgradeResumesAfterKill kills a platform upgrade with
// SIGKILL at a seeded point after it marked itself under way; the same
// command run again ends with the component on the catalog's version,
// Synced and Healthy, and nothing under way.
func TestPlatformUpgradeResumesAfterKill(t *testing.T) {
	seed := simworld.KillSeed(t, killSeedEnv)
	rng := rand.New(rand.NewPCG(seed, 1))
	extra := time.Duration(rng.Float64() * float64(400*time.Millisecond))
	w := simworld.New(t, sim.Options{})
	w.MustRun(simworld.DeployArgs("pk", "minimal", 1)...)
	apps := dynamic.NewForConfigOrDie(w.KubeConfig("pk")).Resource(platform.ApplicationGVR).Namespace(platform.ArgoNamespace)
	ctx := context.Background()
	app, err := apps.Get(ctx, "argo-workflows", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want, _, _ := unstructured.NestedString(app.Object, "spec", "source", "targetRevision")
	if _, err := apps.Patch(ctx, "argo-workflows", types.MergePatchType, []byte(`{"spec":{"source":{"targetRevision":"0.40.0"}}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	args := []string{"upgrade", "--name", "pk", "--platform", "--yes"}
	first := w.Start(args...)
	killed, err := first.KillWhen(func() {
		for deadline := time.Now().Add(time.Minute); w.Journal("pk").FactsCopy().Operation == "" && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(extra)
	})
	if !killed {
		t.Fatalf("seed %d: the platform upgrade ended %s after it started, before the kill (%v):\n%s", seed, time.Since(first.Began).Round(time.Millisecond), err, first.Output())
	}
	t.Logf("seed %d: killed %s after the upgrade marked itself under way", seed, extra.Round(time.Millisecond))
	w.MustRun(args...)
	app, err = apps.Get(ctx, "argo-workflows", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rev, _, _ := unstructured.NestedString(app.Object, "spec", "source", "targetRevision")
	health, _, _ := unstructured.NestedString(app.Object, "status", "health", "status")
	if rev != want || health != "Healthy" {
		t.Errorf("argo-workflows targets %s (%s) after the resumed upgrade, want %s, Healthy", rev, health, want)
	}
	if op := w.Journal("pk").FactsCopy().Operation; op != "" {
		t.Errorf("the journal still has %q under way", op)
	}
}
