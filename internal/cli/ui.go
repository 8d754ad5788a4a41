package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/cto-platform/cto/internal/pipeline"
)

// isTerminal reports whether a stream is an interactive terminal.
func isTerminal(v any) bool {
	f, ok := v.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// smartTerminal is a terminal that can redraw: not TERM=dumb, not CI.
func smartTerminal(v any) bool {
	if !isTerminal(v) {
		return false
	}
	if t := os.Getenv("TERM"); t == "dumb" || t == "" {
		return false
	}
	return os.Getenv("CI") == ""
}

// progress is a pipeline.Sink that renders events for people or scripts.
type progress interface {
	pipeline.Sink
	// Prompt runs ask, which puts a question on the terminal and reads the
	// answer, with nothing redrawn over the question meanwhile.
	Prompt(ask func())
	Close()
}

func newUI(g *globals, command string) progress {
	switch {
	case g.json():
		return &ndjsonUI{enc: json.NewEncoder(g.streams.Out)}
	case smartTerminal(g.streams.ErrOut):
		return newLiveUI(g.streams.ErrOut, g.verbose)
	default:
		return &plainUI{w: g.streams.ErrOut, verbose: g.verbose}
	}
}

// ndjsonUI writes one JSON object per event to standard output.
type ndjsonUI struct {
	mu  sync.Mutex
	enc *json.Encoder
}

func (u *ndjsonUI) Emit(e pipeline.Event) {
	u.mu.Lock()
	defer u.mu.Unlock()
	e.Time = e.Time.UTC()
	u.enc.Encode(e)
}

func (u *ndjsonUI) Prompt(ask func()) { ask() }

func (u *ndjsonUI) Close() {}

// plainUI writes timestamped lines, for logs and pipes.
type plainUI struct {
	mu      sync.Mutex
	w       io.Writer
	verbose int
}

func (u *plainUI) Emit(e pipeline.Event) {
	u.mu.Lock()
	defer u.mu.Unlock()
	line := formatEvent(e)
	if line == "" || (e.Type == pipeline.NodeUpdate && u.verbose == 0 && e.Message == "") {
		return
	}
	fmt.Fprintf(u.w, "%s %s\n", e.Time.UTC().Format("15:04:05"), line)
}

func (u *plainUI) Prompt(ask func()) { ask() }

func (u *plainUI) Close() {}

func formatEvent(e pipeline.Event) string {
	step := fmt.Sprintf("[%s]", e.Step)
	switch e.Type {
	case pipeline.StepStarted:
		return fmt.Sprintf("%s started %s", step, e.Message)
	case pipeline.StepFinished:
		return fmt.Sprintf("%s done in %s", step, roundDur(e.ElapsedSeconds))
	case pipeline.StepSkipped:
		return fmt.Sprintf("%s skipped: %s", step, e.Message)
	case pipeline.StepFailed:
		return fmt.Sprintf("%s FAILED after %s: %s", step, roundDur(e.ElapsedSeconds), e.Message)
	case pipeline.Warning:
		return fmt.Sprintf("%s WARNING: %s", step, e.Message)
	case pipeline.NodeUpdate:
		s := fmt.Sprintf("%s %s: %s", step, e.Node, e.Status)
		if e.IP != "" {
			s += " " + e.IP
		}
		if e.Message != "" {
			s += " (" + e.Message + ")"
		}
		return s
	default:
		return fmt.Sprintf("%s %s", step, e.Message)
	}
}

func roundDur(sec float64) string {
	d := time.Duration(sec * float64(time.Second))
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(100 * time.Millisecond).String()
}

// liveUI redraws a block of step lines and a node table on a terminal.
type liveUI struct {
	mu      sync.Mutex
	w       io.Writer
	verbose int
	start   time.Time
	steps   []string
	state   map[string]string // step -> running|done|skipped|failed
	began   map[string]time.Time
	took    map[string]float64
	nodes   map[string]pipeline.Event
	msgs    []string
	drawn   int
	frame   int
	paused  bool // a question is on the terminal
	stop    chan struct{}
	done    chan struct{}
}

func newLiveUI(w io.Writer, verbose int) *liveUI {
	u := &liveUI{w: w, verbose: verbose, start: time.Now(), steps: pipeline.StepNames,
		state: map[string]string{}, began: map[string]time.Time{}, took: map[string]float64{},
		nodes: map[string]pipeline.Event{}, stop: make(chan struct{}), done: make(chan struct{})}
	go u.loop()
	return u
}

func (u *liveUI) loop() {
	defer close(u.done)
	t := time.NewTicker(120 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-u.stop:
			u.mu.Lock()
			u.redraw()
			u.mu.Unlock()
			return
		case <-t.C:
			u.mu.Lock()
			u.frame++
			u.redraw()
			u.mu.Unlock()
		}
	}
}

