// Package pipeline is the engine that runs a deploy's steps (package
// deploy) one after the other. Each step records its progress in the
// cluster's journal, so a rerun after any failure or crash skips what is
// done and resumes what is not.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cto-platform/cto/internal/clock"
	"github.com/cto-platform/cto/internal/events"
	"github.com/cto-platform/cto/internal/state"
)

// Step is one stage of a deploy. Run must be idempotent: it is called again
// after a failure and must adopt what an earlier attempt created.
type Step interface {
	Name() string
	Run(ctx context.Context, r *Run) error
}

// Phased is a step made of phases that the journal records as steps of
// their own. The engine gives it no record: its Run runs each phase with
// Run.RunPhase, which journals, skips and dry-runs it like any step.
type Phased interface {
	Phases() []Step
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
	// Until stops after this step or phase ("" runs all).
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

	step  string
	until string
	// watch, for a phase run Alongside others, tells it of every node
	// they journal.
	watch *nodeWatch
}

// Step returns the name of the step running now.
func (r *Run) Step() string { return r.step }

// StopsAfter says whether --until names this step or phase.
func (r *Run) StopsAfter(name string) bool { return r.until == name }

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

// Engine runs steps one after the other.
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

// Execute runs the steps for r with opts, in order. Done steps are skipped;
// the first failure is recorded in the journal and returned as a
// *StepError.
func (e *Engine) Execute(ctx context.Context, r *Run, opts Options) error {
	names := e.names()
	if opts.Until != "" && !slices.Contains(names, opts.Until) {
		return fmt.Errorf("--until %q is not a step; use one of %s", opts.Until, strings.Join(names, ", "))
	}
	if r.Events == nil {
		r.Events = events.Discard
	}
	if r.Clock == nil {
		r.Clock = clock.Real{}
	}
	r.DryRun, r.until = opts.DryRun, opts.Until
	for _, s := range e.Steps {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%w before step %s: %v", ErrStopped, s.Name(), context.Cause(ctx))
		}
		var err error
		if _, ok := s.(Phased); ok {
			err = s.Run(ctx, r.forStep(s.Name()))
		} else {
			err = r.RunPhase(ctx, s)
		}
		if err != nil || stopsIn(s, opts.Until) {
			return err
		}
	}
	return nil
}

// stopsIn says whether until names s or one of its phases.
func stopsIn(s Step, until string) bool {
	if s.Name() == until {
		return true
	}
	p, ok := s.(Phased)
	return ok && slices.ContainsFunc(p.Phases(), func(ph Step) bool { return ph.Name() == until })
}

// names are the steps and phases --until may name, in order.
func (e *Engine) names() []string {
	var out []string
	for _, s := range e.Steps {
		if p, ok := s.(Phased); ok {
			for _, ph := range p.Phases() {
				out = append(out, ph.Name())
			}
			continue
		}
		out = append(out, s.Name())
	}
	return out
}

// forStep is r as the named step sees it: its events carry that name.
// Phases that run side by side each get their own.
func (r *Run) forStep(name string) *Run {
	rs := *r
	rs.step = name
	return &rs
}

// RunPhase runs one step or phase the way the engine runs a step: skipped
// when it has nothing to do or is done, dry-run under --dry-run, and
// otherwise journaled as running, then done or failed with its error.
func (r *Run) RunPhase(ctx context.Context, s Step) error {
	name := s.Name()
	r = r.forStep(name)
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
	if r.DryRun {
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
	if done(r, name) && !always {
		emit(events.StepSkipped, "done earlier", 0)
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

// done says whether the journal records the named step as done.
func done(r *Run, name string) bool {
	rec, ok := r.Journal.Step(name)
	return ok && rec.Status == state.StepDone
}

// HasWork says whether RunPhase would run s rather than skip it.
func HasWork(r *Run, s Step) bool {
	if sk, ok := s.(Skipper); ok {
		if _, skip := sk.Skip(r); skip {
			return false
		}
	}
	if a, ok := s.(AlwaysRunner); ok && a.AlwaysRun() {
		return true
	}
	return !done(r, s.Name())
}
