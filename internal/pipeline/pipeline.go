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
	"time"

	"github.com/cto-platform/cto/internal/clock"
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
	Events  Sink
	Clock   clock.Clock
	DryRun  bool
	// Deps holds the collaborators steps need (provider, talos, platform...).
	Deps *Deps

	step string
}

// Step returns the name of the step running now.
func (r *Run) Step() string { return r.step }

// Say emits a message of the current step.
func (r *Run) Say(format string, args ...any) {
	r.Events.Emit(Event{Time: r.Clock.Now(), Step: r.step, Type: Message, Message: fmt.Sprintf(format, args...)})
}

// Warn emits a warning of the current step.
func (r *Run) Warn(format string, args ...any) {
	r.Events.Emit(Event{Time: r.Clock.Now(), Step: r.step, Type: Warning, Message: fmt.Sprintf(format, args...)})
}

// NodeEvent reports a node's progress.
func (r *Run) NodeEvent(node, status, ip, msg string) {
	r.Events.Emit(Event{Time: r.Clock.Now(), Step: r.step, Type: NodeUpdate, Node: node, Status: status, IP: ip, Message: msg})
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

// Execute runs the steps for r with opts. Done steps are skipped; the first
// failure is recorded in the journal and returned as a *StepError.
func (e *Engine) Execute(ctx context.Context, r *Run, opts Options) error {
	if opts.Until != "" && !slices.ContainsFunc(e.Steps, func(s Step) bool { return s.Name() == opts.Until }) {
		return fmt.Errorf("--until %q is not a step; use one of %s", opts.Until, strings.Join(e.names(), ", "))
	}
	if r.Events == nil {
		r.Events = Discard
	}
	if r.Clock == nil {
		r.Clock = clock.Real{}
	}
	r.DryRun = opts.DryRun
	for _, s := range e.Steps {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%w before step %s: %v", ErrStopped, s.Name(), context.Cause(ctx))
		}
		name := s.Name()
		r.step = name
		if err := e.runOne(ctx, r, s, opts); err != nil {
			return err
		}
		if name == opts.Until {
			break
		}
	}
	r.step = ""
	return nil
}

func (e *Engine) runOne(ctx context.Context, r *Run, s Step, opts Options) error {
	name := s.Name()
	emit := func(t EventType, msg string, elapsed time.Duration) {
		r.Events.Emit(Event{Time: r.Clock.Now(), Step: name, Type: t, Message: msg, ElapsedSeconds: elapsed.Seconds()})
	}
	if sk, ok := s.(Skipper); ok {
		if reason, skip := sk.Skip(r); skip {
			emit(StepSkipped, reason, 0)
			return nil
		}
	}
	always := false
	if a, ok := s.(AlwaysRunner); ok {
		always = a.AlwaysRun()
	}
	if rec, ok := r.Journal.Step(name); ok && rec.Status == state.StepDone && !always && !opts.DryRun {
		emit(StepSkipped, "done earlier", 0)
		return nil
	}
	if opts.DryRun {
		dr, ok := s.(DryRunner)
		if !ok {
			emit(StepSkipped, "creates resources; skipped by --dry-run", 0)
			return nil
		}
		start := time.Now()
		emit(StepStarted, "dry run", 0)
		if err := dr.DryRun(ctx, r); err != nil {
			emit(StepFailed, err.Error(), time.Since(start))
			return &StepError{Step: name, Err: err}
		}
		emit(StepFinished, "dry run", time.Since(start))
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
	emit(StepStarted, "", 0)
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
		emit(StepFailed, msg, time.Since(start))
		return &StepError{Step: name, Err: err}
	}
	if saveErr != nil {
		emit(StepFailed, saveErr.Error(), time.Since(start))
		return &StepError{Step: name, Err: saveErr}
	}
	emit(StepFinished, "", time.Since(start))
	return nil
}

func (e *Engine) names() []string {
	out := make([]string, len(e.Steps))
	for i, s := range e.Steps {
		out[i] = s.Name()
	}
	return out
}
