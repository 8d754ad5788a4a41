// Command bench measures how close a deploy gets to the physical limit: it
// runs the built cto binary against the simulated datacenter (test/sim) on
// a scaled clock with a provider's realistic settings, for each cluster
// size, and compares the simulated time with the lower bound that the
// deploy time, the Talos install and the API's write budget force.
//
//	go run ./bench --nodes 1,3,10,50,100,500
//
// writes a table into docs/PERFORMANCE.md (between the bench markers) and
// the figures into docs/performance.json; --json prints one JSON object per
// size instead; --compare old.json prints the change against an earlier run.
package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cto-platform/cto/internal/clock"
	"github.com/cto-platform/cto/test/sim"
)

// Settings are the physical facts of the datacenter the bench simulates.
type Settings struct {
	Deploy      time.Duration // a server's deploy, order to "on"
	Install     time.Duration // Talos install and reboot after its config
	Bootstrap   time.Duration // etcd and the API server after Bootstrap
	Connect     time.Duration // a VLAN assignment until connected
	Reads       int           // reads per minute the API allows
	Writes      int           // writes per minute the API allows
	LatencyLow  time.Duration // API latency, drawn uniformly
	LatencyHigh time.Duration
}

// Latitude is Latitude.sh as published and observed.
var Latitude = Settings{
	Deploy: 10 * time.Minute, Install: 3 * time.Minute, Bootstrap: time.Minute, Connect: 30 * time.Second,
	Reads: 60, Writes: 20, LatencyLow: 100 * time.Millisecond, LatencyHigh: 300 * time.Millisecond,
}

// Result is one run's figures.
type Result struct {
	Nodes        int     `json:"nodes"`
	Until        string  `json:"until,omitempty"` // "" is the whole deploy
	Speed        float64 `json:"speed"`
	WallSeconds  float64 `json:"wall_seconds"`
	LowerBound   float64 `json:"lower_bound_seconds"`
	Ratio        float64 `json:"ratio"`
	Reads        int64   `json:"reads"`
	Writes       int64   `json:"writes"`
	ReadsPerNode float64 `json:"reads_per_node"`
	WritesPerN   float64 `json:"writes_per_node"`
	R429         int64   `json:"r429"`
	Polls        int64   `json:"polls"`
	ReadsPerPoll float64 `json:"reads_per_poll"`
	PeakRSSMB    float64 `json:"peak_rss_mb"`
	CPUSeconds   float64 `json:"cpu_seconds"`
	CPUShare     float64 `json:"cpu_share"` // of the simulated wall time
	RealSeconds  float64 `json:"real_seconds"`
	// Steps are when each step finished, in simulated seconds from the
	// deploy's first event (steps may overlap).
	Steps map[string]float64 `json:"steps,omitempty"`
	Error string             `json:"error,omitempty"`
}

// eventsDir, when set, keeps each run's events.
var eventsDir string

