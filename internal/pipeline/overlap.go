package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Alongside runs the leading phases in order while follower runs beside
// them, told of every node they journal and of their end (AwaitNodes).
// The first failure stops the other side and is the one returned.
func Alongside(ctx context.Context, r *Run, follower Step, leaders ...Step) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	watch := newNodeWatch()
	rw := *r
	rw.watch = watch
	followed := make(chan error, 1)
	go func() {
		err := rw.RunPhase(ctx, follower)
		if err != nil {
			cancel(err)
		}
		followed <- err
	}()

	var err error
	for _, s := range leaders {
		if err = rw.RunPhase(ctx, s); err != nil {
			break
		}
	}
	watch.finish()
	if err != nil {
		cancel(err)
		if ferr := <-followed; firstFailure(ferr, err) {
			return ferr
		}
		return err
	}
	return <-followed
}

// firstFailure says whether a's failure came first: b only reports being
// stopped because a failed.
func firstFailure(a, b error) bool {
	return a != nil && !errors.Is(a, ErrStopped) && !errors.Is(a, context.Canceled) && (errors.Is(b, ErrStopped) || errors.Is(b, context.Canceled))
}

// nodeWatch tells a follower when its leaders journaled a change to a
// node, and when they are done, so that it waits on news instead of on a
// timer.
type nodeWatch struct {
	mu       sync.Mutex
	next     chan struct{} // closed at the next change
	finished bool
}

func newNodeWatch() *nodeWatch { return &nodeWatch{next: make(chan struct{})} }

// changed wakes everyone waiting for news.
func (w *nodeWatch) changed() {
	w.mu.Lock()
	defer w.mu.Unlock()
	close(w.next)
	w.next = make(chan struct{})
}

// finish says the leaders are over: what they journal about the nodes is
// final.
func (w *nodeWatch) finish() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.finished = true
	close(w.next)
	w.next = make(chan struct{})
}

// news returns a channel closed at the next change, and whether the
// leaders still run.
func (w *nodeWatch) news() (<-chan struct{}, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.next, !w.finished
}

// NodesChanged tells a follower running alongside that the journal's
// nodes changed.
func (r *Run) NodesChanged() {
	if r.watch != nil {
		r.watch.changed()
	}
}

// AwaitNodes returns once ok holds for the journal's nodes, checking it
// again at every change the leaders report and once they are done. Outside
// Alongside, ok is checked once.
func (r *Run) AwaitNodes(ctx context.Context, ok func(leadersRunning bool) bool) error {
	for {
		var news <-chan struct{}
		running := false
		if r.watch != nil {
			news, running = r.watch.news()
		}
		if ok(running) || !running {
			return nil
		}
		select {
		case <-news:
		case <-ctx.Done():
			return fmt.Errorf("%w: %v", ErrStopped, context.Cause(ctx))
		}
	}
}

// WaitFor sleeps on the run's clock until ok holds, polling every d.
func (r *Run) WaitFor(ctx context.Context, d time.Duration, ok func() bool) error {
	for !ok() {
		if err := r.Clock.Sleep(ctx, d); err != nil {
			return fmt.Errorf("%w: %v", ErrStopped, context.Cause(ctx))
		}
	}
	return nil
}
