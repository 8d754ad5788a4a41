package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// -f on a device that never ends, or on a file past the cap, is one line
// and exit 2, read no further than the cap.
func TestDeployConfigFileSizeCapped(t *testing.T) {
	big := filepath.Join(t.TempDir(), "big.yaml")
	body := "apiVersion: cto.dev/v1alpha1\nkind: Cluster\n# " + strings.Repeat("x", 2<<20) + "\n"
	if err := os.WriteFile(big, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/dev/zero", big} {
		start := time.Now()
		code, stdout, stderr := run(t, "--state-dir", t.TempDir(), "deploy", "-f", path)
		if code != ExitBadInput || !strings.Contains(stderr, "larger than 1 MiB") || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("deploy -f %s: exit %d, want 2 with one line saying it is too large\nstdout: %s\nstderr: %s", path, code, stdout, stderr)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("deploy -f %s took %s", path, d)
		}
	}
}

// -f on a FIFO nobody writes to blocks in open(2); an interrupt (the
// command's context ending, as SIGINT does in Main) stops it at once with
// exit 130.
func TestDeployConfigFIFOInterruptible(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "cluster.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Unblock the read left behind so the test binary exits cleanly.
		if w, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			w.Close()
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	var out, errOut bytes.Buffer
	start := time.Now()
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, Streams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}, []string{"--state-dir", t.TempDir(), "deploy", "-f", fifo})
	}()
	select {
	case code := <-done:
		if code != ExitInterrupted || !strings.Contains(errOut.String(), "interrupted") {
			t.Errorf("exit %d, want 130\nstderr: %s", code, errOut.String())
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("the interrupt took %s to stop the read", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("deploy -f on a FIFO ignored the interrupt for 10s")
	}
}
