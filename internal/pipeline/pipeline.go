// Package pipeline runs a deploy as ordered, idempotent steps. Each step
// records its progress in the cluster's journal, so a rerun after any
// failure or crash skips what is done and resumes what is not.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cto-platform/cto/internal/clock"
	"github.com/cto-platform/cto/internal/events"
	"github.com/cto-platform/cto/internal/state"
)

// Step names, in order. `--until` takes one of them.
const (
	StepValidate    = "validate"
	StepServers     = "servers"
	StepNetwork     = "network"
	StepTalos       = "talos"
	StepKubernetes  = "kubernetes"
	StepPlatform    = "platform"
	StepDNS         = "dns"
	StepCredentials = "credentials"
)

// StepNames lists every step in the order a deploy runs them.
var StepNames = []string{StepValidate, StepServers, StepNetwork, StepTalos, StepKubernetes, StepPlatform, StepDNS, StepCredentials}

// Step is one stage of a deploy. Run must be idempotent: it is called again
// after a failure and must adopt what an earlier attempt created.
type Step interface {
	Name() string
	Run(ctx context.Context, r *Run) error
}

// DryRunner is a step that can show what it would do without creating
// anything. Steps without it are skipped by a dry run.
type DryRunner interface {
	DryRun(ctx context.Context, r *Run) error
}

// Skipper is a step that may have nothing to do for this deploy (dns without
// a domain, talos on a local cluster).
type Skipper interface {
	Skip(r *Run) (reason string, skip bool)
}

// AlwaysRunner is a step that runs on every invocation even when the
// journal says it is done (validation re-checks credentials and licenses).
type AlwaysRunner interface {
	AlwaysRun() bool
}

// Options control one invocation of the engine.
type Options struct {
	// Until stops after this step ("" runs all).
	Until string
	// DryRun runs only what creates nothing.
	DryRun bool
}

// Run is what steps share during one invocation: the journal, the state
// folder, the event sink and the dependencies the command wired in.
type Run struct {
	Cluster *state.Cluster
	Journal *state.Journal
	Events  events.Sink
	Clock   clock.Clock
	DryRun  bool
	// Deps holds the collaborators steps need (provider, talos, platform...).
	Deps *Deps

	step string
	x    *execution // nil outside an engine
}

// Step returns the name of the step running now.
func (r *Run) Step() string { return r.step }

// Upstream says whether a step ahead of this one is still running in this
// invocation: true only for a step started early (EarlyStarter), which
// must then wait for what those steps journal.
func (r *Run) Upstream() bool {
	if r.x == nil {
		return false
	}
	r.x.mu.Lock()
	defer r.x.mu.Unlock()
	for _, s := range r.x.steps() {
		if s.Name() == r.step {
			return false
		}
		if !r.x.finished[s.Name()] {
			return true
		}
	}
	return false
}

// Say emits a message of the current step.
func (r *Run) Say(format string, args ...any) {
	r.Events.Emit(events.Event{Time: r.Clock.Now(), Step: r.step, Type: events.Message, Message: fmt.Sprintf(format, args...)})
}

// Warn emits a warning of the current step.
func (r *Run) Warn(format string, args ...any) {
	r.Events.Emit(events.Event{Time: r.Clock.Now(), Step: r.step, Type: events.Warning, Message: fmt.Sprintf(format, args...)})
}

// NodeEvent reports a node's progress.
func (r *Run) NodeEvent(node, status, ip, msg string) {
	r.Events.Emit(events.Event{Time: r.Clock.Now(), Step: r.step, Type: events.NodeUpdate, Node: node, Status: status, IP: ip, Message: msg})
}

// Engine runs steps in order.
type Engine struct {
	Steps []Step
}

// ErrStopped is returned when a step was interrupted by cancellation at a
// safe point; the journal is saved and a rerun resumes.
var ErrStopped = errors.New("stopped")

// StepError says which step failed.
type StepError struct {
	Step string
	Err  error
}

