package state

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// ErrLocked means another cto process holds the cluster's lock.
var ErrLocked = errors.New("cluster is locked")

// Lock takes the cluster's lock for this process. It fails fast, naming the
// holder's PID, when another live process has it; a lock left by a process
// that died is taken over. The returned function releases it.
func (c *Cluster) Lock(command string) (unlock func(), err error) {
	path := c.Path("lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock: %w", err)
	}
	// flock is released by the kernel when the process dies, so a crashed
	// deploy never leaves the cluster locked.
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path)
		f.Close()
		pid, what := parseHolder(string(holder))
		if pid == "" {
			pid = "unknown"
		}
		return nil, fmt.Errorf("%w: cluster %q is in use by process %s (%s); wait for it to finish or stop it", ErrLocked, c.Name, pid, what)
	}
	if err := f.Truncate(0); err == nil {
		fmt.Fprintf(f, "%d %s\n", os.Getpid(), command)
		f.Sync()
	}
	return func() {
		f.Truncate(0)
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

func parseHolder(s string) (pid, what string) {
	fields := strings.Fields(s)
	if len(fields) == 0 {
		return "", "cto"
	}
	if _, err := strconv.Atoi(fields[0]); err != nil {
		return "", "cto"
	}
	what = "cto"
	if len(fields) > 1 {
		what = "cto " + strings.Join(fields[1:], " ")
	}
	return fields[0], what
}
