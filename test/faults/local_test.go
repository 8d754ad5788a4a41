package faults

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cto-platform/cto/internal/deploy"
	"github.com/cto-platform/cto/internal/state"
	"github.com/cto-platform/cto/test/sim"
	"github.com/cto-platform/cto/test/simworld"
	"github.com/cto-platform/cto/test/smallfs"
)

// TestLocalFaults are the faults of the machine cto runs on: a state file
// edited by hand, two deploys of one cluster at once, a full disk.
func TestLocalFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("drives the built binary against the simulated datacenter")
	}
	t.Run("state file edited into invalid JSON", func(t *testing.T) {
		res, w := localCase(t, "state file edited into invalid JSON", Refused, "state.json cut in half after the servers step")
		args := deployArgs(cluster, 1)
		if r := w.Run(append(args, "--until", "servers")...); r.Code != 0 {
			t.Fatalf("deploy --until servers:\n%s", r)
		}
		path := w.ClusterFile(cluster, "state.json")
		good, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		broken := good[:len(good)/2]
		if err := os.WriteFile(path, broken, 0o600); err != nil {
			t.Fatal(err)
		}
		servers := len(w.Sim.State().Latitude.Servers)
		for _, cmd := range [][]string{args, {"destroy", "--name", cluster, "--yes"}, {"status", "--name", cluster}} {
			r := w.Run(cmd...)
			res.Message = errorLine(w, r)
			if r.Code == 0 || !strings.Contains(r.Stderr, "state file is corrupt") || !strings.Contains(r.Stderr, "state.json") ||
				strings.Count(strings.TrimSpace(r.Stderr), "\n") > 2 {
				t.Errorf("cto %s on a broken state file: want a clear short error naming it:\n%s", cmd[0], r)
			}
			if now, _ := os.ReadFile(path); !bytes.Equal(now, broken) {
				t.Errorf("cto %s changed the broken state file", cmd[0])
			}
		}
		if got := len(w.Sim.State().Latitude.Servers); got != servers {
			t.Errorf("the refused commands changed the servers: %d, was %d", got, servers)
		}
		res.Observed = "refused with the file named; file untouched"
		// Put back by hand, the deploy resumes and completes.
		if err := os.WriteFile(path, good, 0o600); err != nil {
			t.Fatal(err)
		}
		if r := w.Run(args...); r.Code != 0 {
			t.Fatalf("deploy after the file was restored:\n%s", r)
		}
		res.Runs++
		res.Observed += "; restored, rerun completed"
		checkDeployed(t, w, 1)
		destroyAndCount(t, w, res)
	})

	t.Run("two deploys of one cluster at once", func(t *testing.T) {
		res, w := localCase(t, "two deploys of one cluster at once", Refused, "a second `cto deploy` while the first runs")
		args := deployArgs(cluster, 1)
		first := w.Start(args...)
		if !waitFor(time.Minute, func() bool { return len(w.Sim.State().Latitude.Servers) > 0 }) {
			first.Signal(os.Kill)
			t.Fatalf("the first deploy created no server:\n%s", first.Output())
		}
		second := w.Run(args...)
		res.Message = errorLine(w, second)
		if second.Code != 1 || !strings.Contains(second.Stderr, "deploy") || !strings.Contains(strings.ToLower(second.Stderr), "lock") &&
			!strings.Contains(second.Stderr, "running") {
			t.Errorf("the second deploy was not refused clearly:\n%s", second)
		}
		if err := first.Wait(); err != nil {
			t.Fatalf("the first deploy: %v\n%s", err, first.Output())
		}
		res.Observed = "second refused; first completed"
		checkDeployed(t, w, 1)
		destroyAndCount(t, w, res)
	})

	t.Run("disk full while writing state", func(t *testing.T) {
		if !full() {
			t.Skip("in the full matrix only (" + FullEnv + "=1)")
		}
		res, w := localCase(t, "disk full while writing state", StopsThenResumes,
			"the state folder's file system (a 4 MiB tmpfs) fills up after the servers step")
		dir := w.StateDir()
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		smallfs.Mount(t, dir, "4m")
		args := deployArgs(cluster, 1)
		if r := w.Run(append(args, "--until", "servers")...); r.Code != 0 {
			t.Fatalf("deploy --until servers:\n%s", r)
		}
		filler := filepath.Join(dir, "filler")
		fill := exec.Command("dd", "if=/dev/zero", "of="+filler, "bs=64k")
		fill.Run() // ends with "No space left on device"
		r := w.Run(args...)
		res.Message = errorLine(w, r)
		if r.Code != 1 || !strings.Contains(r.Stderr, "no space left on device") {
			t.Errorf("want a stop that says the disk is full:\n%s", r)
		}
		path := filepath.Join(dir, "clusters", cluster, "state.json")
		data, err := os.ReadFile(path)
		var j map[string]any
		if err != nil || json.Unmarshal(data, &j) != nil || j["cluster"] != cluster {
			t.Errorf("state.json is not a whole journal after the disk filled up: %v\n%s", err, data)
		}
		if tmp, _ := filepath.Glob(filepath.Join(dir, "clusters", cluster, ".*.tmp-*")); len(tmp) > 0 {
			t.Errorf("temporary files left behind: %v", tmp)
		}
		step := failedStep(w)
		os.Remove(filler)
		second := w.Run(args...)
		res.Runs++
		if second.Code != 0 {
			t.Fatalf("the rerun with space again:\n%s", second)
		}
		res.Observed = fmt.Sprintf("stopped in %s, state.json whole; rerun completed", step)
		checkDeployed(t, w, 1)
		destroyAndCount(t, w, res)
	})
}