func (e *StepError) Error() string { return e.Step + ": " + e.Err.Error() }
func (e *StepError) Unwrap() error { return e.Err }

// EarlyStarter is a step that may start alongside an earlier one instead of
// after it, waiting inside Run for what it needs node by node (Talos
// configures each server as soon as it is up, not after the last). It is
// still awaited at its own place in the order, and it is stopped when a
// step before it fails.
type EarlyStarter interface {
	// StartsWith names the step it starts alongside, or "" to run in order.
	StartsWith(r *Run) string
}

// Execute runs the steps for r with opts. Done steps are skipped; the first
// failure is recorded in the journal and returned as a *StepError.
func (e *Engine) Execute(ctx context.Context, r *Run, opts Options) error {
	if opts.Until != "" && !slices.ContainsFunc(e.Steps, func(s Step) bool { return s.Name() == opts.Until }) {
		return fmt.Errorf("--until %q is not a step; use one of %s", opts.Until, strings.Join(e.names(), ", "))
	}
	if r.Events == nil {
		r.Events = events.Discard
	}
	if r.Clock == nil {
		r.Clock = clock.Real{}
	}
	r.DryRun = opts.DryRun
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	x := &execution{engine: e, run: r, opts: opts, cancel: cancel, early: map[string]*earlyStep{}, finished: map[string]bool{}}
	r.x = x
	defer func() { r.x = nil }()
	defer x.wait()
	for i, s := range x.steps() {
		name := s.Name()
		if es, ok := x.early[name]; ok {
			<-es.done
			if es.err != nil {
				return es.err
			}
			x.finish(name)
			continue
		}
		if err := ctx.Err(); err != nil {
			x.wait()
			return x.firstError(ctx, fmt.Errorf("%w before step %s: %v", ErrStopped, name, context.Cause(ctx)))
		}
		x.startEarly(ctx, i)
		if err := e.runOne(ctx, r.forStep(name), s, opts); err != nil {
			cancel(err)
			x.wait()
			return x.firstError(ctx, err)
		}
		x.finish(name)
	}
	return nil
}

// forStep is r as the named step sees it: its events carry that name.
// Steps that run side by side each get their own.
func (r *Run) forStep(name string) *Run {
	rs := *r
	rs.step = name
	return &rs
}