func (u *liveUI) Emit(e pipeline.Event) {
	u.mu.Lock()
	defer u.mu.Unlock()
	switch e.Type {
	case pipeline.StepStarted:
		u.state[e.Step] = "running"
		u.began[e.Step] = time.Now()
	case pipeline.StepFinished:
		u.state[e.Step] = "done"
		u.took[e.Step] = e.ElapsedSeconds
	case pipeline.StepSkipped:
		u.state[e.Step] = "skipped: " + e.Message
	case pipeline.StepFailed:
		u.state[e.Step] = "failed"
		u.msgs = append(u.msgs, formatEvent(e))
	case pipeline.NodeUpdate:
		u.nodes[e.Node] = e
	default:
		u.msgs = append(u.msgs, formatEvent(e))
		if len(u.msgs) > 6 {
			u.msgs = u.msgs[len(u.msgs)-6:]
		}
	}
}

var spinner = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

// Prompt draws the block once more, then leaves the terminal to ask until
// it returns: a redraw moves the cursor up over the lines it drew, which
// would erase a question written below them. Events still count
// meanwhile; the next redraw starts below the answer.
func (u *liveUI) Prompt(ask func()) {
	u.mu.Lock()
	u.redraw()
	u.paused, u.drawn = true, 0
	u.mu.Unlock()
	defer func() {
		u.mu.Lock()
		u.paused = false
		u.mu.Unlock()
	}()
	ask()
}

func (u *liveUI) redraw() {
	if u.paused {
		return
	}
	var b strings.Builder
	if u.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA\x1b[J", u.drawn)
	}
	lines := 0
	put := func(format string, args ...any) {
		fmt.Fprintf(&b, format+"\n", args...)
		lines++
	}
	for _, s := range u.steps {
		st := u.state[s]
		switch {
		case st == "running":
			put(" %s %-12s %s", spinner[u.frame%len(spinner)], s, time.Since(u.began[s]).Round(time.Second))
		case st == "done":
			put(" ✓ %-12s %s", s, roundDur(u.took[s]))
		case st == "failed":
			put(" ✗ %-12s", s)
		case strings.HasPrefix(st, "skipped"):
			put(" - %-12s %s", s, strings.TrimPrefix(st, "skipped: "))
		default:
			put("   %-12s", s)
		}
	}
	if len(u.nodes) > 0 {
		names := make([]string, 0, len(u.nodes))
		for n := range u.nodes {
			names = append(names, n)
		}
		sort.Strings(names)
		put("")
		put("   %-24s %-14s %-16s %s", "NODE", "STATUS", "IP", "STEP")
		for _, n := range names {
			e := u.nodes[n]
			put("   %-24s %-14s %-16s %s", n, e.Status, e.IP, e.Step)
		}
	}
	if len(u.msgs) > 0 {
		put("")
		for _, m := range u.msgs {
			put("   %s", m)
		}
	}
	put("   elapsed %s", time.Since(u.start).Round(time.Second))
	u.drawn = lines
	io.WriteString(u.w, b.String())
}

func (u *liveUI) Close() {
	select {
	case <-u.stop:
	default:
		close(u.stop)
		<-u.done
	}
}
