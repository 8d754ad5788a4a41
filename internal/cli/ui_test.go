package cli

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cto-platform/cto/internal/deploy"
	"github.com/cto-platform/cto/internal/events"
)

// lockedBuffer is a terminal both the live view and a question write to.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A question on the terminal stays there: the live view draws nothing
// while it waits for the answer, and its next frame starts below the
// answer instead of moving the cursor up over the question.
func TestLiveViewLeavesAQuestionAlone(t *testing.T) {
	term := &lockedBuffer{}
	u := newLiveUI(term, 0, func() (int, int) { return 100, 40 })
	defer u.Close()
	u.Emit(events.Event{Type: events.StepStarted, Step: deploy.StepValidate})
	u.Emit(events.Event{Type: events.Message, Step: deploy.StepValidate, Message: "total: $0.21 per hour"})
	time.Sleep(300 * time.Millisecond) // a few frames

	var during string
	u.Prompt(func() {
		term.Write([]byte("Create 1 server(s)? [y/N] "))
		start := term.String()
		// Events keep coming while the user reads the question.
		u.Emit(events.Event{Type: events.NodeUpdate, Step: deploy.StepServers, Node: "cto-cp1", Status: "pending"})
		time.Sleep(400 * time.Millisecond)
		during = strings.TrimPrefix(term.String(), start)
		term.Write([]byte("y\n"))
	})
	if during != "" {
		t.Errorf("the live view drew %q over the open question", during)
	}
	before := term.String()
	if !strings.Contains(before, "total: $0.21 per hour") {
		t.Errorf("the cost lines were not drawn before the question:\n%q", before)
	}
	time.Sleep(300 * time.Millisecond)
	after := strings.TrimPrefix(term.String(), before)
	if !strings.Contains(after, "cto-cp1") {
		t.Fatalf("no frame after the answer, or it lacks the event sent meanwhile:\n%q", after)
	}
	if !strings.HasPrefix(after, " ") {
		t.Errorf("the first frame after the answer does not start below it: %q", after[:min(len(after), 20)])
	}
}

// The live view fits the window however many nodes there are: a frame
// taller than the window, or a line the terminal wraps, would leave the
// cursor-up of the next frame short and stack frames on the screen.
func TestLiveViewFitsTheWindow(t *testing.T) {
	term := &lockedBuffer{}
	cols, rows := 70, 20
	u := newLiveUI(term, 0, func() (int, int) { return cols, rows })
	u.Close() // frames are drawn below, one at a time
	u.Emit(events.Event{Type: events.StepStarted, Step: deploy.StepServers})
	frame := func() []string {
		t.Helper()
		u.mu.Lock()
		defer u.mu.Unlock()
		before := len(term.String())
		u.redraw()
		out := term.String()[before:]
		if i := strings.Index(out, "\x1b[J"); i >= 0 {
			out = out[i+len("\x1b[J"):]
		}
		return strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	}
	for i := range 3 {
		u.Emit(events.Event{Type: events.NodeUpdate, Step: deploy.StepServers, Node: fmt.Sprintf("cto-worker%d", i), Status: "pending"})
	}
	if got := strings.Join(frame(), "\n"); !strings.Contains(got, "cto-worker2") || strings.Contains(got, "nodes 3") {
		t.Errorf("three nodes fit, but the frame does not list them each:\n%s", got)
	}
	start := time.Now()
	for i := range 100 {
		st := "pending"
		if i%4 == 0 {
			st = "ready"
		}
		u.Emit(events.Event{Type: events.NodeUpdate, Step: deploy.StepServers, Node: fmt.Sprintf("cto-worker%d", i), Status: st,
			Time: start.Add(time.Duration(i) * time.Second)})
	}
	u.Emit(events.Event{Type: events.NodeUpdate, Step: deploy.StepPlatform, Node: "argo-cd", Status: "ready", Time: start})
	u.Emit(events.Event{Type: events.Warning, Step: deploy.StepServers, Message: strings.Repeat("a long warning ", 20)})
	lines := frame()
	if len(lines) > rows-1 {
		t.Errorf("a frame of %d lines in a window of %d rows:\n%s", len(lines), rows, strings.Join(lines, "\n"))
	}
	for _, l := range lines {
		if n := len([]rune(l)); n >= cols {
			t.Errorf("a line of %d characters in a window of %d columns: %q", n, cols, l)
		}
	}
	got := strings.Join(lines, "\n")
	if !strings.Contains(got, "nodes 100 (75 pending, 25 ready); components 1 (1 ready)") {
		t.Errorf("no count per status:\n%s", got)
	}
	if !strings.Contains(got, "cto-worker99 ") || strings.Contains(got, "cto-worker0 ") {
		t.Errorf("the nodes shown are not the ones heard from last:\n%s", got)
	}
	if !strings.Contains(got, "more (cto status lists every node)") {
		t.Errorf("no line says that nodes are left out:\n%s", got)
	}
}

// -q keeps warnings and failures and drops the rest of the progress.
func TestQuietShowsOnlyWarningsAndFailures(t *testing.T) {
	var b bytes.Buffer
	ui := newUI(&globals{quiet: true, streams: Streams{Out: &bytes.Buffer{}, ErrOut: &b}}, "deploy")
	now := time.Now()
	for _, e := range []events.Event{
		{Time: now, Type: events.StepStarted, Step: "servers"},
		{Time: now, Type: events.Message, Step: "servers", Message: "ordering 3 servers"},
		{Time: now, Type: events.NodeUpdate, Step: "talos", Node: "demo-cp1", Status: "configured"},
		{Time: now, Type: events.Warning, Step: "talos", Message: "bootstrap did not finish yet"},
		{Time: now, Type: events.StepFailed, Step: "talos", Message: "node demo-cp1 unreachable"},
		{Time: now, Type: events.StepFinished, Step: "servers"},
	} {
		ui.Emit(e)
	}
	ui.Close()
	got := b.String()
	if strings.Count(got, "\n") != 2 || !strings.Contains(got, "WARNING: bootstrap did not finish yet") || !strings.Contains(got, "FAILED") {
		t.Errorf("quiet progress:\n%s\nwant the warning and the failure only", got)
	}
}

// NO_COLOR, CI and a dumb terminal each turn the live redrawing view off.
func TestRedrawAllowed(t *testing.T) {
	for _, c := range []struct {
		env  map[string]string
		want bool
	}{
		{map[string]string{"TERM": "xterm-256color"}, true},
		{map[string]string{"TERM": "xterm-256color", "NO_COLOR": "1"}, false},
		{map[string]string{"TERM": "xterm-256color", "CI": "true"}, false},
		{map[string]string{"TERM": "dumb"}, false},
		{map[string]string{}, false},
	} {
		if got := redrawAllowed(func(k string) string { return c.env[k] }); got != c.want {
			t.Errorf("redraw with %v: %v, want %v", c.env, got, c.want)
		}
	}
}
