package deploy

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cto-platform/cto/internal/clock"
	"github.com/cto-platform/cto/internal/events"
	"github.com/cto-platform/cto/internal/platform"
)

// apiServerStartingFor answers like a new cluster's API server behind a
// control plane that just handed out its kubeconfig: nothing (503) for a
// while on the run's clock, then ready.
func apiServerStartingFor(t *testing.T, clk clock.Clock, d time.Duration) (kubeconfig string) {
	t.Helper()
	up := clk.Now().Add(d)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if clk.Now().Before(up) {
			http.Error(w, "[-]etcd failed: not ready", http.StatusServiceUnavailable)
			return
		}
		switch r.URL.Path {
		case "/readyz":
			fmt.Fprint(w, "ok")
		case "/version":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"major":"1","minor":"36","gitVersion":"v1.36.3"}`)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	path := filepath.Join(t.TempDir(), "kubeconfig")
	data := fmt.Sprintf("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: %s}\ncontexts:\n- name: c\n  context: {cluster: c, user: u}\ncurrent-context: c\nusers:\n- name: u\n  user: {token: t}\n", srv.URL)
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// The platform step waits minutes for the API server, on the run's clock,
// saying what it waits for; it gives up after apiServerTimeout.
func TestPlatformWaitsForTheAPIServer(t *testing.T) {
	r := newRun(t, t.TempDir())
	// At 600x the minute of slack in the check below is 100 ms of wall
	// time, which a busy machine does not eat.
	r.Clock = clock.NewScaled(600)
	r.Deps.Spec.Provider = "latitude"
	start := r.Clock.Now()
	kubeconfig := apiServerStartingFor(t, r.Clock, 4*time.Minute)
	// One reachability call, as the step made before, fails while the API
	// server starts.
	if _, err := platform.CheckReachable(context.Background(), kubeconfig); err == nil {
		t.Fatal("the API server answered before it started: the test proves nothing")
	}
	v, err := waitAPIServer(context.Background(), r, kubeconfig)
	if err != nil || v != "v1.36.3" {
		t.Fatalf("waitAPIServer = %q, %v; want the version once the API server is ready", v, err)
	}
	if waited := r.Clock.Now().Sub(start); waited < 4*time.Minute || waited > 5*time.Minute {
		t.Errorf("waited %s on the run's clock, want about 4m", waited)
	}
	said := 0
	for _, e := range r.Events.(*events.Recorder).Snapshot() {
		if strings.Contains(e.Message, "waiting for the Kubernetes API server") {
			said++
		}
	}
	if said < 2 {
		t.Errorf("said %d times what it waits for over minutes, want once a minute", said)
	}

	never := apiServerStartingFor(t, r.Clock, 24*time.Hour)
	if _, err := waitAPIServer(context.Background(), r, never); err == nil || !strings.Contains(err.Error(), "did not answer ready within 15m") {
		t.Errorf("an API server that never comes: %v; want a timeout naming 15m", err)
	}
}
