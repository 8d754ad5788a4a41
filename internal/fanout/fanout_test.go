package fanout

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

var errBoom = errors.New("boom")

// At most limit calls run at once, every item is called, and the failures
// come back sorted by name, each reachable with errors.Is.
func TestEachBoundsAndSortsFailures(t *testing.T) {
	items := []string{"d", "b", "a", "c", "e", "f"}
	var running, peak, calls atomic.Int32
	err := Each(context.Background(), 2, items, func(s string) string { return s }, func(_ context.Context, s string) error {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(5 * time.Millisecond)
		running.Add(-1)
		calls.Add(1)
		if s == "d" || s == "a" {
			return fmt.Errorf("delete %s: %w", s, errBoom)
		}
		return nil
	})
	if calls.Load() != 6 || peak.Load() > 2 || peak.Load() < 1 {
		t.Errorf("calls %d, at most %d at once; want 6 calls, at most 2 at once", calls.Load(), peak.Load())
	}
	if err == nil || err.Error() != "a: delete a: boom; d: delete d: boom" {
		t.Fatalf("err = %v, want the two failures sorted by name", err)
	}
	if !errors.Is(err, errBoom) {
		t.Error("errors.Is does not reach the failures")
	}
}

// A cancelled context starts nothing new and says so, while calls already
// running finish.
func TestEachStopsStartingOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	stop := errors.New("user interrupted")
	var calls atomic.Int32
	err := Each(ctx, 1, []int{1, 2, 3, 4}, nil, func(_ context.Context, i int) error {
		calls.Add(1)
		if i == 2 {
			cancel(stop)
		}
		return nil
	})
	if calls.Load() != 2 {
		t.Errorf("%d calls, want 2: none after the cancel", calls.Load())
	}
	if !errors.Is(err, stop) {
		t.Errorf("err = %v, want the cancel's cause", err)
	}
}

func TestEachWithNothingToDo(t *testing.T) {
	if err := Each(context.Background(), 3, []int(nil), nil, func(context.Context, int) error { return errBoom }); err != nil {
		t.Errorf("no items: %v", err)
	}
}
