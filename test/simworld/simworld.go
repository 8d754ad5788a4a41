// Package simworld is a user at a simulated datacenter (test/sim): a home
// folder of its own, and the cto binary, built once per test package, run
// from it with the environment pointed at the datacenter.
package simworld

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/cto-platform/cto/internal/deploy"
	"github.com/cto-platform/cto/internal/state"
	"github.com/cto-platform/cto/test/kubeenv"
	"github.com/cto-platform/cto/test/sim"
)

// ctoBin is the cto binary Main builds for the test package.
var ctoBin string

// Main builds the cto binary, runs the package's tests, then calls after
// (when not nil: a failure there fails the run) and removes the binary.
// Call it from TestMain.
func Main(m *testing.M, after func() error) {
	dir, err := os.MkdirTemp("", "cto-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ctoBin = filepath.Join(dir, "cto")
	_, file, _, _ := runtime.Caller(0)
	build := exec.Command("go", "build", "-o", ctoBin, "./cmd/cto")
	build.Dir = filepath.Join(filepath.Dir(file), "..", "..")
	build.Env = append(os.Environ(), "CGO_ENABLED=0") // the static binary the README builds
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build cto:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	if after != nil {
		if err := after(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// World is one simulated datacenter and a user's home pointed at it.
type World struct {
	T    *testing.T
	Sim  *sim.Sim
	Home string // $HOME, with CTO_HOME and KUBECONFIG inside
	// Env overrides the datacenter's environment (later entries win).
	Env []string
}

// New starts a datacenter for the test, closed when it ends. Without the
// test Kubernetes binaries the test fails under CI=true and is skipped
// elsewhere.
func New(t *testing.T, opts sim.Options) *World {
	t.Helper()
	if ctoBin == "" {
		t.Fatal("simworld.New needs simworld.Main in the package's TestMain")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	s, err := sim.Start(ctx, opts)
	if err != nil {
		kubeenv.SkipWithoutBinaries(t, err)
		t.Fatalf("start the simulated datacenter: %v", err)
	}
	t.Cleanup(s.Close)
	return &World{T: t, Sim: s, Home: t.TempDir()}
}

// StateDir is the user's CTO_HOME.
func (w *World) StateDir() string { return filepath.Join(w.Home, ".cto") }

// ClusterDir is a cluster's state folder.
func (w *World) ClusterDir(cluster string) string {
	return filepath.Join(w.StateDir(), "clusters", cluster)
}

// ClusterFile is the path of a file in a cluster's state folder.
func (w *World) ClusterFile(cluster, name string) string {
	return filepath.Join(w.ClusterDir(cluster), name)
}

// UserKubeconfig is the kubeconfig the user's kubectl reads (Environ's
// KUBECONFIG), where cto merges the cluster's context.
func (w *World) UserKubeconfig() string { return filepath.Join(w.Home, ".kube", "config") }

// Environ is the environment cto runs with.
func (w *World) Environ() []string { return append(w.Sim.UserEnv(w.Home), w.Env...) }

// Command is cto with args, not yet started.
func (w *World) Command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, ctoBin, args...)
	cmd.Env = w.Environ()
	return cmd
}

// Run is one finished invocation of cto.
type Run struct {
	Code           int
	Stdout, Stderr string
	Took           time.Duration
}

func (r Run) String() string {
	return fmt.Sprintf("exit %d after %s\nstdout:\n%s\nstderr:\n%s", r.Code, r.Took.Round(time.Millisecond), r.Stdout, r.Stderr)
}

// runLimit bounds one cto run in wall time: a deploy takes well under a
// minute alone, but the fault matrix runs its rows side by side, each with
// a cluster whose controllers and nodes share the machine's cores.
const runLimit = 8 * time.Minute

// Run runs cto to its end (at most runLimit).
func (w *World) Run(args ...string) Run {
	w.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), runLimit)
	defer cancel()
	var out, errOut bytes.Buffer
	cmd := w.Command(ctx, args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	start := time.Now()
	err := cmd.Run()
	r := Run{Stdout: out.String(), Stderr: errOut.String(), Took: time.Since(start)}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.Code = exit.ExitCode()
	case err != nil:
		w.T.Fatalf("run cto %v: %v", args, err)
	}
	if ctx.Err() != nil {
		w.T.Fatalf("cto %v did not end within %s:\n%s", args, runLimit, r)
	}
	return r
}

// MustRun runs cto to its end and fails the test unless it exits 0.
func (w *World) MustRun(args ...string) Run {
	w.T.Helper()
	r := w.Run(args...)
	if r.Code != 0 {
		w.T.Fatalf("%s exit %d\n%s%s", args[0], r.Code, r.Stdout, r.Stderr)
	}
	return r
}

// Journal reads the cluster's state.json, nil when there is none.
func (w *World) Journal(cluster string) *state.Journal {
	c, err := state.Open(w.StateDir(), cluster, false)
	if err != nil {
		return nil
	}
	j, err := c.Load()
	if err != nil {
		return nil
	}
	return j
}

// RunningSteps names the deploy's steps the journal shows running, in
// pipeline order and joined with "+" ("" when none runs), and says whether
// it shows every step done.
func RunningSteps(j *state.Journal) (running string, finished bool) {
	var names []string
	done := 0
	for _, s := range deploy.StepNames {
		rec, ok := j.Step(s)
		switch {
		case ok && rec.Status == state.StepRunning:
			names = append(names, s)
		case ok && rec.Status == state.StepDone:
			done++
		}
	}
	return strings.Join(names, "+"), done == len(deploy.StepNames)
}

// DeployArgs is a Latitude deploy of the simulated datacenter.
func DeployArgs(name, profile string, nodes int, extra ...string) []string {
	return append([]string{"deploy", "--provider", "latitude", "--name", name, "--plan", "c2-small-x86",
		"--nodes", fmt.Sprint(nodes), "--region", "DAL", "--profile", profile, "--yes"}, extra...)
}
