package cli

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/term"

	"github.com/cto-platform/cto/internal/deploy"
	"github.com/cto-platform/cto/internal/events"
)

// isTerminal reports whether a stream is an interactive terminal.
func isTerminal(v any) bool {
	f, ok := v.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// smartTerminal is a terminal that can redraw: not TERM=dumb, not CI, and
// no NO_COLOR (no-color.org: a user who sets it wants plain text, without
// the escape sequences the live view redraws with).
func smartTerminal(v any) bool {
	return isTerminal(v) && redrawAllowed(os.Getenv)
}

// redrawAllowed reads the environment's say on redrawing a terminal.
func redrawAllowed(getenv func(string) string) bool {
	if t := getenv("TERM"); t == "dumb" || t == "" {
		return false
	}
	return getenv("CI") == "" && getenv("NO_COLOR") == ""
}

// progress is an events.Sink that renders events for people or scripts.
type progress interface {
	events.Sink
	// Prompt runs ask, which puts a question on the terminal and reads the
	// answer, with nothing redrawn over the question meanwhile.
	Prompt(ask func())
	Close()
}

func newUI(g *globals, command string) progress {
	switch {
	case g.json():
		return &ndjsonUI{enc: json.NewEncoder(g.streams.Out)}
	case g.quiet:
		return &plainUI{w: g.streams.ErrOut, quiet: true}
	case smartTerminal(g.streams.ErrOut):
		return newLiveUI(g.streams.ErrOut, g.verbose, terminalSize(g.streams.ErrOut))
	default:
		return &plainUI{w: g.streams.ErrOut, verbose: g.verbose}
	}
}

// ndjsonUI writes one JSON object per event to standard output.
type ndjsonUI struct {
	mu  sync.Mutex
	enc *json.Encoder
}

func (u *ndjsonUI) Emit(e events.Event) {
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
	// quiet: only warnings and failures.
	quiet bool
}

func (u *plainUI) Emit(e events.Event) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.quiet && e.Type != events.Warning && e.Type != events.StepFailed {
		return
	}
	line := formatEvent(e)
	if line == "" || (e.Type == events.NodeUpdate && u.verbose == 0 && e.Message == "") {
		return
	}
	fmt.Fprintf(u.w, "%s %s\n", e.Time.UTC().Format("15:04:05"), line)
}

func (u *plainUI) Prompt(ask func()) { ask() }

func (u *plainUI) Close() {}

