package simworld

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// KillSeed is the seed of a test's kill points: the value of env, to
// replay a run, else the clock. It logs the seed and how to replay it.
func KillSeed(t testing.TB, env string) uint64 {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv(env); v != "" {
		var err error
		if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("%s=%q is not a seed", env, v)
		}
	}
	t.Logf("kill points from seed %d (replay: %s=%d)", seed, env, seed)
	return seed
}

// Started is a cto run going on in the background, its stdout and stderr
// captured together.
type Started struct {
	Began time.Time
	cmd   *exec.Cmd
	out   bytes.Buffer  // read once done is closed
	done  chan struct{} // closed when the process ended, err set
	err   error
}

// Start starts cto with args in the background. Like Run, it is bounded
// by runLimit; the process is killed when the test ends.
func (w *World) Start(args ...string) *Started {
	w.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), runLimit)
	w.T.Cleanup(cancel)
	s := &Started{cmd: w.Command(ctx, args...), done: make(chan struct{})}
	s.cmd.Stdout, s.cmd.Stderr = &s.out, &s.out
	if err := s.cmd.Start(); err != nil {
		w.T.Fatal(err)
	}
	s.Began = time.Now()
	go func() {
		s.err = s.cmd.Wait()
		close(s.done)
	}()
	return s
}

// Wait waits for the run to end: nil when it exited 0.
func (s *Started) Wait() error {
	<-s.done
	return s.err
}

// Signal sends the process sig.
func (s *Started) Signal(sig os.Signal) { s.cmd.Process.Signal(sig) }

// ExitCode is the ended run's exit code.
func (s *Started) ExitCode() int {
	<-s.done
	return s.cmd.ProcessState.ExitCode()
}

// Output is what the run printed. It waits for the run to end: kill a run
// that must not go on first.
func (s *Started) Output() []byte {
	<-s.done
	return s.out.Bytes()
}

// KillWhen sends the run SIGKILL once ready returns (ready runs on a
// goroutine of its own), unless the run ends first, and waits for its end.
// killed says whether the signal was sent; err is how the process ended,
// nil when it finished its work before the signal landed.
func (s *Started) KillWhen(ready func()) (killed bool, err error) {
	at := make(chan struct{})
	go func() {
		ready()
		close(at)
	}()
	select {
	case <-s.done:
		return false, s.err
	case <-at:
		s.Signal(os.Kill)
		return true, s.Wait()
	}
}
