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
)

// Environment of the resume test: how many kill-and-resume runs (default
// 20), and a file to write their outcomes to as JSON.
const (
	resumeRunsEnv   = "CTO_E2E_RESUME_RUNS"
	resumeReportEnv = "CTO_E2E_RESUME_REPORT"
)

// KillRun is one kill-and-resume run.
type KillRun struct {
	Seed       uint64  `json:"seed"`
	Nodes      int     `json:"nodes"`
	KillAfterS float64 `json:"kill_after_seconds"`
	// KilledIn is the step the journal had running when the process was
	// killed ("" before the journal existed, "finished" if the deploy
	// was already done).
	KilledIn string `json:"killed_in"`
	// ResumeS is how long the resuming run took.
	ResumeS    float64 `json:"resume_seconds"`
	Servers    int     `json:"servers"`
	Bootstraps int     `json:"bootstraps"`
	SameSecret bool    `json:"same_secrets"`
	Finished   bool    `json:"finished"`
	Error      string  `json:"error,omitempty"`
}

func TestResumeAfterKill(t *testing.T) {
	runs := 20
	if v, err := strconv.Atoi(os.Getenv(resumeRunsEnv)); err == nil && v > 0 {
		runs = v
	}
	// Two API servers, each shared by the runs one worker plays in turn:
	// cluster names differ per run.
	const workers = 2
	kubes := make(chan *kubeenv.Env, workers)
	for range workers {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		k, err := kubeenv.Start(ctx)
		cancel()
		if err != nil {
			newWorld(t, sim.Options{}) // skips or fails as every e2e test does
			t.Fatal(err)
		}
		t.Cleanup(k.Stop)
		kubes <- k
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
	if path := os.Getenv(resumeReportEnv); path != "" {
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
	args := deployArgs(name, "minimal", r.Nodes)

	// Most of a deploy's wall time is the platform step; kill points
	// spread over the steps before it and its start.
	kill := time.Duration(rng.Float64() * float64(2200*time.Millisecond))
	r.KillAfterS = kill.Seconds()
	cmd := w.command(context.Background(), args...)
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
	secretsBefore, _ := os.ReadFile(w.clusterFile(name, talos.SecretsFile))

	start := time.Now()
	code, stdout, stderr := w.cto(args...)
	r.ResumeS = time.Since(start).Seconds()
	if code != 0 {
		r.Error = fmt.Sprintf("resume exit %d", code)
		t.Errorf("seed %d, killed after %s in %q: resume exit %d\nfirst run:\n%s\nresume:\n%s%s", seed, kill, r.KilledIn, code, out.String(), stdout, stderr)
		return r
	}
	st := w.sim.State()
	r.Servers, r.Bootstraps = len(st.Latitude.Servers), st.Bootstraps
	secretsAfter, err := os.ReadFile(w.clusterFile(name, talos.SecretsFile))
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
		cfg := w.sim.Node(n.Hostname).Config()
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
	c, err := state.Open(w.home+"/.cto", name, false)
	if err != nil {
		return ""
	}
	j, err := c.Load()
	if err != nil || len(j.Steps) == 0 {
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
	args := deployArgs("intr", "minimal", 2)
	cmd := w.command(context.Background(), args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Interrupt while the servers deploy (10 simulated minutes: a second).
	for deadline := time.Now().Add(10 * time.Second); len(w.sim.Latitude().State().Servers) < 2; time.Sleep(10 * time.Millisecond) {
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
	code, stdout, stderr := w.cto(args...)
	if code != 0 {
		t.Fatalf("resume exit %d\n%s%s", code, stdout, stderr)
	}
	w.checkCluster("intr", "minimal", 2, 1)
	w.destroy("intr")
}