func main() {
	nodes := flag.String("nodes", "1,3,10,50,100,500", "cluster sizes to run, comma-separated")
	full := flag.Int("full-max", 100, "largest size that runs the whole deploy; larger sizes stop after --partial-until")
	partialUntil := flag.String("partial-until", "network", "last step of the sizes above --full-max")
	realSeconds := flag.Float64("real-seconds", 60, "wall seconds one run's lower bound should take (sets the clock's speed)")
	jsonOut := flag.Bool("json", false, "print one JSON object per size instead of writing the docs")
	doc := flag.String("doc", "docs/PERFORMANCE.md", "markdown file whose bench section is replaced")
	jsonFile := flag.String("json-file", "docs/performance.json", "where the figures are written")
	compare := flag.String("compare", "", "an earlier figures file to compare with")
	ctoBin := flag.String("cto", "", "cto binary to measure (default: build ./cmd/cto)")
	render := flag.String("render", "", "write the doc section from this figures file instead of running")
	flag.StringVar(&eventsDir, "events", "", "folder that keeps each run's cto events (events-<nodes>.ndjson), to see where the time went")
	flag.Parse()

	if *render != "" {
		rs, err := loadResults(*render)
		if err != nil {
			fail(err)
		}
		if err := writeSection(*doc, table(rs)); err != nil {
			fail(err)
		}
		return
	}

	nodesGiven := false
	flag.Visit(func(f *flag.Flag) { nodesGiven = nodesGiven || f.Name == "nodes" })
	if *compare != "" && !nodesGiven {
		// --compare without --nodes: compare the figures file with it.
		if err := printCompare(*compare, *jsonFile); err != nil {
			fail(err)
		}
		return
	}
	sizes, err := parseSizes(*nodes)
	if err != nil {
		fail(err)
	}
	bin := *ctoBin
	if bin == "" {
		dir, err := os.MkdirTemp("", "cto-bench-")
		if err != nil {
			fail(err)
		}
		defer os.RemoveAll(dir)
		bin = filepath.Join(dir, "cto")
		build := exec.Command("go", "build", "-o", bin, "./cmd/cto")
		build.Env = append(os.Environ(), "CGO_ENABLED=0") // the static binary the README builds
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fail(fmt.Errorf("build cto: %w", err))
		}
	}
	var results []Result
	for _, n := range sizes {
		until := ""
		if n > *full {
			until = *partialUntil
		}
		res := run(bin, n, until, Latitude, *realSeconds)
		results = append(results, res)
		if *jsonOut {
			json.NewEncoder(os.Stdout).Encode(res)
		} else {
			fmt.Fprintf(os.Stderr, "nodes %d%s: %.0f s simulated (bound %.0f s, ratio %.3f), %d reads, %d writes, %d 429s, %.0f MB, %.1f s CPU, %.0f s real%s\n",
				n, untilNote(until), res.WallSeconds, res.LowerBound, res.Ratio, res.Reads, res.Writes, res.R429, res.PeakRSSMB, res.CPUSeconds, res.RealSeconds, errNote(res.Error))
		}
	}
	if *jsonOut {
		return
	}
	data, _ := json.MarshalIndent(results, "", "  ")
	if err := os.WriteFile(*jsonFile, append(data, '\n'), 0o644); err != nil {
		fail(err)
	}
	if err := writeSection(*doc, table(results)); err != nil {
		fail(err)
	}
	if *compare != "" {
		if err := printCompare(*compare, *jsonFile); err != nil {
			fail(err)
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}

func untilNote(until string) string {
	if until == "" {
		return ""
	}
	return " (until " + until + ")"
}

func errNote(e string) string {
	if e == "" {
		return ""
	}
	return "; FAILED: " + e
}

func parseSizes(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("--nodes %q: want positive numbers separated by commas", s)
		}
		out = append(out, n)
	}
	return out, nil
}

// LowerBound is the shortest time any tool could take for n nodes: see
// docs/PERFORMANCE.md for the formula.
func LowerBound(n int, until string, s Settings) time.Duration {
	window := time.Minute
	// writeAt is when the k-th write can go out at s.Writes a minute.
	writeAt := func(k int) time.Duration {
		return time.Duration((k-1)/s.Writes) * window
	}
	const once = 4 // the project, the cluster's tag, the VLAN and its tag
	writes := once + 3*n
	lastCreate := writeAt(1 + n) // the project exists first
	network := writeAt(writes) + s.Connect
	servers := lastCreate + s.Deploy
	if until != "" {
		return max(network, servers)
	}
	lastNode := servers + s.Install
	controlPlane := writeAt(2) + s.Deploy + s.Install + s.Bootstrap
	return max(network, lastNode, controlPlane)
}

// limiter answers 429 when a class of requests exceeds its limit in any
// minute of the simulated clock, as the API does.
type limiter struct {
	mu    sync.Mutex
	clock clock.Clock
	limit int
	sent  []time.Time
}

