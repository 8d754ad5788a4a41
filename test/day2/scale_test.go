package day2

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cto-platform/cto/internal/spec"
	"github.com/cto-platform/cto/internal/state"
	"github.com/cto-platform/cto/internal/talos"
	"github.com/cto-platform/cto/test/sim"
	"github.com/cto-platform/cto/test/simworld"
)

// TestScaleAndReplace runs the day-2 commands one after the other on one
// cluster of 3 control planes and 2 workers with a workload whose budget
// keeps 2 of 3 replicas: 2 → 5 workers, 5 → 1, a live worker replaced,
// then a dead control plane replaced. After each, the servers billing at
// the provider are exactly the nodes', every node is Ready, etcd never
// lost quorum and the budget held.
func TestScaleAndReplace(t *testing.T) {
	const name = "sc"
	w := simworld.New(t, sim.Options{})
	w.MustRun(simworld.DeployArgs(name, "minimal", 5, "--control-planes", "3")...)
	kube := w.Kube(name)
	dumpOnFailure(t, kube)
	b := workload(t, kube, 3, 2)

	secrets, err := os.ReadFile(w.ClusterFile(name, talos.SecretsFile))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if now, err := os.ReadFile(w.ClusterFile(name, talos.SecretsFile)); err != nil || !bytes.Equal(now, secrets) {
			t.Errorf("the cluster's Talos secrets changed (%v)", err)
		}
	})

	step := func(what string, args ...string) simworld.Run {
		t.Helper()
		r := w.MustRun(args...)
		t.Logf("%s: %s", what, r.Took.Round(time.Millisecond))
		return r
	}

	dry := step("dry run", "scale", "--name", name, "--workers", "5", "--dry-run")
	if !contains(dry.Stderr, "per month") || !contains(dry.Stderr, name+"-worker5") {
		t.Errorf("the dry run shows no cost or no new node:\n%s", dry.Stderr)
	}
	if got := len(billing(w)); got != 5 {
		t.Fatalf("the dry run changed the servers: %d billing", got)
	}
	refused := w.Run("scale", "--name", name, "--workers", "5", "--max-monthly-cost", "1")
	if refused.Code != 2 || !contains(refused.Stderr, "max") || len(billing(w)) != 5 {
		t.Errorf("a scale above --max-monthly-cost was not refused before ordering (exit %d):\n%s", refused.Code, refused.Stderr)
	}

	step("2 → 5 workers", "scale", "--name", name, "--workers", "5", "--yes")
	checkShape(t, w, name, 3, 5, b)

	step("5 → 1 worker", "scale", "--name", name, "--workers", "1", "--yes")
	checkShape(t, w, name, 3, 1, b)

	// A live worker: drained, its server swapped. The control planes take
	// no workloads, so first a second worker for its pods to go to.
	step("1 → 2 workers", "scale", "--name", name, "--workers", "2", "--yes")
	oldWorker := serverOf(w, name, name+"-worker1")
	step("replace a live worker", "replace", "--name", name, "--node", name+"-worker1", "--yes")
	checkShape(t, w, name, 3, 2, b)
	if serverOf(w, name, name+"-worker1") == oldWorker {
		t.Errorf("%s-worker1 still runs on server %s", name, oldWorker)
	}

	// A dead control plane: its etcd member removed through another.
	oldCP := serverOf(w, name, name+"-cp2")
	if !w.Sim.LoseNode(name + "-cp2") {
		t.Fatal("no node cp2 to lose")
	}
	step("replace a dead control plane", "replace", "--name", name, "--node", name+"-cp2", "--yes")
	checkShape(t, w, name, 3, 2, b)
	if serverOf(w, name, name+"-cp2") == oldCP {
		t.Errorf("%s-cp2 still runs on server %s", name, oldCP)
	}
	if removed := w.Sim.Etcd().Removed(); len(removed) != 1 || !strings.HasPrefix(removed[0], name+"-cp2 ") {
		t.Errorf("etcd members removed: %v, want the old %s-cp2 only", removed, name)
	}
}

