package statetest

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/cto-platform/cto/internal/state"
)

// The lock holder learns its cluster from these.
const (
	envLockRoot = "STATETEST_LOCK_ROOT"
	envLockName = "STATETEST_LOCK_NAME"
)

// MaybeHoldLock is for TestMain: in a process StartLockHolder started, it
// takes the deploy lock of the named cluster, says "locked" on stdout and
// keeps the lock for a minute, then exits; in any other it returns at once.
func MaybeHoldLock() {
	root := os.Getenv(envLockRoot)
	if root == "" {
		return
	}
	c, err := state.Open(root, os.Getenv(envLockName), true)
	if err != nil {
		os.Exit(3)
	}
	if _, err := c.Lock("deploy"); err != nil {
		os.Exit(4)
	}
	fmt.Println("locked")
	time.Sleep(time.Minute)
	os.Exit(0)
}

// StartLockHolder runs this test binary again (its TestMain must call
// MaybeHoldLock) as another process that holds the deploy lock of cluster
// name under root, and returns once it does. The process is killed when
// the test ends.
func StartLockHolder(t testing.TB, root, name string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envLockRoot+"="+root, envLockName+"="+name)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	buf := make([]byte, 16)
	if n, _ := out.Read(buf); !strings.Contains(string(buf[:n]), "locked") {
		t.Fatalf("child did not take the lock: %q", buf[:n])
	}
	return cmd
}
