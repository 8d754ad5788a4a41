package cli

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// countingPlans serves the Latitude double and counts its GET /plans.
func countingPlans(t *testing.T, h http.Handler) (string, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Path == "/plans" {
			n.Add(1)
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, &n
}

func TestPlansAnswerFromTheCache(t *testing.T) {
	f, _ := latitudeEnv(t)
	urlA, callsA := countingPlans(t, f)
	urlB, callsB := countingPlans(t, f)
	t.Setenv("LATITUDESH_API_URL", urlA)
	dir := t.TempDir()
	plans := func(extra ...string) string {
		t.Helper()
		code, stdout, stderr := run(t, append([]string{"plans", "--provider", "latitude", "--state-dir", dir, "-o", "json"}, extra...)...)
		if code != 0 {
			t.Fatalf("plans %v: exit %d: %s", extra, code, stderr)
		}
		return stdout
	}
	first := plans()
	if callsA.Load() != 1 {
		t.Fatalf("first call listed plans %d times, want 1", callsA.Load())
	}
	if again := plans(); again != first || callsA.Load() != 1 {
		t.Fatalf("second call: %d list calls (want 1), same output %v", callsA.Load(), again == first)
	}
	plans("--refresh")
	if callsA.Load() != 2 {
		t.Fatalf("--refresh: %d list calls, want 2", callsA.Load())
	}
	gpu := plans("--gpu")
	if callsA.Load() != 3 || gpu == first {
		t.Fatalf("another filter: %d list calls (want 3); same answer as unfiltered: %v", callsA.Load(), gpu == first)
	}
	plans("--api-url", urlB)
	if callsB.Load() != 1 || callsA.Load() != 3 {
		t.Fatalf("another endpoint: %d calls there (want 1), %d here (want 3)", callsB.Load(), callsA.Load())
	}
	t.Setenv("LATITUDESH_API_URL", urlB)
	plans()
	if callsB.Load() != 1 {
		t.Fatalf("the same endpoint by variable: %d calls, want the cached answer", callsB.Load())
	}
	// The cache holds no token.
	code, stdout, _ := run(t, "plans", "--provider", "latitude", "--state-dir", dir)
	if code != 0 || !strings.Contains(stdout, "c2-small-x86") {
		t.Fatalf("table from the cache: %d\n%s", code, stdout)
	}
	assertNoTokenUnder(t, dir, f.Token())
}

// assertNoTokenUnder fails when any file under dir contains token.
func assertNoTokenUnder(t *testing.T, dir, token string) {
	t.Helper()
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if data, _ := os.ReadFile(path); strings.Contains(string(data), token) {
			t.Errorf("%s holds the API token", path)
		}
		return nil
	})
}
