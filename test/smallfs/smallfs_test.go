package smallfs

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
)

// recordingTB notes whether Mount skipped or failed, stopping the
// goroutine as testing.T does.
type recordingTB struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (r *recordingTB) Helper() {}
func (r *recordingTB) Skip(args ...any) {
	r.skipped, r.msg = true, fmt.Sprint(args...)
	runtime.Goexit()
}
func (r *recordingTB) Fatalf(format string, args ...any) {
	r.failed, r.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (r *recordingTB) Cleanup(f func()) {}

func mountWith(dir string) *recordingTB {
	r := &recordingTB{}
	done := make(chan struct{})
	go func() { defer close(done); Mount(r, dir, "64k") }()
	<-done
	return r
}

// A mount that cannot be made fails in CI and skips elsewhere.
func TestUnavailableFailsInCI(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-dir")
	t.Setenv("CI", "true")
	if r := mountWith(missing); !r.failed || r.skipped {
		t.Errorf("in CI a mount that cannot be made must fail the test: %+v", r)
	}
	t.Setenv("CI", "")
	if r := mountWith(missing); !r.skipped || r.failed {
		t.Errorf("outside CI a mount that cannot be made skips: %+v", r)
	}
}

// As root the mount is made and is small.
func TestMountIsSmall(t *testing.T) {
	dir := t.TempDir()
	Mount(t, dir, "64k")
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	if size := st.Blocks * uint64(st.Bsize); size > 64<<10 {
		t.Errorf("the mount holds %d bytes, want at most 64 KiB", size)
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Errorf("mode %o", fi.Mode().Perm())
	}
}
