package smallfs

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/cto-platform/cto/test/tbtest"
)

func mountWith(dir string) *tbtest.Recorder {
	return tbtest.Run(func(t testing.TB) { Mount(t, dir, "64k") })
}

// A mount that cannot be made fails in CI and skips elsewhere.
func TestUnavailableFailsInCI(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-dir")
	t.Setenv("CI", "true")
	if r := mountWith(missing); !r.Failed() || r.Skipped() {
		t.Errorf("in CI a mount that cannot be made must fail the test: %+v", r)
	}
	t.Setenv("CI", "")
	if r := mountWith(missing); !r.Skipped() || r.Failed() {
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
