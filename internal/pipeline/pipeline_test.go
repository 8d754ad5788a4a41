package pipeline

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/cto-platform/cto/internal/state/statetest"

	"github.com/cto-platform/cto/internal/clock"
	"github.com/cto-platform/cto/internal/events"
	"github.com/cto-platform/cto/internal/state"
)

// countingStep records its runs and fails while failures > 0.
type countingStep struct {
	name     string
	runs     *[]string
	failures *int
	dry      bool
	skip     bool
}

func (s countingStep) Name() string { return s.name }

func (s countingStep) Run(ctx context.Context, r *Run) error {
	*s.runs = append(*s.runs, s.name)
	if s.failures != nil && *s.failures > 0 {
		*s.failures--
		return errors.New("boom")
	}
	r.Say("ran %s", s.name)
	return nil
}

type dryStep struct{ countingStep }

func (s dryStep) DryRun(ctx context.Context, r *Run) error {
	*s.runs = append(*s.runs, "dry:"+s.name)
	return nil
}

type skipStep struct{ countingStep }

func (skipStep) Skip(r *Run) (string, bool) { return "not configured", true }

func newRun(t *testing.T, dir string) *Run {
	t.Helper()
	c, j := statetest.New(t, dir, "demo")
	return &Run{Cluster: c, Journal: j, Events: &events.Recorder{}, Clock: clock.Real{}, Deps: &Deps{}}
}

func TestResumeRetriesFailedAndSkipsDone(t *testing.T) {
	dir := t.TempDir()
	var runs []string
	failures := 1
	steps := []Step{
		countingStep{name: "a", runs: &runs},
		countingStep{name: "b", runs: &runs, failures: &failures},
		countingStep{name: "c", runs: &runs},
	}
	e := &Engine{Steps: steps}

	err := e.Execute(context.Background(), newRun(t, dir), Options{})
	var se *StepError
	if !errors.As(err, &se) || se.Step != "b" {
		t.Fatalf("first run: %v, want a StepError in b", err)
	}
	if !slices.Equal(runs, []string{"a", "b"}) {
		t.Fatalf("first run ran %v", runs)
	}
	// A fresh process: the journal is read from disk.
	r := newRun(t, dir)
	if rec, _ := r.Journal.Step("b"); rec.Status != state.StepFailed || rec.Error != "boom" {
		t.Fatalf("journal after failure: %+v", rec)
	}
	runs = nil
	if err := e.Execute(context.Background(), r, Options{}); err != nil {
		t.Fatalf("rerun: %v", err)
	}
	if !slices.Equal(runs, []string{"b", "c"}) {
		t.Fatalf("rerun ran %v, want [b c] (a was done)", runs)
	}
	var skipped []string
	for _, ev := range r.Events.(*events.Recorder).Snapshot() {
		if ev.Type == events.StepSkipped {
			skipped = append(skipped, ev.Step)
		}
	}
	if !slices.Equal(skipped, []string{"a"}) {
		t.Fatalf("skipped events %v, want [a]", skipped)
	}
}

func TestUntilStopsAfterStep(t *testing.T) {
	var runs []string
	e := &Engine{Steps: []Step{countingStep{name: "a", runs: &runs}, countingStep{name: "b", runs: &runs}, countingStep{name: "c", runs: &runs}}}
	dir := t.TempDir()
	if err := e.Execute(context.Background(), newRun(t, dir), Options{Until: "b"}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(runs, []string{"a", "b"}) {
		t.Fatalf("--until b ran %v", runs)
	}
	runs = nil
	if err := e.Execute(context.Background(), newRun(t, dir), Options{}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(runs, []string{"c"}) {
		t.Fatalf("continuing after --until ran %v, want [c]", runs)
	}
	if err := e.Execute(context.Background(), newRun(t, dir), Options{Until: "nope"}); err == nil || !strings.Contains(err.Error(), "a, b, c") {
		t.Fatalf("unknown --until: %v", err)
	}
}

func TestDryRunRunsOnlyDryRunners(t *testing.T) {
	var runs []string
	e := &Engine{Steps: []Step{
		dryStep{countingStep{name: "validate", runs: &runs}},
		countingStep{name: "servers", runs: &runs},
		dryStep{countingStep{name: "talos", runs: &runs}},
	}}
	r := newRun(t, t.TempDir())
	if err := e.Execute(context.Background(), r, Options{DryRun: true}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(runs, []string{"dry:validate", "dry:talos"}) {
		t.Fatalf("dry run ran %v", runs)
	}
	if !r.DryRun {
		t.Fatal("Run.DryRun not set")
	}
	if _, ok := r.Journal.Step("servers"); ok {
		t.Fatal("a dry run recorded step progress")
	}
}

func TestEventsAndSkipper(t *testing.T) {
	var runs []string
	failures := 1
	e := &Engine{Steps: []Step{
		countingStep{name: "a", runs: &runs},
		skipStep{countingStep{name: "dns", runs: &runs}},
		countingStep{name: "b", runs: &runs, failures: &failures},
	}}
	r := newRun(t, t.TempDir())
	e.Execute(context.Background(), r, Options{})
	var got []string
	for _, ev := range r.Events.(*events.Recorder).Snapshot() {
		if ev.Time.IsZero() {
			t.Errorf("event without time: %+v", ev)
		}
		got = append(got, ev.Step+":"+string(ev.Type))
	}
	want := []string{"a:step_started", "a:message", "a:step_finished", "dns:step_skipped", "b:step_started", "b:step_failed"}
	if !slices.Equal(got, want) {
		t.Fatalf("events\n got %v\nwant %v", got, want)
	}
	if slices.Contains(runs, "dns") {
		t.Fatal("a skipped step ran")
	}
}

func TestCancelledContextStopsBeforeNextStep(t *testing.T) {
	var runs []string
	ctx, cancel := context.WithCancel(context.Background())
	stopper := stepFunc{name: "a", fn: func(ctx context.Context, r *Run) error { runs = append(runs, "a"); cancel(); return nil }}
	e := &Engine{Steps: []Step{stopper, countingStep{name: "b", runs: &runs}}}
	err := e.Execute(ctx, newRun(t, t.TempDir()), Options{})
	if !errors.Is(err, ErrStopped) {
		t.Fatalf("cancelled run = %v, want ErrStopped", err)
	}
	if !slices.Equal(runs, []string{"a"}) {
		t.Fatalf("ran %v after cancellation", runs)
	}
}

type stepFunc struct {
	name string
	fn   func(ctx context.Context, r *Run) error
}

func (s stepFunc) Name() string                          { return s.name }
func (s stepFunc) Run(ctx context.Context, r *Run) error { return s.fn(ctx, r) }

func TestApprove(t *testing.T) {
	if err := (&Deps{Yes: true}).Approve("go?"); err != nil {
		t.Fatalf("--yes: %v", err)
	}
	err := (&Deps{}).Approve("Create 3 servers for $438/month")
	if err == nil || !strings.Contains(err.Error(), "--yes") {
		t.Fatalf("no terminal, no --yes: %v", err)
	}
	no := &Deps{Confirm: func(string) (bool, error) { return false, nil }}
	if err := no.Approve("go?"); !errors.Is(err, ErrDeclined) {
		t.Fatalf("answer no: %v", err)
	}
}
