// Package smallfs mounts a small file system for tests of a full disk. It
// needs root; without it, or when the mount fails, the test is skipped on a
// developer's machine and fails in continuous integration, which runs as
// root, so a disk-full test can never pass there by skipping.
package smallfs

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Mount mounts a tmpfs of size (as mount(8) takes it: 64k, 4m) and mode
// 0700 on dir, and unmounts it when the test ends.
func Mount(t testing.TB, dir, size string) {
	t.Helper()
	if os.Geteuid() != 0 {
		unavailable(t, "mounting a small tmpfs needs root")
		return
	}
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", "tmpfs", dir).CombinedOutput()
	if err != nil {
		unavailable(t, "cannot mount a tmpfs on "+dir+": "+err.Error()+" "+strings.TrimSpace(string(out)))
		return
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
}

// unavailable skips, or fails in CI.
func unavailable(t testing.TB, why string) {
	t.Helper()
	if InCI() {
		t.Fatalf("%s; in CI (CI=%s) a full-disk test must run, not skip", why, os.Getenv("CI"))
	}
	t.Skip(why)
}

// InCI reports whether the tests run in continuous integration.
func InCI() bool {
	v := strings.ToLower(os.Getenv("CI"))
	return v == "true" || v == "1"
}
