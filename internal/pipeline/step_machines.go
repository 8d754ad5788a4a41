package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// StepMachines groups the phases that bring every node from nothing to
// running the cluster's Talos config.
const StepMachines = "machines"

// machinesStep orders the servers, puts them on the cluster's private
// network and configures Talos on them: three phases, each journaled as a
// step of its own.
//
// On a provider that paces its writes and whose private addresses cto
// chooses (Latitude.sh), a deploy is bound by the write budget, so the
// phases overlap node by node: each server joins the network right after
// its order, and takes its Talos config as soon as it is up, while the
// last orders still wait for the budget. Elsewhere they run one after the
// other.
type machinesStep struct{}

func (machinesStep) Name() string { return StepMachines }

func (machinesStep) Phases() []Step { return []Step{serversStep{}, networkStep{}, talosStep{}} }

func (m machinesStep) Run(ctx context.Context, r *Run) error {
	if r.DryRun || !joinsNetworkEarly(r) || r.StopsAfter(StepServers) || r.StopsAfter(StepNetwork) || !hasWork(r, talosStep{}) {
		for _, ph := range m.Phases() {
			if err := r.RunPhase(ctx, ph); err != nil || r.StopsAfter(ph.Name()) {
				return err
			}
		}
		return nil
	}
	return alongside(ctx, r, talosStep{}, serversStep{}, networkStep{})
}

// alongside runs the leading phases in order while follower runs beside
// them, told of every node they journal and of their end (awaitNodes).
// The first failure stops the other side and is the one returned.
func alongside(ctx context.Context, r *Run, follower Step, leaders ...Step) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	watch := newNodeWatch()
	rw := *r
	rw.machines = watch
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

// nodeWatch tells the talos phase when the servers phase journaled a
// change to a node, and when it is done, so that talos waits on news
// instead of on a timer.
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

// finish says the servers and network phases are over: every node's
// server and addresses are final.
func (w *nodeWatch) finish() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.finished = true
	close(w.next)
	w.next = make(chan struct{})
}

// news returns a channel closed at the next change, and whether the
// servers phase is still running.
func (w *nodeWatch) news() (<-chan struct{}, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.next, !w.finished
}

// serversRunning says whether the servers phase still orders and watches
// servers alongside this phase.
func (r *Run) serversRunning() bool {
	if r.machines == nil {
		return false
	}
	_, running := r.machines.news()
	return running
}

// nodesChanged tells a talos phase running alongside that the journal's
// nodes changed.
func (r *Run) nodesChanged() {
	if r.machines != nil {
		r.machines.changed()
	}
}

// awaitNodes returns once ok holds for the journal's nodes, checking it
// again at every change the servers phase reports and once it is done.
// Without a servers phase alongside, ok is checked once.
func (r *Run) awaitNodes(ctx context.Context, ok func(serversRunning bool) bool) error {
	for {
		var news <-chan struct{}
		running := false
		if r.machines != nil {
			news, running = r.machines.news()
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

// waitFor sleeps on the run's clock until ok holds, polling every d.
func (r *Run) waitFor(ctx context.Context, d time.Duration, ok func() bool) error {
	for !ok() {
		if err := r.Clock.Sleep(ctx, d); err != nil {
			return fmt.Errorf("%w: %v", ErrStopped, context.Cause(ctx))
		}
	}
	return nil
}