// Finished says whether the named step finished (or was skipped) in this
// invocation; a step this invocation does not run counts as finished.
func (r *Run) Finished(step string) bool {
	if r.x == nil || !slices.ContainsFunc(r.x.steps(), func(s Step) bool { return s.Name() == step }) {
		return true
	}
	r.x.mu.Lock()
	defer r.x.mu.Unlock()
	return r.x.finished[step]
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

// execution is one Execute: the steps it runs and those started early.
type execution struct {
	engine *Engine
	run    *Run
	opts   Options
	cancel context.CancelCauseFunc
	early  map[string]*earlyStep

	mu       sync.Mutex
	finished map[string]bool // steps done or skipped in this invocation
}

func (x *execution) finish(name string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.finished[name] = true
}

type earlyStep struct {
	done chan struct{}
	err  error
}

// steps are the engine's steps up to --until.
func (x *execution) steps() []Step {
	steps := x.engine.Steps
	if x.opts.Until != "" {
		i := slices.IndexFunc(steps, func(s Step) bool { return s.Name() == x.opts.Until })
		steps = steps[:i+1]
	}
	return steps
}

// startEarly starts, alongside steps[i], every later step that starts with
// it and has work to do, and in turn those that start with them.
func (x *execution) startEarly(ctx context.Context, i int) {
	if x.opts.DryRun {
		return
	}
	steps := x.steps()
	with := steps[i].Name()
	for j := i + 1; j < len(steps); j++ {
		s := steps[j]
		es, ok := s.(EarlyStarter)
		if !ok || es.StartsWith(x.run) != with || !x.hasWork(s) {
			continue
		}
		name := s.Name()
		st := &earlyStep{done: make(chan struct{})}
		x.early[name] = st
		go func() {
			defer close(st.done)
			if st.err = x.engine.runOne(ctx, x.run.forStep(name), s, x.opts); st.err != nil {
				x.cancel(st.err)
				return
			}
			x.finish(name)
		}()
		x.startEarly(ctx, j)
	}
}

// hasWork says whether a step would run rather than be skipped.
func (x *execution) hasWork(s Step) bool {
	if sk, ok := s.(Skipper); ok {
		if _, skip := sk.Skip(x.run); skip {
			return false
		}
	}
	if a, ok := s.(AlwaysRunner); ok && a.AlwaysRun() {
		return true
	}
	rec, ok := x.run.Journal.Step(s.Name())
	return !ok || rec.Status != state.StepDone
}

// wait lets every early step finish; they stop soon once ctx is cancelled.
func (x *execution) wait() {
	for _, es := range x.early {
		<-es.done
	}
}

// firstError prefers the failure of a step started early, when that is
// what stopped the others, over the stop it caused.
func (x *execution) firstError(ctx context.Context, err error) error {
	var se *StepError
	if cause := context.Cause(ctx); errors.As(cause, &se) && x.early[se.Step] != nil && !errors.Is(se, ErrStopped) {
		return se
	}
	return err
}

func (e *Engine) runOne(ctx context.Context, r *Run, s Step, opts Options) error {
	name := s.Name()
	emit := func(t events.Type, msg string, elapsed time.Duration) {
		r.Events.Emit(events.Event{Time: r.Clock.Now(), Step: name, Type: t, Message: msg, ElapsedSeconds: elapsed.Seconds()})
	}
	if sk, ok := s.(Skipper); ok {
		if reason, skip := sk.Skip(r); skip {
			emit(events.StepSkipped, reason, 0)
			return nil
		}
	}
	always := false
	if a, ok := s.(AlwaysRunner); ok {
		always = a.AlwaysRun()
	}
	if rec, ok := r.Journal.Step(name); ok && rec.Status == state.StepDone && !always && !opts.DryRun {
		emit(events.StepSkipped, "done earlier", 0)
		return nil
	}
	if opts.DryRun {
		dr, ok := s.(DryRunner)
		if !ok {
			emit(events.StepSkipped, "creates resources; skipped by --dry-run", 0)
			return nil
		}
		start := time.Now()
		emit(events.StepStarted, "dry run", 0)
		if err := dr.DryRun(ctx, r); err != nil {
			emit(events.StepFailed, err.Error(), time.Since(start))
			return &StepError{Step: name, Err: err}
		}
		emit(events.StepFinished, "dry run", time.Since(start))
		return nil
	}

	start := time.Now()
	if err := r.Journal.Update(func(j *state.Journal) {
		rec := j.Steps[name]
		if rec == nil {
			rec = &state.StepRecord{}
			j.Steps[name] = rec
		}
		rec.Status = state.StepRunning
		rec.StartedAt = r.Clock.Now().UTC()
		rec.Error = ""
	}); err != nil {
		return &StepError{Step: name, Err: err}
	}
	emit(events.StepStarted, "", 0)
	err := s.Run(ctx, r)
	status, msg := state.StepDone, ""
	if err != nil {
		status, msg = state.StepFailed, err.Error()
	}
	saveErr := r.Journal.Update(func(j *state.Journal) {
		rec := j.Steps[name]
		rec.Status = status
		rec.FinishedAt = r.Clock.Now().UTC()
		rec.Error = msg
	})
	if err != nil {
		emit(events.StepFailed, msg, time.Since(start))
		return &StepError{Step: name, Err: err}
	}
	if saveErr != nil {
		emit(events.StepFailed, saveErr.Error(), time.Since(start))
		return &StepError{Step: name, Err: saveErr}
	}
	emit(events.StepFinished, "", time.Since(start))
	return nil
}

func (e *Engine) names() []string {
	out := make([]string, len(e.Steps))
	for i, s := range e.Steps {
		out[i] = s.Name()
	}
	return out
}