func (l *limiter) allow() (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clock.Now()
	cut := 0
	for cut < len(l.sent) && now.Sub(l.sent[cut]) >= time.Minute {
		cut++
	}
	l.sent = l.sent[cut:]
	if len(l.sent) >= l.limit {
		return false, time.Minute - now.Sub(l.sent[0])
	}
	l.sent = append(l.sent, now)
	return true, 0
}

// gateway stands between cto and the Latitude double: the API's latency and
// published limits, and the count of what cto sent.
type gateway struct {
	proxy             *httputil.ReverseProxy
	clock             clock.Clock
	speed             float64
	settings          Settings
	reads, writes     *limiter
	nReads, nWrites   atomic.Int64
	n429              atomic.Int64
	polls, pollPages  atomic.Int64 // status polls of the cluster's servers and the pages they read
	rngMu             sync.Mutex
	rng               *rand.Rand
	latencyLow, lHigh time.Duration
}

func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	write := r.Method != http.MethodGet && r.Method != http.MethodHead
	lim := g.reads
	if write {
		lim = g.writes
		g.nWrites.Add(1)
	} else {
		g.nReads.Add(1)
		if q := r.URL.Query(); r.URL.Path == "/servers" && q.Get("filter[tags]") != "" {
			g.pollPages.Add(1)
			if p := q.Get("page[number]"); p == "" || p == "1" {
				g.polls.Add(1)
			}
		}
	}
	g.rngMu.Lock()
	latency := g.latencyLow + time.Duration(g.rng.Int64N(int64(g.lHigh-g.latencyLow)+1))
	g.rngMu.Unlock()
	g.clock.Sleep(r.Context(), latency/2) // on the way in
	if ok, retry := lim.allow(); !ok {
		g.n429.Add(1)
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(retry.Seconds()))))
		w.WriteHeader(http.StatusTooManyRequests)
		io.WriteString(w, `{"errors":[{"code":"RATE_LIMIT_EXCEEDED","status":"429","title":"Too Many Requests"}]}`)
		return
	}
	g.proxy.ServeHTTP(w, r)
	g.clock.Sleep(r.Context(), latency/2) // on the way out (headers may already be sent; the body waits)
}

