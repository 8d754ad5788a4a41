package state

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/cto-platform/cto/test/smallfs"
)

// A write on a full disk fails and leaves the old file whole and no
// temporary file behind. It needs a small tmpfs, so root (CI runs as root
// and fails the test rather than skip it).
func TestWriteFileOnAFullDiskKeepsTheOldContent(t *testing.T) {
	dir := t.TempDir()
	smallfs.Mount(t, dir, "64k")
	path := filepath.Join(dir, "state.json")
	old := []byte(`{"schema_version":1,"cluster":"demo"}` + "\n")
	if err := WriteFile(path, old, 0o600); err != nil {
		t.Fatal(err)
	}
	// Fill what is left.
	filler, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 4096)
	for {
		if _, err := filler.Write(chunk); err != nil {
			break
		}
	}
	filler.Close()

	err = WriteFile(path, bytes.Repeat([]byte("x"), 32<<10), 0o600)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("write on a full disk: %v, want ENOSPC", err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, old) {
		t.Errorf("the old content did not survive: %q", got)
	}
	if tmp, _ := filepath.Glob(filepath.Join(dir, ".state.json.tmp-*")); len(tmp) > 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
}
