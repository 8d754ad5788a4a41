package day2

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	talosfake "github.com/cto-platform/cto/internal/talos/fake"
	"github.com/cto-platform/cto/test/sim"
	"github.com/cto-platform/cto/test/simworld"
)

const (
	oldTalos = "v1.13.8"
	newTalos = "v1.13.9"
)

// deployOld deploys 3 control planes and 2 workers on Talos oldTalos, with
// a workload of 3 replicas that must keep 2 available.
func deployOld(t *testing.T, opts sim.Options, name string) (*simworld.World, *budgetWatch) {
	t.Helper()
	opts.TalosVersions = []string{oldTalos, newTalos}
	w := simworld.New(t, opts)
	w.MustRun(simworld.DeployArgs(name, "minimal", 5, "--control-planes", "3", "--talos-version", oldTalos)...)
	for _, h := range nodeNames(name, 3, 2) {
		if v := w.Sim.Node(h).RunningVersion(); v != oldTalos {
			t.Fatalf("%s runs Talos %s after the deploy, want %s", h, v, oldTalos)
		}
	}
	dumpOnFailure(t, w.Kube(name))
	return w, workload(t, w.Kube(name), 3, 2)
}

// checkUpgraded asserts the end state of an upgrade to newTalos from both
// sides: every node runs it and was asked once, the journal and status
// say so, etcd never lost quorum and the workload kept its budget.
func checkUpgraded(t *testing.T, w *simworld.World, name string, b *budgetWatch) {
	t.Helper()
	for _, h := range nodeNames(name, 3, 2) {
		n := w.Sim.Node(h)
		if v := n.RunningVersion(); v != newTalos {
			t.Errorf("%s runs Talos %s, want %s", h, v, newTalos)
		}
		if calls := n.UpgradeCalls(); calls != 1 {
			t.Errorf("%s was asked to upgrade %d times, want once", h, calls)
		}
	}
	if losses := w.Sim.Etcd().QuorumLosses(); len(losses) > 0 {
		t.Errorf("etcd lost quorum: %v", losses)
	}
	if fewest, events := b.Fewest(); fewest < 2 {
		t.Errorf("the workload fell to %d available replicas (budget: 2; %d pod events seen)", fewest, events)
	} else {
		t.Logf("the workload kept at least %d of 3 replicas available over %d pod events", fewest, events)
	}
	ready := w.ReadyNodes(name, 5)
	if len(ready) != 5 {
		t.Errorf("not every node is Ready after the upgrade")
	}
	for _, n := range ready {
		if n.Spec.Unschedulable {
			t.Errorf("%s is left cordoned after the upgrade", n.Name)
		}
	}
	j := w.Journal(name)
	for _, n := range j.NodesCopy() {
		if n.TalosVersion != newTalos {
			t.Errorf("the journal has %s on Talos %q, want %s", n.Name, n.TalosVersion, newTalos)
		}
	}
	if op := j.FactsCopy().Operation; op != "" {
		t.Errorf("the journal still has %q under way", op)
	}
	st := w.MustRun("status", "--name", name)
	if !contains(st.Stdout, newTalos) || contains(st.Stdout, "In progress") {
		t.Errorf("status does not show the finished upgrade:\n%s", st.Stdout)
	}
}

// TestTalosRollingUpgrade upgrades 3 control planes and 2 workers node by
// node; a second run finds nothing to do and asks no node again.
func TestTalosRollingUpgrade(t *testing.T) {
	w, b := deployOld(t, sim.Options{}, "up")
	dry := w.MustRun("upgrade", "--name", "up", "--talos-version", newTalos, "--dry-run")
	if !contains(dry.Stderr, "up-cp1") || w.Sim.Node("up-cp1").UpgradeCalls() != 0 {
		t.Errorf("the dry run does not list the nodes, or upgraded one:\n%s", dry.Stderr)
	}
	w.MustRun("upgrade", "--name", "up", "--talos-version", newTalos, "--yes")
	checkUpgraded(t, w, "up", b)
	again := w.MustRun("upgrade", "--name", "up", "--talos-version", newTalos, "--yes")
	if !contains(again.Stderr, "already") {
		t.Errorf("a second upgrade does not say there is nothing to do:\n%s", again.Stderr)
	}
	checkUpgraded(t, w, "up", b)
}

// killSeedEnv replays the kill points of TestTalosUpgradeResumesAfterKill.
const killSeedEnv = "CTO_DAY2_KILL_SEED"

