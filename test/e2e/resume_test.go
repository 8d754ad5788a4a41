package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cto-platform/cto/internal/talos"
	"github.com/cto-platform/cto/test/kubeenv"
	"github.com/cto-platform/cto/test/sim"
	"github.com/cto-platform/cto/test/simworld"
)

// TestResumeAfterKill deploys 3 control planes, kills cto with SIGKILL at
// a random point and runs the same command again: the rerun completes with
// exactly the servers asked for, one node that started etcd, exactly one
// Bootstrap call over the cluster's nodes, and the same Talos secrets. A
// kill that lands after the deploy finished is not a kill: it is recorded
// as a miss and the run draws an earlier point, and the test fails unless
// every run landed a kill mid-deploy. The seed is logged and replayed with
// CTO_E2E_RESUME_SEED.
func TestResumeAfterKill(t *testing.T) {
	runs := ResumeRunsDefault
	if v, err := strconv.Atoi(os.Getenv(ResumeRunsEnv)); err == nil && v > 0 {
		runs = v
	}
	seed := simworld.KillSeed(t, ResumeSeedEnv)
	// Two API servers, each shared by the runs one worker plays in turn:
	// cluster names differ per run and attempt.
	const workers = 2
	kubes := make(chan *kubeenv.Env, workers)
	for range workers {
		kubes <- kubeenv.StartForTestWith(t, kubeenv.Options{Workloads: true})
	}

	var mu sync.Mutex
	var results []KillRun
	t.Run("runs", func(t *testing.T) {
		for run := 1; run <= runs; run++ {
			t.Run(fmt.Sprintf("run=%d", run), func(t *testing.T) {
				t.Parallel()
				k := <-kubes
				defer func() { kubes <- k }()
				rs := killAndResume(t, k, seed, run)
				mu.Lock()
				results = append(results, rs...)
				mu.Unlock()
			})
		}
	})

	byStep := map[string]int{}
	hits, misses, finished := 0, 0, 0
	for _, r := range results {
		if !r.Hit {
			misses++
			continue
		}
		hits++
		byStep[r.KilledIn]++
		if r.Finished {
			finished++
		}
	}
	t.Logf("resume after SIGKILL, seed %d: %d runs of 3 control planes, %d kills landed mid-deploy (%d drawn after the deploy finished, re-drawn), %d resumed with exactly 3 servers, one Bootstrap call and the same secrets; killed in: %v",
		seed, runs, hits, misses, finished, byStep)
	if hits != runs {
		t.Errorf("%d of %d runs landed a kill before the deploy finished (seed %d)", hits, runs, seed)
	}
	if path := os.Getenv(ResumeReportEnv); path != "" {
		data, _ := json.MarshalIndent(results, "", "  ")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Error(err)
		}
	}
}

// maxKillAttempts bounds the kill points one run draws: each miss draws
// the next one before the moment the missed deploy finished.
const maxKillAttempts = 4

// killAndResume starts a deploy of 3 control planes, kills it at a random
// point and runs the same command again, then checks the cluster. A kill
// point the deploy outran is recorded as a miss, and an earlier one is
// drawn on a fresh datacenter.
func killAndResume(t *testing.T, k *kubeenv.Env, seed uint64, run int) []KillRun {
	rng := rand.New(rand.NewPCG(seed, uint64(run)))
	// Most of a deploy's wall time is the platform step; kill points
	// spread over the steps before it and its start.
	limit := 2200 * time.Millisecond
	var out []KillRun
	for attempt := 1; attempt <= maxKillAttempts; attempt++ {
		r := KillRun{Seed: seed, Run: run, Attempt: attempt, Nodes: 3, ControlPlanes: 3}
		kill := time.Duration(rng.Float64() * float64(limit))
		r.KillAfterS = kill.Seconds()
		w := newWorld(t, sim.Options{Kube: k, Seed: rng.Uint64()})
		name := fmt.Sprintf("r%da%d", run, attempt)
		args := simworld.DeployArgs(name, "minimal", r.Nodes, "--control-planes", "3")
		first := w.Start(args...)
		killed, err := first.KillWhen(func() { time.Sleep(kill) })
		switch {
		case !killed:
			// Not a kill: the deploy ended first.
			r.KilledIn = "finished before the kill"
			if err != nil {
				t.Fatalf("seed %d run %d: the deploy failed before the kill: %v\n%s", seed, run, err, first.Output())
			}
		case err == nil:
			r.KilledIn = "finished before the kill"
		default:
			if steps := runningSteps(w, name); steps == "finished" {
				// Killed after every step was journaled done:
				// nothing was left to resume.
				r.KilledIn = "finished before the kill"
			} else {
				// The process is dead: the journal on disk is where
				// it stopped.
				r.Hit = true
				r.KilledIn = steps
			}
		}
		if !r.Hit {
			ran := time.Since(first.Began)
			t.Logf("seed %d run %d: the deploy finished in %s, before the kill at %s; drawing an earlier point", seed, run, ran.Round(time.Millisecond), kill.Round(time.Millisecond))
			limit = min(limit, ran*9/10)
			out = append(out, r)
			continue
		}
		resumeAfterKill(t, w, name, args, &r, string(first.Output()))
		return append(out, r)
	}
	t.Errorf("seed %d run %d: %d kill points drawn, every one after the deploy finished", seed, run, maxKillAttempts)
	return out
}