func formatEvent(e events.Event) string {
	step := fmt.Sprintf("[%s]", e.Step)
	switch e.Type {
	case events.StepStarted:
		return fmt.Sprintf("%s started %s", step, e.Message)
	case events.StepFinished:
		return fmt.Sprintf("%s done in %s", step, roundDur(e.ElapsedSeconds))
	case events.StepSkipped:
		return fmt.Sprintf("%s skipped: %s", step, e.Message)
	case events.StepFailed:
		return fmt.Sprintf("%s FAILED after %s: %s", step, roundDur(e.ElapsedSeconds), e.Message)
	case events.Warning:
		return fmt.Sprintf("%s WARNING: %s", step, e.Message)
	case events.NodeUpdate:
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

// terminalSize reports a terminal's columns and rows as they are now (the
// window can change), 80x24 when it cannot tell.
func terminalSize(v any) func() (cols, rows int) {
	return func() (int, int) {
		if f, ok := v.(*os.File); ok {
			if c, r, err := term.GetSize(int(f.Fd())); err == nil && c > 0 && r > 0 {
				return c, r
			}
		}
		return 80, 24
	}
}

// liveUI redraws a block of step lines and a node table on a terminal.
// The block always fits the window: a redraw moves the cursor up over the
// lines it drew, which it cannot do past the top of the window or over a
// line the terminal wrapped.
type liveUI struct {
	mu      sync.Mutex
	w       io.Writer
	size    func() (cols, rows int)
	verbose int
	start   time.Time
	steps   []string
	state   map[string]string // step -> running|done|skipped|failed
	began   map[string]time.Time
	took    map[string]float64
	nodes   map[string]events.Event
	msgs    []string
	drawn   int
	frame   int
	paused  bool // a question is on the terminal
	stop    chan struct{}
	done    chan struct{}
}

func newLiveUI(w io.Writer, verbose int, size func() (cols, rows int)) *liveUI {
	u := &liveUI{w: w, size: size, verbose: verbose, start: time.Now(), steps: deploy.StepNames,
		state: map[string]string{}, began: map[string]time.Time{}, took: map[string]float64{},
		nodes: map[string]events.Event{}, stop: make(chan struct{}), done: make(chan struct{})}
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

func (u *liveUI) Emit(e events.Event) {
	u.mu.Lock()
	defer u.mu.Unlock()
	switch e.Type {
	case events.StepStarted:
		u.state[e.Step] = "running"
		u.began[e.Step] = time.Now()
	case events.StepFinished:
		u.state[e.Step] = "done"
		u.took[e.Step] = e.ElapsedSeconds
	case events.StepSkipped:
		u.state[e.Step] = "skipped: " + e.Message
	case events.StepFailed:
		u.state[e.Step] = "failed"
		u.msgs = append(u.msgs, formatEvent(e))
	case events.NodeUpdate:
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
	cols, rows := u.size()
	var head, tail []string
	for _, s := range u.steps {
		st := u.state[s]
		switch {
		case st == "running":
			head = append(head, fmt.Sprintf(" %s %-12s %s", spinner[u.frame%len(spinner)], s, time.Since(u.began[s]).Round(time.Second)))
		case st == "done":
			head = append(head, fmt.Sprintf(" ✓ %-12s %s", s, roundDur(u.took[s])))
		case st == "failed":
			head = append(head, fmt.Sprintf(" ✗ %-12s", s))
		case strings.HasPrefix(st, "skipped"):
			head = append(head, fmt.Sprintf(" - %-12s %s", s, strings.TrimPrefix(st, "skipped: ")))
		default:
			head = append(head, fmt.Sprintf("   %-12s", s))
		}
	}
	if len(u.msgs) > 0 {
		tail = append(tail, "")
		for _, m := range u.msgs {
			tail = append(tail, "   "+m)
		}
	}
	tail = append(tail, fmt.Sprintf("   elapsed %s", time.Since(u.start).Round(time.Second)))
	// One row stays free for the cursor below the block.
	lines := slices.Concat(head, u.nodeTable(rows-1-len(head)-len(tail)), tail)

	var b strings.Builder
	if u.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA\x1b[J", u.drawn)
	}
	for _, l := range lines {
		b.WriteString(clip(l, cols-1))
		b.WriteByte('\n')
	}
	u.drawn = len(lines)
	io.WriteString(u.w, b.String())
}

// nodeTable is a blank line and a row per node, or, when they do not fit
// in room lines, a count per status and the nodes heard from last.
func (u *liveUI) nodeTable(room int) []string {
	if len(u.nodes) == 0 || room < 2 {
		return nil
	}
	row := func(e events.Event) string {
		return fmt.Sprintf("   %-24s %-14s %-16s %s", e.Node, e.Status, e.IP, e.Step)
	}
	header := row(events.Event{Node: "NODE", Status: "STATUS", IP: "IP", Step: "STEP"})
	nodes := slices.Collect(maps.Values(u.nodes))
	if len(nodes)+2 <= room {
		slices.SortFunc(nodes, func(a, b events.Event) int { return strings.Compare(a.Node, b.Node) })
		out := []string{"", header}
		for _, e := range nodes {
			out = append(out, row(e))
		}
		return out
	}
	// The platform step reports its components in the same table.
	var nodeEvents, components []events.Event
	for _, e := range nodes {
		if e.Step == deploy.StepPlatform {
			components = append(components, e)
		} else {
			nodeEvents = append(nodeEvents, e)
		}
	}
	var counts []string
	for _, group := range []struct {
		what   string
		events []events.Event
	}{{"nodes", nodeEvents}, {"components", components}} {
		if len(group.events) > 0 {
			counts = append(counts, fmt.Sprintf("%s %d (%s)", group.what, len(group.events), countByStatus(group.events)))
		}
	}
	out := []string{"", "   " + strings.Join(counts, "; ")}
	if show := room - 4; show > 0 { // the blank, the counts, the header and the "more" line
		slices.SortFunc(nodes, func(a, b events.Event) int { return cmp.Or(b.Time.Compare(a.Time), strings.Compare(a.Node, b.Node)) })
		out = append(out, header)
		for _, e := range nodes[:show] {
			out = append(out, row(e))
		}
		out = append(out, fmt.Sprintf("   ... %d more (cto status lists every node)", len(nodes)-show))
	}
	return out
}

// countByStatus says how many events have each status, most first.
func countByStatus(events []events.Event) string {
	count := map[string]int{}
	for _, e := range events {
		count[e.Status]++
	}
	statuses := slices.Collect(maps.Keys(count))
	slices.SortFunc(statuses, func(a, b string) int { return cmp.Or(count[b]-count[a], strings.Compare(a, b)) })
	parts := make([]string, len(statuses))
	for i, st := range statuses {
		parts[i] = fmt.Sprintf("%d %s", count[st], st)
	}
	return strings.Join(parts, ", ")
}

// clip cuts a line to n characters, so that the terminal never wraps it.
func clip(line string, n int) string {
	if utf8.RuneCountInString(line) <= n {
		return line
	}
	r := []rune(line)
	return string(r[:max(n, 0)])
}

func (u *liveUI) Close() {
	select {
	case <-u.stop:
	default:
		close(u.stop)
		<-u.done
	}
}
