package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cto-platform/cto/internal/events"
	"github.com/cto-platform/cto/internal/state"
)

// producerStep journals items one by one, telling a step alongside of
// each, then fails when told to.
type producerStep struct {
	items int
	fail  error
	// hold, when set, keeps the step running until it is closed.
	hold chan struct{}
}

func (producerStep) Name() string { return "produce" }

func (p producerStep) Run(ctx context.Context, r *Run) error {
	for i := range p.items {
		if err := r.Journal.SetFacts(func(f *state.Facts) { f.Region = string(rune('0' + i + 1)) }); err != nil {
			return err
		}
		r.NodesChanged()
		time.Sleep(5 * time.Millisecond)
	}
	if p.hold != nil {
		select {
		case <-p.hold:
		case <-ctx.Done():
			return fmt.Errorf("%w: %v", ErrStopped, context.Cause(ctx))
		}
	}
	return p.fail
}

// consumerStep runs alongside the producer and waits for its items, noting
// whether it saw the producer still running.
type consumerStep struct {
	want       string
	fail       error
	sawRunning *bool
	seen       chan struct{}
}

func (consumerStep) Name() string { return "consume" }
func (c consumerStep) Run(ctx context.Context, r *Run) error {
	if err := r.AwaitNodes(ctx, func(running bool) bool {
		*c.sawRunning = *c.sawRunning || running
		return r.Journal.FactsCopy().Region == c.want
	}); err != nil {
		return err
	}
	if r.Journal.FactsCopy().Region != c.want {
		return errors.New("the producer finished without the item")
	}
	if c.seen != nil {
		close(c.seen)
	}
	return c.fail
}

// phasedStep runs its phases in order, the way the machines step does
// where nothing overlaps.
type phasedStep struct{ phases []Step }

func (phasedStep) Name() string     { return "group" }
func (p phasedStep) Phases() []Step { return p.phases }
func (p phasedStep) Run(ctx context.Context, r *Run) error {
	for _, s := range p.phases {
		if err := r.RunPhase(ctx, s); err != nil || r.StopsAfter(s.Name()) {
			return err
		}
	}
	return nil
}

func TestPhasesAreJournaledAndTakeUntil(t *testing.T) {
	dir := t.TempDir()
	var runs []string
	e := &Engine{Steps: []Step{
		countingStep{name: "a", runs: &runs},
		phasedStep{phases: []Step{countingStep{name: "p1", runs: &runs}, countingStep{name: "p2", runs: &runs}}},
		countingStep{name: "c", runs: &runs},
	}}
	r := newRun(t, dir)
	if err := e.Execute(context.Background(), r, Options{Until: "p1"}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(runs, []string{"a", "p1"}) {
		t.Fatalf("--until p1 ran %v", runs)
	}
	if _, ok := r.Journal.Step("group"); ok {
		t.Fatal("the group has a journal record of its own; only its phases should")
	}
	runs = nil
	if err := e.Execute(context.Background(), newRun(t, dir), Options{}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(runs, []string{"p2", "c"}) {
		t.Fatalf("continuing after --until p1 ran %v, want [p2 c]", runs)
	}
	err := e.Execute(context.Background(), newRun(t, dir), Options{Until: "group"})
	if err == nil || !strings.Contains(err.Error(), "a, p1, p2, c") {
		t.Fatalf("--until naming the group: %v, want the phases listed", err)
	}
}

func TestFollowerRunsAlongsideItsLeader(t *testing.T) {
	r := newRun(t, t.TempDir())
	hold := make(chan struct{})
	seen := make(chan struct{})
	running := false
	done := make(chan error, 1)
	go func() {
		done <- Alongside(context.Background(), r, consumerStep{want: "3", sawRunning: &running, seen: seen}, producerStep{items: 3, hold: hold})
	}()
	// The follower has what it needs while the leader still runs.
	select {
	case <-seen:
	case err := <-done:
		t.Fatalf("finished before the follower saw the items: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the follower never saw the leader's items")
	}
	if rec, _ := r.Journal.Step("produce"); rec.Status != state.StepRunning {
		t.Fatalf("leader is %q while the follower finished; want running", rec.Status)
	}
	close(hold)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !running {
		t.Fatal("the follower never saw its leader running")
	}
	var finished []string
	for _, ev := range r.Events.(*events.Recorder).Snapshot() {
		if ev.Type == events.StepFinished {
			finished = append(finished, ev.Step)
		}
	}
	// Events carry their own phase's name: the follower finished first.
	if !slices.Equal(finished, []string{"consume", "produce"}) {
		t.Fatalf("phases finished in the order %v", finished)
	}
}

func TestFollowerStopsWhenItsLeaderFails(t *testing.T) {
	r := newRun(t, t.TempDir())
	running := false
	err := Alongside(context.Background(), r, consumerStep{want: "never", sawRunning: &running}, producerStep{items: 1, fail: errors.New("out of stock")})
	var se *StepError
	if !errors.As(err, &se) || se.Step != "produce" {
		t.Fatalf("err = %v, want the leader's failure", err)
	}
	if rec, _ := r.Journal.Step("consume"); rec.Status == state.StepDone {
		t.Fatal("the follower is done though its input never came")
	}
}

func TestFollowerFailureIsReportedAndStopsTheLeader(t *testing.T) {
	r := newRun(t, t.TempDir())
	running := false
	hold := make(chan struct{}) // never closed: only the stop ends the leader
	err := Alongside(context.Background(), r, consumerStep{want: "1", sawRunning: &running, fail: errors.New("foreign config on node")}, producerStep{items: 1, hold: hold})
	var se *StepError
	if !errors.As(err, &se) || se.Step != "consume" || se.Err.Error() != "foreign config on node" {
		t.Fatalf("err = %v, want the follower's own failure", err)
	}
	if rec, _ := r.Journal.Step("produce"); rec.Status != state.StepFailed {
		t.Fatalf("leader is %q, want failed (stopped)", rec.Status)
	}
}

func TestAwaitNodesChecksOnceWithoutALeader(t *testing.T) {
	r := newRun(t, t.TempDir())
	calls := 0
	if err := r.AwaitNodes(context.Background(), func(running bool) bool {
		calls++
		if running {
			t.Error("a run without a leader reported one running")
		}
		return false
	}); err != nil {
		t.Fatal(err)
	}
	if calls != 1 {
		t.Fatalf("checked %d times, want once", calls)
	}
}