// resumeAfterKill runs the killed deploy's command again and checks the
// cluster it leaves.
func resumeAfterKill(t *testing.T, w *world, name string, args []string, r *KillRun, first string) {
	t.Helper()
	secretsBefore, _ := os.ReadFile(w.ClusterFile(name, talos.SecretsFile))
	start := time.Now()
	resume := w.Run(args...)
	r.ResumeS = time.Since(start).Seconds()
	if resume.Code != 0 {
		r.Error = fmt.Sprintf("resume exit %d", resume.Code)
		t.Errorf("seed %d run %d, killed after %.2fs in %q: resume exit %d\nfirst run:\n%s\nresume:\n%s%s", r.Seed, r.Run, r.KillAfterS, r.KilledIn, resume.Code, first, resume.Stdout, resume.Stderr)
		return
	}
	st := w.Sim.State()
	r.Servers, r.Bootstraps, r.BootstrapCalls = len(st.Latitude.Servers), st.Bootstraps, st.BootstrapCalls
	if r.BootstrapCalls != 1 {
		t.Errorf("seed %d run %d, killed in %q: %d Bootstrap calls over the %d control planes and both runs, want exactly 1", r.Seed, r.Run, r.KilledIn, r.BootstrapCalls, r.ControlPlanes)
	}
	secretsAfter, err := os.ReadFile(w.ClusterFile(name, talos.SecretsFile))
	if err != nil {
		t.Fatal(err)
	}
	r.SameSecret = len(secretsBefore) == 0 || bytes.Equal(secretsBefore, secretsAfter)
	// Every node carries the cluster's one OS CA.
	sec, err := talos.ParseSecrets(secretsAfter)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range st.Nodes {
		if !n.Running {
			continue
		}
		cfg := w.Sim.Node(n.Hostname).Config()
		if cfg == nil || !bytes.Equal(cfg.Machine().Security().IssuingCA().Crt, sec.Bundle.Certs.OS.Crt) {
			r.SameSecret = false
			t.Errorf("seed %d run %d: node %s does not carry the cluster's OS CA", r.Seed, r.Run, n.Hostname)
		}
	}
	if !r.SameSecret {
		t.Errorf("seed %d run %d: the Talos secrets changed on resume", r.Seed, r.Run)
	}
	w.checkCluster(name, "minimal", r.Nodes, r.ControlPlanes)
	r.Finished = !t.Failed() && r.Servers == r.Nodes && r.Bootstraps == 1 && r.BootstrapCalls == 1
}

// runningSteps names the steps the journal shows running, in pipeline
// order and joined with "+": "" before the journal existed, "between
// steps" when none runs, "finished" when every step is done.
func runningSteps(w *world, name string) string {
	j := w.Journal(name)
	if j == nil || len(j.Steps) == 0 {
		return ""
	}
	running, finished := simworld.RunningSteps(j)
	switch {
	case running != "":
		return running
	case finished:
		return "finished"
	}
	return "between steps"
}

// An interrupted deploy stops at a safe point, exits 130 saying how to go
// on, and the same command finishes it.
func TestInterruptThenResume(t *testing.T) {
	w := newWorld(t, sim.Options{})
	args := simworld.DeployArgs("intr", "minimal", 2)
	first := w.Start(args...)
	// Interrupt while the servers deploy (10 simulated minutes: a second).
	for deadline := time.Now().Add(10 * time.Second); len(w.Sim.Latitude().State().Servers) < 2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			first.Signal(os.Kill)
			t.Fatalf("no servers created:\n%s", first.Output())
		}
	}
	first.Signal(os.Interrupt)
	err := first.Wait()
	if out := first.Output(); first.ExitCode() != 130 || !bytes.Contains(out, []byte("rerun the same command to resume")) ||
		!bytes.Contains(out, []byte("cto destroy --name intr")) {
		t.Fatalf("interrupted deploy: %v, exit %d; want 130 and how to resume or destroy:\n%s", err, first.ExitCode(), out)
	}
	if runningSteps(w, "intr") == "finished" {
		t.Fatalf("the deploy finished before the interrupt:\n%s", first.Output())
	}
	if r := w.Run(args...); r.Code != 0 {
		t.Fatalf("resume exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	w.checkCluster("intr", "minimal", 2, 1)
	w.destroy("intr")
}
