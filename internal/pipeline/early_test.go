package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/cto-platform/cto/internal/events"
	"github.com/cto-platform/cto/internal/state"
)

// producerStep journals items one by one, then fails when told to.
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

// consumerStep starts with the producer and waits for its items, noting
// whether it saw the producer still upstream.
type consumerStep struct {
	want       string
	fail       error
	sawRunning *bool
	seen       chan struct{}
}

func (consumerStep) Name() string             { return "consume" }
func (consumerStep) StartsWith(r *Run) string { return "produce" }
func (c consumerStep) Run(ctx context.Context, r *Run) error {
	for r.Journal.FactsCopy().Region != c.want {
		if r.Upstream() {
			*c.sawRunning = true
		} else {
			return errors.New("the producer finished without the item")
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %v", ErrStopped, context.Cause(ctx))
		case <-time.After(time.Millisecond):
		}
	}
	if c.seen != nil {
		close(c.seen)
	}
	return c.fail
}

func TestEarlyStepRunsAlongsideItsPredecessor(t *testing.T) {
	r := newRun(t, t.TempDir())
	hold := make(chan struct{})
	seen := make(chan struct{})
	running := false
	var runs []string
	e := &Engine{Steps: []Step{
		producerStep{items: 3, hold: hold},
		consumerStep{want: "3", sawRunning: &running, seen: seen},
		countingStep{name: "after", runs: &runs},
	}}
	done := make(chan error, 1)
	go func() { done <- e.Execute(context.Background(), r, Options{}) }()
	// The consumer has what it needs while the producer still runs.
	select {
	case <-seen:
	case err := <-done:
		t.Fatalf("finished before the consumer saw the items: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the consumer never saw the producer's items")
	}
	if rec, _ := r.Journal.Step("produce"); rec.Status != state.StepRunning {
		t.Fatalf("producer is %q while the consumer finished; want running", rec.Status)
	}
	close(hold)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !running {
		t.Fatal("the consumer never saw its upstream running")
	}
	for _, name := range []string{"produce", "consume", "after"} {
		if rec, _ := r.Journal.Step(name); rec.Status != state.StepDone {
			t.Errorf("step %s: %q, want done", name, rec.Status)
		}
	}
	// Events carry their own step's name: the consumer finished before
	// the producer did.
	var finished []string
	for _, ev := range r.Events.(*events.Recorder).Snapshot() {
		if ev.Type == events.StepFinished {
			finished = append(finished, ev.Step)
		}
	}
	if !slices.Equal(finished, []string{"consume", "produce", "after"}) {
		t.Fatalf("steps finished in the order %v", finished)
	}
}

func TestEarlyStepStopsWhenItsPredecessorFails(t *testing.T) {
	r := newRun(t, t.TempDir())
	running := false
	e := &Engine{Steps: []Step{
		producerStep{items: 1, fail: errors.New("out of stock")},
		consumerStep{want: "never", sawRunning: &running},
	}}
	err := e.Execute(context.Background(), r, Options{})
	var se *StepError
	if !errors.As(err, &se) || se.Step != "produce" {
		t.Fatalf("err = %v, want the producer's failure", err)
	}
	rec, _ := r.Journal.Step("consume")
	if rec.Status == state.StepDone {
		t.Fatal("the consumer is done though its input never came")
	}
}

func TestEarlyStepFailureIsReportedAndStopsTheRest(t *testing.T) {
	r := newRun(t, t.TempDir())
	running := false
	hold := make(chan struct{}) // never closed: only the stop ends the producer
	e := &Engine{Steps: []Step{
		producerStep{items: 1, hold: hold},
		consumerStep{want: "1", sawRunning: &running, fail: errors.New("foreign config on node")},
	}}
	err := e.Execute(context.Background(), r, Options{})
	var se *StepError
	if !errors.As(err, &se) || se.Step != "consume" || !errors.Is(err, se.Err) || se.Err.Error() != "foreign config on node" {
		t.Fatalf("err = %v, want the consumer's own failure", err)
	}
	if rec, _ := r.Journal.Step("produce"); rec.Status != state.StepFailed {
		t.Fatalf("producer is %q, want failed (stopped)", rec.Status)
	}
}

func TestUntilKeepsLaterStepsFromStartingEarly(t *testing.T) {
	r := newRun(t, t.TempDir())
	running := false
	e := &Engine{Steps: []Step{
		producerStep{items: 1},
		consumerStep{want: "never", sawRunning: &running},
	}}
	if err := e.Execute(context.Background(), r, Options{Until: "produce"}); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Journal.Step("consume"); ok {
		t.Fatal("a step after --until started")
	}
}