// stepReached reports whether the journal shows a step running or done.
func stepReached(j *state.Journal, step string) bool {
	if j == nil {
		return false
	}
	rec, ok := j.Step(step)
	return ok && (rec.Status == state.StepRunning || rec.Status == state.StepDone)
}

// localCase starts a local case on a simulated datacenter of its own. Its
// result is recorded when its test ends, before the datacenter is stopped.
func localCase(t *testing.T, name string, expected Outcome, faults string) (*Result, *world) {
	res := &Result{Name: name, Area: "local", Expected: expected, Runs: 1, Faults: faults}
	start := time.Now()
	w := newWorld(t, sim.Options{Speed: speed, Seed: 11})
	t.Cleanup(func() {
		res.Pass = !t.Failed()
		res.Seconds = time.Since(start).Seconds()
		record(*res)
	})
	return res, w
}

// CrashSeedEnv replays a TestCrashResume run: the seed its log printed.
const CrashSeedEnv = "CTO_CRASH_SEED"

// TestCrashResume kills cto with SIGKILL at random points of a deploy of
// 3 control planes and runs it again: every rerun completes with exactly
// the servers asked for and exactly one Bootstrap call over all nodes, and
// a destroy leaves nothing. A kill that misses its window (the deploy
// finished first) fails the run; the seed is logged and replayed with
// CTO_CRASH_SEED.
func TestCrashResume(t *testing.T) {
	if testing.Short() {
		t.Skip("drives the built binary against the simulated datacenter")
	}
	runs := 1
	if full() {
		runs = 8
	}
	seed := simworld.KillSeed(t, CrashSeedEnv)
	rng := rand.New(rand.NewPCG(seed, 7))
	// Each run aims at a step in turn, then kills at a random moment up
	// to 300ms into it, so every step is hit. The credentials step is too
	// short to aim at; a kill late in platform lands next to it.
	targets := []string{deploy.StepServers, deploy.StepNetwork, deploy.StepTalos, deploy.StepKubernetes, deploy.StepPlatform}
	offset := rng.IntN(len(targets))
	for i := range runs {
		target := targets[(i+offset)%len(targets)]
		jitter := time.Duration(rng.IntN(300)) * time.Millisecond
		t.Run(fmt.Sprintf("kill %d in %s", i+1, target), func(t *testing.T) {
			k := Kill{Seed: seed, Target: target}
			defer func() { recordKill(k) }()
			w := newWorld(t, sim.Options{Speed: speed, Seed: uint64(20 + i)})
			args := deployArgs(cluster, 3, "--control-planes", "3")
			first := w.Start(args...)
			killed, err := first.KillWhen(func() {
				waitFor(2*time.Minute, func() bool { return stepReached(w.Journal(cluster), target) })
				time.Sleep(jitter)
			})
			switch {
			case !killed:
				k.Step = "finished before the kill"
				t.Fatalf("the deploy ended (%v) before the kill aimed %s into %s: the kill missed its window (seed %d)", err, jitter, target, seed)
			case err == nil:
				k.Step = "finished before the kill"
				t.Fatalf("the kill aimed %s into %s missed its window: the deploy had finished (seed %d)", jitter, target, seed)
			}
			// The process is dead: the journal on disk is where it
			// stopped.
			k.Step = runningSteps(w.Journal(cluster))
			k.Hit = true
			k.AfterMillis = int(time.Since(first.Began).Milliseconds())
			k.Servers = len(w.Sim.State().Latitude.Servers)
			r := w.Run(args...)
			k.Resumed = r.Code == 0
			if !k.Resumed {
				t.Fatalf("the rerun after a kill in %q did not complete (seed %d):\n%s", k.Step, seed, r)
			}
			st := w.Sim.State()
			hosts := map[string]int{}
			for _, s := range st.Latitude.Servers {
				hosts[s.Hostname]++
			}
			for _, n := range hosts {
				k.Duplicates += n - 1
			}
			k.Bootstraps = st.Bootstraps
			k.BootstrapCalls = st.BootstrapCalls
			if k.Duplicates > 0 || len(hosts) != 3 || k.Bootstraps != 1 || k.BootstrapCalls != 1 {
				t.Errorf("after a kill in %q and a rerun: servers by hostname %v, %d nodes bootstrapped, %d Bootstrap calls over 3 control planes; want 3 distinct, 1 and 1 (seed %d)",
					k.Step, hosts, k.Bootstraps, k.BootstrapCalls, seed)
			}
			var res Result
			destroyAndCount(t, w, &res)
			k.Leaked = res.LeakedServers + res.LeakedVLANs
		})
	}
}