// run deploys n nodes and measures the cto process.
func run(bin string, n int, until string, s Settings, realSeconds float64) Result {
	bound := LowerBound(n, until, s)
	speed := math.Max(bound.Seconds()/realSeconds, 1)
	res := Result{Nodes: n, Until: until, Speed: math.Round(speed*10) / 10, LowerBound: bound.Seconds()}
	ctx := context.Background()
	dc, err := sim.Start(ctx, sim.Options{Speed: speed, DeployTime: s.Deploy, ConnectTime: s.Connect,
		InstallTime: s.Install, BootstrapTime: s.Bootstrap, Seed: uint64(n)})
	if err != nil {
		res.Error = err.Error()
		return res
	}
	defer dc.Close()
	var latURL string
	for _, kv := range dc.Env() {
		if v, ok := strings.CutPrefix(kv, "LATITUDESH_API_URL="); ok {
			latURL = v
		}
	}
	target, _ := url.Parse(latURL)
	g := &gateway{proxy: httputil.NewSingleHostReverseProxy(target), clock: dc.Clock(), speed: speed, settings: s,
		reads: &limiter{clock: dc.Clock(), limit: s.Reads}, writes: &limiter{clock: dc.Clock(), limit: s.Writes},
		rng: rand.New(rand.NewPCG(uint64(n), 7)), latencyLow: s.LatencyLow, lHigh: s.LatencyHigh}
	front := &http.Server{Handler: g}
	ln, err := listenLoopback()
	if err != nil {
		res.Error = err.Error()
		return res
	}
	go front.Serve(ln)
	defer front.Close()

	home, err := os.MkdirTemp("", "cto-bench-home-")
	if err != nil {
		res.Error = err.Error()
		return res
	}
	defer os.RemoveAll(home)
	args := []string{"deploy", "--provider", "latitude", "--name", "bench", "--plan", "c2-small-x86",
		"--nodes", strconv.Itoa(n), "--region", "DAL", "--profile", "minimal", "--private-cidr", "10.8.0.0/21", "--yes", "-o", "json"}
	if until != "" {
		args = append(args, "--until", until)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(dc.UserEnv(home), "LATITUDESH_API_URL=http://"+ln.Addr().String())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	simStart := dc.Clock().Now()
	realStart := time.Now()
	err = cmd.Run()
	res.WallSeconds = dc.Clock().Now().Sub(simStart).Seconds()
	res.RealSeconds = time.Since(realStart).Seconds()
	if err != nil {
		lines := strings.Split(strings.TrimSpace(stderr.String()+stdout.String()), "\n")
		res.Error = fmt.Sprintf("%v: %s", err, lines[len(lines)-1])
	}
	res.Steps = stepTimes(stdout.Bytes())
	if eventsDir != "" {
		name := filepath.Join(eventsDir, fmt.Sprintf("events-%d.ndjson", n))
		if err := os.WriteFile(name, stdout.Bytes(), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "keep events:", err)
		}
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && ru != nil {
		res.PeakRSSMB = float64(ru.Maxrss) / 1024 // KiB on Linux
		res.CPUSeconds = time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	}
	res.Reads, res.Writes, res.R429 = g.nReads.Load(), g.nWrites.Load(), g.n429.Load()
	res.Polls = g.polls.Load()
	if res.Polls > 0 {
		res.ReadsPerPoll = round2(float64(g.pollPages.Load()) / float64(res.Polls))
	}
	res.ReadsPerNode = round2(float64(res.Reads) / float64(n))
	res.WritesPerN = round2(float64(res.Writes) / float64(n))
	res.Ratio = round3(res.WallSeconds / res.LowerBound)
	res.CPUShare = math.Round(res.CPUSeconds/res.WallSeconds*1e5) / 1e5
	res.WallSeconds = math.Round(res.WallSeconds)
	res.PeakRSSMB = math.Round(res.PeakRSSMB)
	res.CPUSeconds = round2(res.CPUSeconds)
	res.RealSeconds = math.Round(res.RealSeconds)
	return res
}

// stepTimes reads cto's NDJSON events: when each step finished, from the
// first event on.
func stepTimes(ndjson []byte) map[string]float64 {
	var begin time.Time
	out := map[string]float64{}
	for _, line := range bytes.Split(ndjson, []byte("\n")) {
		var e struct {
			Time  time.Time `json:"time"`
			Event string    `json:"event"`
			Step  string    `json:"step"`
		}
		if json.Unmarshal(line, &e) != nil || e.Time.IsZero() {
			continue
		}
		if begin.IsZero() {
			begin = e.Time
		}
		if e.Event == "step_finished" || e.Event == "step_failed" {
			out[e.Step] = math.Round(e.Time.Sub(begin).Seconds())
		}
	}
	return out
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }
func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

// table renders the results as markdown.
func table(rs []Result) string {
	var b strings.Builder
	b.WriteString("| nodes | steps | simulated | lower bound | ratio | reads/node | writes/node | reads/poll | 429s | peak RSS | CPU | CPU share | speed |\n")
	b.WriteString("|------:|:------|----------:|------------:|------:|-----------:|------------:|-----------:|-----:|---------:|----:|----------:|------:|\n")
	for _, r := range rs {
		steps := "all"
		if r.Until != "" {
			steps = "to " + r.Until
		}
		if r.Error != "" {
			fmt.Fprintf(&b, "| %d | %s | failed: %s | %s | | | | | | | | | %gx |\n", r.Nodes, steps, strings.ReplaceAll(r.Error, "|", "/"), minutes(r.LowerBound), r.Speed)
			continue
		}
		fmt.Fprintf(&b, "| %d | %s | %s | %s | %.3f | %.2f | %.2f | %.2f | %d | %.0f MB | %.1f s | %.3f%% | %gx |\n",
			r.Nodes, steps, minutes(r.WallSeconds), minutes(r.LowerBound), r.Ratio, r.ReadsPerNode, r.WritesPerN, r.ReadsPerPoll, r.R429,
			r.PeakRSSMB, r.CPUSeconds, r.CPUShare*100, r.Speed)
	}
	b.WriteString("\nSimulated second at which each step finished, counted from the deploy's start (on Latitude.sh the talos phase runs alongside servers and network, configuring each node as its server is up):\n\n| nodes |")
	for _, st := range stepOrder {
		b.WriteString(" " + st + " |")
	}
	b.WriteString("\n|------:|" + strings.Repeat("-----:|", len(stepOrder)) + "\n")
	for _, r := range rs {
		fmt.Fprintf(&b, "| %d |", r.Nodes)
		for _, st := range stepOrder {
			if v, ok := r.Steps[st]; ok {
				fmt.Fprintf(&b, " %.0f |", v)
			} else {
				b.WriteString(" - |")
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

var stepOrder = []string{"validate", "servers", "network", "talos", "kubernetes", "platform", "dns", "credentials"}

func loadResults(path string) ([]Result, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rs []Result
	if err := json.Unmarshal(data, &rs); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rs, nil
}

func minutes(sec float64) string {
	d := time.Duration(sec) * time.Second
	return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
}

const (
	beginMark = "<!-- bench:begin (written by go run ./bench; do not edit) -->"
	endMark   = "<!-- bench:end -->"
)

// writeSection replaces the marked section of the doc (or appends one).
func writeSection(path, body string) error {
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	doc := string(data)
	section := beginMark + "\n" + body + endMark
	i, j := strings.Index(doc, beginMark), strings.Index(doc, endMark)
	if i >= 0 && j > i {
		doc = doc[:i] + section + doc[j+len(endMark):]
	} else {
		doc = strings.TrimRight(doc, "\n") + "\n\n" + section + "\n"
	}
	return os.WriteFile(path, []byte(doc), 0o644)
}

// printCompare prints the change from an old figures file to a new one.
func printCompare(oldPath, newPath string) error {
	load := func(p string) (map[string]Result, error) {
		rs, err := loadResults(p)
		if err != nil {
			return nil, err
		}
		out := map[string]Result{}
		for _, r := range rs {
			out[fmt.Sprintf("%d/%s", r.Nodes, r.Until)] = r
		}
		return out, nil
	}
	old, err := load(oldPath)
	if err != nil {
		return err
	}
	cur, err := load(newPath)
	if err != nil {
		return err
	}
	fmt.Println("| nodes | steps | simulated | ratio | reads/node | writes/node | 429s | peak RSS | CPU |")
	fmt.Println("|------:|:------|----------:|------:|-----------:|------------:|-----:|---------:|----:|")
	keys := slices.Collect(maps.Keys(cur))
	slices.SortFunc(keys, func(a, b string) int { return cmp.Compare(cur[a].Nodes, cur[b].Nodes) })
	for _, key := range keys {
		n := cur[key]
		o, ok := old[key]
		if !ok {
			continue
		}
		steps := "all"
		if n.Until != "" {
			steps = "to " + n.Until
		}
		fmt.Printf("| %d | %s | %s -> %s | %.3f -> %.3f | %.2f -> %.2f | %.2f -> %.2f | %d -> %d | %.0f -> %.0f MB | %.1f -> %.1f s |\n",
			n.Nodes, steps, minutes(o.WallSeconds), minutes(n.WallSeconds), o.Ratio, n.Ratio, o.ReadsPerNode, n.ReadsPerNode,
			o.WritesPerN, n.WritesPerN, o.R429, n.R429, o.PeakRSSMB, n.PeakRSSMB, o.CPUSeconds, n.CPUSeconds)
	}
	return nil
}

func listenLoopback() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }
