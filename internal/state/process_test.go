package state_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cto-platform/cto/internal/state"
	"github.com/cto-platform/cto/internal/state/statetest"
)

// These tests run this binary again as a child: the crash test as one that
// rewrites a file forever (the parent kills it mid-write and checks the
// file is whole), the lock test as one that holds a cluster's lock.
func TestMain(m *testing.M) {
	if os.Getenv("STATE_TEST_CHILD") == "writer" {
		path := os.Getenv("STATE_TEST_PATH")
		for i := 0; ; i++ {
			doc := map[string]any{"generation": i, "payload": strings.Repeat(fmt.Sprint(i%10), 256<<10)}
			data, _ := json.Marshal(doc)
			if err := state.WriteFile(path, data, 0o600); err != nil {
				os.Exit(3)
			}
		}
	}
	statetest.MaybeHoldLock()
	os.Exit(m.Run())
}

func TestAtomicWriteSurvivesKill(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	for round := 0; round < 5; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "STATE_TEST_CHILD=writer", "STATE_TEST_PATH="+path)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Let it write a few generations, then kill it without warning.
		time.Sleep(time.Duration(30+round*17) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		data, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			continue // killed before the first rename: no file, never half a file
		}
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Generation int    `json:"generation"`
			Payload    string `json:"payload"`
		}
		if err := json.Unmarshal(data, &doc); err != nil {
			t.Fatalf("round %d: file is torn after SIGKILL (%d bytes): %v", round, len(data), err)
		}
		if len(doc.Payload) != 256<<10 {
			t.Fatalf("round %d: payload has %d bytes", round, len(doc.Payload))
		}
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, ".state.json.tmp-*"))
	t.Logf("temporary files left by killed writers: %d (ignored by readers)", len(leftovers))
}

func TestLockNamesHolder(t *testing.T) {
	root := t.TempDir()
	cmd := statetest.StartLockHolder(t, root, "demo")
	c, _ := state.Open(root, "demo", false)
	_, err := c.Lock("deploy")
	if !errors.Is(err, state.ErrLocked) {
		t.Fatalf("second Lock = %v, want ErrLocked", err)
	}
	if !strings.Contains(err.Error(), fmt.Sprint(cmd.Process.Pid)) {
		t.Fatalf("lock error does not name the holder PID %d: %v", cmd.Process.Pid, err)
	}
	// Once the holder dies the lock is free again.
	cmd.Process.Kill()
	cmd.Wait()
	unlock, err := c.Lock("deploy")
	if err != nil {
		t.Fatalf("Lock after the holder died: %v", err)
	}
	unlock()
}
