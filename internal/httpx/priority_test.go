package httpx

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"
)

// manualClock moves only when the test advances it; sleepers wait for it.
type manualClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) Sleep(ctx context.Context, d time.Duration) error {
	until := c.Now().Add(d)
	for c.Now().Before(until) {
		if err := ctx.Err(); err != nil {
			return err
		}
		time.Sleep(50 * time.Microsecond)
	}
	return nil
}

func (c *manualClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func queued(b *bucket) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.queue)
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(100 * time.Microsecond)
	}
}

func TestBudgetServesHigherPriorityFirstThenArrival(t *testing.T) {
	clk := &manualClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	b := newBucket(60, 0, clk) // 60 a minute
	for i := range 60 {        // one a second, so the window frees one at a time
		if i > 0 {
			clk.advance(time.Second)
		}
		if _, err := b.take(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	var order []string
	var wg sync.WaitGroup
	arrivals := []struct {
		name string
		prio Priority
	}{{"low", PriorityLow}, {"normal-1", PriorityNormal}, {"high-1", PriorityHigh}, {"normal-2", PriorityNormal}, {"high-2", PriorityHigh}}
	for i, a := range arrivals {
		wg.Go(func() {
			if _, err := b.take(WithPriority(context.Background(), a.prio)); err != nil {
				t.Error(err)
			}
			mu.Lock()
			order = append(order, a.name)
			mu.Unlock()
		})
		waitFor(t, func() bool { return queued(b) == i+1 })
	}
	clk.advance(windowMargin) // now the window's first send is a minute old
	for i := range arrivals {
		clk.advance(time.Second)
		waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(order) == i+1 })
	}
	wg.Wait()
	want := []string{"high-1", "high-2", "normal-1", "normal-2", "low"}
	if !slices.Equal(order, want) {
		t.Fatalf("tokens went to %v, want %v", order, want)
	}
}

func TestBudgetWaiterThatGivesUpLeavesTheQueue(t *testing.T) {
	clk := &manualClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	b := newBucket(60, 0, clk)
	for range 60 {
		b.take(context.Background())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := b.take(ctx); done <- err }()
	waitFor(t, func() bool { return queued(b) == 1 })
	cancel()
	if err := <-done; err == nil {
		t.Fatal("a cancelled wait took a token")
	}
	if queued(b) != 0 {
		t.Fatal("the cancelled waiter is still queued")
	}
	clk.advance(time.Minute + windowMargin)
	if _, err := b.take(context.Background()); err != nil {
		t.Fatal(err)
	}
	if queued(b) != 0 {
		t.Fatal("a free window queued a request")
	}
}

func TestBudgetNeverSendsMoreThanTheLimitInAnyMinute(t *testing.T) {
	clk := newStepClock()
	b := newBucket(20, 0, clk)
	var sends []time.Time
	for range 100 {
		if _, err := b.take(context.Background()); err != nil {
			t.Fatal(err)
		}
		sends = append(sends, clk.Now())
	}
	for i := range sends {
		in := 0
		for _, s := range sends[i:] {
			if s.Sub(sends[i]) < time.Minute {
				in++
			}
		}
		if in > 20 {
			t.Fatalf("%d sends in the minute from %s", in, sends[i].Format(time.TimeOnly))
		}
	}
	if got := sends[99].Sub(sends[0]); got > 4*(time.Minute+windowMargin) {
		t.Fatalf("100 sends at 20 a minute took %s, want at most four windows", got)
	}
}

// A request keeps its place in the window until its answer is back, so a
// request that travelled slowly still reaches the API a full minute before
// the one that reuses its place.
func TestBudgetCountsTheMinuteFromTheAnswer(t *testing.T) {
	clk := newStepClock()
	var arrivals []time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		clk.mu.Lock()
		if len(arrivals) == 0 {
			clk.now = clk.now.Add(10 * time.Second) // the first request is slow on its way in
		}
		arrivals = append(arrivals, clk.now)
		clk.mu.Unlock()
	}))
	defer srv.Close()
	c := New(Options{Clock: clk, WritesPerMinute: 1})
	for range 2 {
		if _, err := c.Do(context.Background(), Request{Method: http.MethodPost, URL: srv.URL}); err != nil {
			t.Fatal(err)
		}
	}
	if gap := arrivals[1].Sub(arrivals[0]); gap < time.Minute {
		t.Fatalf("two writes at one a minute reached the API %s apart", gap)
	}
}
