package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cto-platform/cto/internal/pipeline"
	"github.com/cto-platform/cto/internal/state"
	"github.com/cto-platform/cto/internal/talos"
	"github.com/cto-platform/cto/test/kubeenv"
	"github.com/cto-platform/cto/test/sim"
	"github.com/cto-platform/cto/test/simworld"
)

func TestResumeAfterKill(t *testing.T) {
	runs := 20
	if v, err := strconv.Atoi(os.Getenv(ResumeRunsEnv)); err == nil && v > 0 {
		runs = v
	}
	// Two API servers, each shared by the runs one worker plays in turn:
	// cluster names differ per run.
	const workers = 2
	kubes := make(chan *kubeenv.Env, workers)
	for range workers {
		kubes <- kubeenv.StartForTestWith(t, kubeenv.Options{Workloads: true})
	}

	var mu sync.Mutex
	var results []KillRun
	t.Run("runs", func(t *testing.T) {
		for seed := uint64(1); seed <= uint64(runs); seed++ {
			t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
				t.Parallel()
				k := <-kubes
				defer func() { kubes <- k }()
				r := killAndResume(t, k, seed)
				mu.Lock()
				results = append(results, r)
				mu.Unlock()
			})
		}
	})

	byStep := map[string]int{}
	failed := 0
	for _, r := range results {
		byStep[r.KilledIn]++
		if !r.Finished {
			failed++
		}
	}
	t.Logf("resume after SIGKILL: %d runs, %d finished with exactly N servers, one bootstrap and the same secrets; killed in: %v", len(results), len(results)-failed, byStep)
	if path := os.Getenv(ResumeReportEnv); path != "" {
		data, _ := json.MarshalIndent(results, "", "  ")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Error(err)
		}
	}
}

// killAndResume starts a deploy, kills it at a random point, runs the same
// command again and checks the cluster.
func killAndResume(t *testing.T, k *kubeenv.Env, seed uint64) KillRun {
	rng := rand.New(rand.NewPCG(seed, 42))
	r := KillRun{Seed: seed, Nodes: 1 + int(seed%3)}
	w := newWorld(t, sim.Options{Kube: k, Seed: seed})
	name := fmt.Sprintf("r%d", seed)
	args := simworld.DeployArgs(name, "minimal", r.Nodes)

	// Most of a deploy's wall time is the platform step; kill points
	// spread over the steps before it and its start.
	kill := time.Duration(rng.Float64() * float64(2200*time.Millisecond))
	r.KillAfterS = kill.Seconds()
	cmd := w.Command(context.Background(), args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
		r.KilledIn = "finished"
	case <-time.After(kill):
		cmd.Process.Signal(syscall.SIGKILL)
		<-done
		r.KilledIn = runningStep(w, name)
	}
	secretsBefore, _ := os.ReadFile(w.ClusterFile(name, talos.SecretsFile))

	start := time.Now()
	resume := w.Run(args...)
	r.ResumeS = time.Since(start).Seconds()
	if resume.Code != 0 {
		r.Error = fmt.Sprintf("resume exit %d", resume.Code)
		t.Errorf("seed %d, killed after %s in %q: resume exit %d\nfirst run:\n%s\nresume:\n%s%s", seed, kill, r.KilledIn, resume.Code, out.String(), resume.Stdout, resume.Stderr)
		return r
	}
	st := w.Sim.State()
	r.Servers, r.Bootstraps = len(st.Latitude.Servers), st.Bootstraps
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
			t.Errorf("seed %d: node %s does not carry the cluster's OS CA", seed, n.Hostname)
		}
	}
	if !r.SameSecret {
		t.Errorf("seed %d: the Talos secrets changed on resume", seed)
	}
	w.checkCluster(name, "minimal", r.Nodes, 1)
	r.Finished = !t.Failed() && r.Servers == r.Nodes && r.Bootstraps == 1
	return r
}

// runningStep is the first step of the journal that is not done.
func runningStep(w *world, name string) string {
	j := w.Journal(name)
	if j == nil || len(j.Steps) == 0 {
		return ""
	}
	for _, s := range pipeline.StepNames {
		rec := j.Steps[s]
		if rec == nil || rec.Status != state.StepDone {
			return s
		}
	}
	return "finished"
}

// An interrupted deploy stops at a safe point, exits 130 saying how to go
// on, and the same command finishes it.
func TestInterruptThenResume(t *testing.T) {
	w := newWorld(t, sim.Options{})
	args := simworld.DeployArgs("intr", "minimal", 2)
	cmd := w.Command(context.Background(), args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Interrupt while the servers deploy (10 simulated minutes: a second).
	for deadline := time.Now().Add(10 * time.Second); len(w.Sim.Latitude().State().Servers) < 2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no servers created:\n%s", out.String())
		}
	}
	cmd.Process.Signal(os.Interrupt)
	err := cmd.Wait()
	if cmd.ProcessState.ExitCode() != 130 || !bytes.Contains(out.Bytes(), []byte("rerun the same command to resume")) ||
		!bytes.Contains(out.Bytes(), []byte("cto destroy --name intr")) {
		t.Fatalf("interrupted deploy: %v, exit %d; want 130 and how to resume or destroy:\n%s", err, cmd.ProcessState.ExitCode(), out.String())
	}
	if runningStep(w, "intr") == "finished" {
		t.Fatalf("the deploy finished before the interrupt:\n%s", out.String())
	}
	if r := w.Run(args...); r.Code != 0 {
		t.Fatalf("resume exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	w.checkCluster("intr", "minimal", 2, 1)
	w.destroy("intr")
}