// TestTalosUpgradeResumesAfterKill kills the upgrade with SIGKILL at a
// seeded point, drawn as "just after the k-th node was asked to upgrade,
// plus up to 300 ms", so it lands while nodes reboot, drain or rejoin
// (k is the last node in the second run);
// the same command run again finishes with every node asked once, etcd's
// quorum and the workload's budget kept.
func TestTalosUpgradeResumesAfterKill(t *testing.T) {
	seed := simworld.KillSeed(t, killSeedEnv)
	rng := rand.New(rand.NewPCG(seed, 0))
	for run := 1; run <= 2; run++ {
		// The second run is killed after the last node was asked: its
		// rerun has no version left to reach, only that node to finish.
		k := 1 + rng.IntN(4)
		if run == 2 {
			k = 5
		}
		extra := time.Duration(rng.Float64() * float64(300*time.Millisecond))
		t.Run(fmt.Sprintf("run=%d", run), func(t *testing.T) {
			name := fmt.Sprintf("k%d", run)
			w, b := deployOld(t, sim.Options{Seed: rng.Uint64()}, name)
			args := []string{"upgrade", "--name", name, "--talos-version", newTalos, "--yes"}
			first := w.Start(args...)
			killed, err := first.KillWhen(func() {
				for deadline := time.Now().Add(3 * time.Minute); asked(w, name) < k && time.Now().Before(deadline); {
					time.Sleep(5 * time.Millisecond)
				}
				time.Sleep(extra)
			})
			if !killed {
				t.Fatalf("seed %d run %d: the upgrade ended before node %d was asked (%v):\n%s", seed, run, k, err, first.Output())
			}
			t.Logf("seed %d run %d: killed %s after node %d of 5 was asked to upgrade; in progress: %q", seed, run, extra.Round(time.Millisecond), k, w.Journal(name).FactsCopy().Operation)
			w.MustRun(args...)
			checkUpgraded(t, w, name, b)
		})
	}
}

// asked counts the nodes asked to upgrade so far.
func asked(w *simworld.World, name string) int {
	n := 0
	for _, h := range nodeNames(name, 3, 2) {
		if w.Sim.Node(h).UpgradeCalls() > 0 {
			n++
		}
	}
	return n
}

// TestTalosUpgradeStopsAtARollback: a worker whose new image does not boot
// comes back on its old Talos; the upgrade stops there with what is done
// and what is not, leaves the node cordoned and the other worker alone,
// and status shows it under way. Once the node boots again, the same
// command finishes it. Requests the rules refuse exit 2 and touch nothing.
func TestTalosUpgradeStopsAtARollback(t *testing.T) {
	w, b := deployOld(t, sim.Options{}, "rb")
	w.Sim.Node("rb-worker1").SetFaults(talosfake.Faults{UpgradeBootFails: true})

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--talos-version", "v1.13.10"}, "not a version the Image Factory builds"},
		{[]string{"--talos-version", "v1.12.0"}, "does not downgrade"},
		{[]string{"--talos-version", "latest"}, "not a version like"},
		{[]string{"--talos-version", newTalos, "--max-unavailable", "0"}, "at least one worker"},
		{[]string{}, "--talos-version"},
	} {
		r := w.Run(append([]string{"upgrade", "--name", "rb", "--yes"}, tc.args...)...)
		if r.Code != 2 || !contains(r.Stderr, tc.want) {
			t.Errorf("upgrade %v: exit %d, want 2 saying %q:\n%s", tc.args, r.Code, tc.want, r.Stderr)
		}
	}
	if r := w.Run("upgrade", "--name", "nosuch", "--talos-version", newTalos, "--yes"); r.Code != 2 {
		t.Errorf("an upgrade of a cluster that does not exist: exit %d, want 2:\n%s", r.Code, r.Stderr)
	}
	if asked(w, "rb") != 0 {
		t.Fatalf("a refused request asked %d nodes to upgrade", asked(w, "rb"))
	}

	r := w.Run("upgrade", "--name", "rb", "--talos-version", newTalos, "--yes")
	if r.Code != 1 || !contains(r.Stderr, "rb-worker1 came back on Talos "+oldTalos) || !contains(r.Stderr, "not yet: rb-worker1, rb-worker2") {
		t.Fatalf("the upgrade does not stop at the rollback with what is left (exit %d):\n%s", r.Code, r.Stderr)
	}
	if v := w.Sim.Node("rb-worker1").RunningVersion(); v != oldTalos {
		t.Errorf("rb-worker1 runs %s after its rollback, want %s", v, oldTalos)
	}
	if calls := w.Sim.Node("rb-worker2").UpgradeCalls(); calls != 0 {
		t.Errorf("rb-worker2 was asked to upgrade %d times after the failure before it", calls)
	}
	if node := w.ReadyNodes("rb", 5)["rb-worker1"]; !node.Spec.Unschedulable {
		t.Errorf("rb-worker1 is not left cordoned after its rollback")
	}
	st := w.MustRun("status", "--name", "rb")
	if !contains(st.Stdout, "In progress: upgrade talos "+newTalos+" (3 of 5 nodes done)") {
		t.Errorf("status does not show the upgrade under way:\n%s", st.Stdout)
	}

	w.Sim.Node("rb-worker1").SetFaults(talosfake.Faults{})
	w.MustRun("upgrade", "--name", "rb", "--talos-version", newTalos, "--yes")
	for _, h := range nodeNames("rb", 3, 2) {
		want := 1
		if h == "rb-worker1" {
			want = 2 // the rolled-back attempt and the one that booted
		}
		if calls := w.Sim.Node(h).UpgradeCalls(); calls != want || w.Sim.Node(h).RunningVersion() != newTalos {
			t.Errorf("%s: %d upgrade calls, runs %s; want %d and %s", h, calls, w.Sim.Node(h).RunningVersion(), want, newTalos)
		}
	}
	if losses := w.Sim.Etcd().QuorumLosses(); len(losses) > 0 {
		t.Errorf("etcd lost quorum: %v", losses)
	}
	if fewest, _ := b.Fewest(); fewest < 2 {
		t.Errorf("the workload fell to %d available replicas (budget: 2)", fewest)
	}
}