// TestScaleBadInput: each refusal exits 2 with one line and changes
// nothing.
func TestScaleBadInput(t *testing.T) {
	const name = "bad"
	w := simworld.New(t, sim.Options{})
	w.MustRun(simworld.DeployArgs(name, "minimal", 2)...)
	before := billing(w)
	for _, tc := range []struct {
		args []string
		says string
	}{
		{[]string{"scale", "--name", "nosuch", "--workers", "2"}, "nosuch"},
		{[]string{"scale", "--name", name, "--workers", "-1"}, "--workers -1"},
		{[]string{"scale", "--name", name}, "--workers"},
		{[]string{"scale", "--name", name, "--control-planes", "2"}, "1, 3 or 5"},
		{[]string{"scale", "--name", name, "--workers", "0"}, "NoSchedule"},
		{[]string{"replace", "--name", name, "--node", name + "-worker9"}, "no node"},
		{[]string{"replace", "--name", name, "--node", name + "-cp1", "--yes"}, "only etcd member"},
		{[]string{"replace", "--name", name}, "--node"},
	} {
		r := w.Run(tc.args...)
		if r.Code != 2 || !contains(r.Stderr, tc.says) {
			t.Errorf("%v: exit %d, want 2 saying %q:\n%s", tc.args, r.Code, tc.says, r.Stderr)
		}
	}
	if after := billing(w); !slices.Equal(before, after) {
		t.Errorf("refused requests changed the servers: %v → %v", before, after)
	}
	for _, cmd := range []string{"scale", "replace"} {
		h := w.MustRun(cmd, "--help")
		if !contains(h.Stdout, "resumes") {
			t.Errorf("cto %s --help does not explain the command:\n%s", cmd, h.Stdout)
		}
	}
	// Without a terminal, money is spent only with --yes.
	if r := w.Run("scale", "--name", name, "--workers", "2"); r.Code == 0 || !contains(r.Stderr, "--yes") || len(billing(w)) != 2 {
		t.Errorf("a scale without --yes and without a terminal was not refused before ordering (exit %d):\n%s", r.Code, r.Stderr)
	}

	// A budget that forbids every eviction stops the removal after
	// --drain-timeout, naming it; the worker stays, serving; once the
	// budget allows it, the same command finishes.
	w.MustRun("scale", "--name", name, "--workers", "2", "--yes")
	kube := w.Kube(name)
	dumpOnFailure(t, kube)
	workload(t, kube, 2, 2)
	blocked := w.Run("scale", "--name", name, "--workers", "1", "--drain-timeout", "2s", "--yes")
	if blocked.Code != 1 || !contains(blocked.Stderr, "disruption budget") || !contains(blocked.Stderr, "rerun") {
		t.Errorf("a drain the budget blocks: exit %d, want 1 naming the budget:\n%s", blocked.Code, blocked.Stderr)
	}
	if got := billing(w); !slices.Equal(got, nodeNames(name, 1, 2)) {
		t.Errorf("servers billing after the blocked drain: %v", got)
	}
	if n, err := kube.CoreV1().Nodes().Get(t.Context(), name+"-worker2", metav1.GetOptions{}); err != nil || n.Spec.Unschedulable {
		t.Errorf("%s-worker2 after the blocked drain: %v, cordoned %v", name, err, err == nil && n.Spec.Unschedulable)
	}
	if err := kube.PolicyV1().PodDisruptionBudgets("shop").Delete(t.Context(), "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	w.MustRun("scale", "--name", name, "--workers", "1", "--yes")
	if got := billing(w); !slices.Equal(got, nodeNames(name, 1, 1)) {
		t.Errorf("servers billing after the scale finished: %v", got)
	}
	if op := w.Journal(name).FactsCopy().Operation; op != "" {
		t.Errorf("the journal still has %q under way", op)
	}
}

// scaleKillEnv replays the kill points of TestScaleResumesAfterKill.
const scaleKillEnv = "CTO_SCALE_KILL_SEED"

// TestScaleResumesAfterKill grows one control plane to 3, then kills a
// scale from 2 to 4 workers, one from 4 back to 1 and the replacement of
// a live control plane with SIGKILL at seeded points: a while after the
// first new server is ordered, after the first worker is cordoned, and
// after the control plane's etcd member is removed; the same commands
// run again end where an uninterrupted run does, with no server left
// billing that no node has and etcd's quorum kept.
func TestScaleResumesAfterKill(t *testing.T) {
	seed := simworld.KillSeed(t, scaleKillEnv)
	rng := rand.New(rand.NewPCG(seed, 0))
	const name = "ks"
	w := simworld.New(t, sim.Options{Seed: rng.Uint64()})
	w.MustRun(simworld.DeployArgs(name, "minimal", 3)...)
	kube := w.Kube(name)
	dumpOnFailure(t, kube)
	b := workload(t, kube, 3, 2)

	endpoint := w.Journal(name).FactsCopy().Endpoint
	applied := map[string]int{}
	for _, h := range nodeNames(name, 1, 2) {
		applied[h] = w.Sim.Node(h).ApplyCalls()
	}
	start := time.Now()
	w.MustRun("scale", "--name", name, "--control-planes", "3", "--yes")
	t.Logf("1 → 3 control planes: %s", time.Since(start).Round(time.Millisecond))
	checkShape(t, w, name, 3, 2, b)
	// The nodes there before keep the config they run, and its endpoint.
	if now := w.Journal(name).FactsCopy().Endpoint; now != endpoint {
		t.Errorf("the API endpoint moved from %s to %s", endpoint, now)
	}
	for h, calls := range applied {
		if now := w.Sim.Node(h).ApplyCalls(); now != calls {
			t.Errorf("%s took a config again (%d → %d applies)", h, calls, now)
		}
	}

	kill := func(what string, args []string, ready func() bool) {
		t.Helper()
		extra := time.Duration(rng.Float64() * float64(800*time.Millisecond))
		first := w.Start(args...)
		killed, err := first.KillWhen(func() {
			for deadline := time.Now().Add(3 * time.Minute); !ready() && time.Now().Before(deadline); {
				time.Sleep(5 * time.Millisecond)
			}
			time.Sleep(extra)
		})
		if !killed {
			t.Logf("seed %d: %s ended before its kill point (%v)", seed, what, err)
		} else {
			t.Logf("seed %d: %s killed %s after its kill point; operation %q", seed, what, extra.Round(time.Millisecond), w.Journal(name).FactsCopy().Operation)
		}
		again := w.MustRun(args...)
		t.Logf("%s resumed: %s", what, again.Took.Round(time.Millisecond))
		if again.Took > time.Minute {
			t.Logf("the resumed run took long; the killed run:\n%s\nthe resumed run:\n%s", first.Output(), again.Stderr)
		}
	}
	kill("2 → 4 workers", []string{"scale", "--name", name, "--workers", "4", "--yes"}, func() bool {
		return slices.Contains(billing(w), name+"-worker3")
	})
	checkShape(t, w, name, 3, 4, b)
	kill("4 → 1 worker", []string{"scale", "--name", name, "--workers", "1", "--yes"}, func() bool {
		n, err := kube.CoreV1().Nodes().Get(t.Context(), name+"-worker4", metav1.GetOptions{})
		return err != nil || n.Spec.Unschedulable
	})
	checkShape(t, w, name, 3, 1, b)

	// A live control plane replaced, killed once its etcd member is gone.
	old := serverOf(w, name, name+"-cp3")
	kill("replace cp3", []string{"replace", "--name", name, "--node", name + "-cp3", "--yes"}, func() bool {
		return slices.ContainsFunc(w.Sim.Etcd().Removed(), func(m string) bool { return strings.HasPrefix(m, name+"-cp3 ") })
	})
	checkShape(t, w, name, 3, 1, b)
	if serverOf(w, name, name+"-cp3") == old {
		t.Errorf("%s-cp3 still runs on server %s", name, old)
	}
}

// billing are the hostnames of the servers the provider bills, sorted.
func billing(w *simworld.World) []string {
	var out []string
	for _, s := range w.Sim.State().Latitude.Servers {
		if s.Status != "deleting" && s.Status != "deleted" {
			out = append(out, s.Hostname)
		}
	}
	sort.Strings(out)
	return out
}

// serverOf is the server ID the journal has for a node.
func serverOf(w *simworld.World, cluster, node string) string {
	for _, n := range w.Journal(cluster).NodesCopy() {
		if n.Name == node {
			return n.ServerID
		}
	}
	return ""
}

// checkShape asserts a cluster of cps control planes and workers
// workers, from the doubles' side: the servers billing are exactly its
// nodes', one each and the ones the journal has; each is a Ready node;
// etcd has every control plane and never lost quorum; the workload kept
// its budget; no day-2 command is left under way.
func checkShape(t *testing.T, w *simworld.World, name string, cps, workers int, b *budgetWatch) {
	t.Helper()
	want := nodeNames(name, cps, workers)
	sort.Strings(want)
	if got := billing(w); !slices.Equal(got, want) {
		t.Errorf("servers billing: %v, want %v", got, want)
	}
	j := w.Journal(name)
	ids := map[string]string{}
	for _, s := range w.Sim.State().Latitude.Servers {
		ids[s.Hostname] = s.ID
	}
	var journaled []string
	for _, n := range j.NodesCopy() {
		journaled = append(journaled, n.Name)
		if ids[n.Name] != n.ServerID {
			t.Errorf("the journal has %s on server %s, the provider %s", n.Name, n.ServerID, ids[n.Name])
		}
	}
	sort.Strings(journaled)
	if !slices.Equal(journaled, want) {
		t.Errorf("the journal's nodes: %v, want %v", journaled, want)
	}
	live := map[string]bool{}
	for _, r := range j.LiveResources("server") {
		live[r.ID] = true
	}
	for _, n := range j.NodesCopy() {
		delete(live, n.ServerID)
	}
	if len(live) > 0 {
		t.Errorf("the journal has servers live that no node runs on: %v", live)
	}
	if ready := w.ReadyNodes(name, len(want)); len(ready) != len(want) {
		t.Errorf("%d of %d nodes Ready", len(ready), len(want))
	} else {
		for _, n := range ready {
			if n.Spec.Unschedulable {
				t.Errorf("%s is left cordoned", n.Name)
			}
		}
	}
	var members []string
	if cp := w.Sim.Node(name + "-cp1"); cp != nil {
		for _, m := range w.Sim.Etcd().Members(cp) {
			members = append(members, m.Hostname)
		}
	}
	sort.Strings(members)
	if wantCPs := nodeNames(name, cps, 0); !slices.Equal(members, wantCPs) {
		t.Errorf("etcd members: %v, want %v", members, wantCPs)
	}
	if losses := w.Sim.Etcd().QuorumLosses(); len(losses) > 0 {
		t.Errorf("etcd lost quorum: %v", losses)
	}
	if fewest, events := b.Fewest(); fewest < 2 {
		t.Errorf("the workload fell to %d available replicas (budget: 2; %d pod events seen)", fewest, events)
	}
	if op := j.FactsCopy().Operation; op != "" {
		t.Errorf("the journal still has %q under way", op)
	}
	if s := specCounts(j); s != fmt.Sprintf("%d/%d", cps+workers, cps) {
		t.Errorf("the journal's spec has nodes/control planes %s, want %d/%d", s, cps+workers, cps)
	}
}

// specCounts is "nodes/controlPlanes" of the journal's spec.
func specCounts(j *state.Journal) string {
	var s spec.ClusterSpec
	if err := json.Unmarshal(j.Spec, &s); err != nil {
		return err.Error()
	}
	return fmt.Sprintf("%d/%d", s.Nodes, s.ControlPlanes)
}
