package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cto-platform/cto/internal/state"
	"github.com/cto-platform/cto/test/kubeenv"
	"github.com/cto-platform/cto/test/sim"
	"github.com/cto-platform/cto/test/simworld"
)

func TestMain(m *testing.M) {
	simworld.Main(m, func() error {
		if err := writeResults(); err != nil {
			return fmt.Errorf("write results: %w", err)
		}
		return nil
	})
}

// world is one simulated datacenter and a user's home pointed at it.
type world struct{ *simworld.World }

// run is one finished invocation of cto.
type run = simworld.Run

func newWorld(t *testing.T, opts sim.Options) *world { return &world{simworld.New(t, opts)} }

func deployArgs(name string, nodes int, extra ...string) []string {
	return simworld.DeployArgs(name, "minimal", nodes, extra...)
}

// untracked lists what the provider holds for the cluster that the journal
// does not know: servers and VLANs that only a sweep by tag would find.
func (w *world) untracked(name string) []string {
	known := map[string]bool{}
	if j := w.Journal(name); j != nil {
		for _, r := range j.LiveResources("") {
			known[r.ID] = true
		}
		for _, n := range j.NodesCopy() {
			known[n.ServerID] = true
		}
	}
	var out []string
	st := w.Sim.State().Latitude
	for _, s := range st.Servers {
		if !known[s.ID] {
			out = append(out, "server "+s.ID+" ("+s.Hostname+")")
		}
	}
	for _, n := range st.Networks {
		if !known[n.ID] {
			out = append(out, "vlan "+n.ID)
		}
	}
	return out
}

// waitFor polls cond every few milliseconds until it holds or limit passes.
func waitFor(limit time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return false
}

// runningSteps names the steps the journal says are running, in the
// pipeline's order (several run side by side), or says there is no
// journal yet.
func runningSteps(j *state.Journal) string {
	if j == nil {
		return "before the journal"
	}
	if running, _ := simworld.RunningSteps(j); running != "" {
		return running
	}
	return "between steps"
}

// flakyTCP forwards connections to a target, refusing them (accept, then
// close) while down is set: an API server that is unreachable for a while.
// Going down also cuts the connections already open, as an API server that
// restarts does.
type flakyTCP struct {
	lis     net.Listener
	target  string
	down    atomic.Bool
	refused atomic.Int64
	cut     atomic.Int64

	mu   sync.Mutex
	open map[net.Conn]bool
}

// setDown takes the target down (cutting open connections) or back up.
func (p *flakyTCP) setDown(down bool) {
	p.down.Store(down)
	if !down {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.open {
		c.Close()
		p.cut.Add(1)
	}
}

func startFlakyTCP(t *testing.T, target string) *flakyTCP {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &flakyTCP{lis: lis, target: target, open: map[net.Conn]bool{}}
	t.Cleanup(func() { lis.Close() })
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			if p.down.Load() {
				p.refused.Add(1)
				c.Close()
				continue
			}
			go p.pipe(c)
		}
	}()
	return p
}

func (p *flakyTCP) pipe(c net.Conn) {
	defer c.Close()
	p.mu.Lock()
	p.open[c] = true
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.open, c)
		p.mu.Unlock()
	}()
	u, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer u.Close()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); io.Copy(u, c); u.(*net.TCPConn).CloseWrite() }()
	go func() { defer wg.Done(); io.Copy(c, u); c.(*net.TCPConn).CloseWrite() }()
	wg.Wait()
}

func (p *flakyTCP) addr() string { return p.lis.Addr().String() }

// flakyKube starts an API server whose kubeconfig points through a flaky
// proxy, for sim.Options.Kube.
func flakyKube(t *testing.T) (*kubeenv.Env, *flakyTCP) {
	t.Helper()
	env := kubeenv.StartForTestWith(t, kubeenv.Options{Workloads: true})
	u, err := url.Parse(env.Server)
	if err != nil {
		t.Fatal(err)
	}
	proxy := startFlakyTCP(t, u.Host)
	data, err := os.ReadFile(env.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	proxied := "https://" + proxy.addr()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, bytes.ReplaceAll(data, []byte(env.Server), []byte(proxied)), 0o600); err != nil {
		t.Fatal(err)
	}
	return &kubeenv.Env{Kubeconfig: path, Server: proxied, Token: env.Token}, proxy
}

// brokenMirror serves the datacenter's chart mirror, answering 404 for
// every file of one chart while broken is set.
type brokenMirror struct {
	srv    *http.Server
	url    string
	chart  string
	broken atomic.Bool
	misses atomic.Int64
}

func startBrokenMirror(t *testing.T, upstream, chart string) *brokenMirror {
	u, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := &brokenMirror{chart: chart, url: "http://" + lis.Addr().String()}
	rp := httputil.NewSingleHostReverseProxy(u)
	// The repository index names the charts by absolute URL: point them
	// here, so every chart comes through the break.
	rp.ModifyResponse = func(resp *http.Response) error {
		if !strings.HasSuffix(resp.Request.URL.Path, "index.yaml") {
			return nil
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		body = bytes.ReplaceAll(body, []byte(upstream), []byte(m.url))
		resp.Body = io.NopCloser(bytes.NewReader(body))
		resp.ContentLength = int64(len(body))
		resp.Header.Set("Content-Length", fmt.Sprint(len(body)))
		return nil
	}
	m.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if m.broken.Load() && strings.Contains(r.URL.Path, chart) {
			m.misses.Add(1)
			http.NotFound(w, r)
			return
		}
		rp.ServeHTTP(w, r)
	})}
	go m.srv.Serve(lis)
	t.Cleanup(func() { m.srv.Close() })
	return m
}

// simEnv returns a value of the datacenter's environment.
func (w *world) simEnv(key string) string {
	for _, kv := range slices.Backward(w.Sim.Env()) {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// events decodes the NDJSON lines of a -o json run.
func events(stdout string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(stdout, "\n") {
		var e map[string]any
		if json.Unmarshal([]byte(line), &e) == nil {
			out = append(out, e)
		}
	}
	return out
}

// refusePods makes the cluster refuse namespace's pods (a ResourceQuota of
// none), so a component there cannot come up; allowPods undoes it.
func refusePods(w *world, namespace string) {
	if err := w.Sim.Kube().RefusePods(context.Background(), namespace); err != nil {
		w.T.Fatal(err)
	}
}

func allowPods(w *world, namespace string) {
	if err := w.Sim.Kube().AllowPods(context.Background(), namespace); err != nil {
		w.T.Fatal(err)
	}
}
