package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/cto-platform/cto/internal/pipeline"
	"github.com/cto-platform/cto/internal/spec"
	"github.com/cto-platform/cto/internal/state"
)

// day2 is a deployed cluster opened for a day-2 command: locked, its
// journal and spec loaded, a run with the live view and a run log.
type day2 struct {
	g       *globals
	spec    spec.ClusterSpec
	run     *pipeline.Run
	ui      progress
	logPath string
	unlock  func() error
	ended   sync.Once
}

// day2Needs is what a day-2 command needs of the cluster.
type day2Needs struct {
	// servers: only a cluster cto deployed on servers (not kind, not an
	// existing one).
	servers bool
	// provider: the provider built with its credentials (and the DNS
	// provider), as deploy builds them, for a cluster on servers.
	provider bool
}

// openDay2 opens cluster name for the day-2 command op ("scale to 4
// worker(s)", "upgrade talos v1.13.9"). A cluster that does not exist, is
// not one the command works on, or has another day-2 command unfinished
// is bad input. A command of the same kind may take over from an
// unfinished one (a new target for a failed upgrade).
func openDay2(ctx context.Context, g *globals, name, op string, yes bool, needs day2Needs) (*day2, context.Context, error) {
	if g.remote == nil {
		if _, err := state.Open(g.stateDir, name, false); err != nil {
			return nil, ctx, BadInput(err)
		}
	}
	command := strings.Fields(op)[0]
	c, ctx, unlock, err := g.openLocked(ctx, name, command)
	if err != nil {
		return nil, ctx, err
	}
	d := &day2{g: g, unlock: unlock}
	fail := func(err error) (*day2, context.Context, error) {
		if uerr := unlock(); uerr != nil {
			err = fmt.Errorf("%w; %v", err, uerr)
		}
		return nil, ctx, err
	}
	if !c.Exists() {
		return fail(badInputf("no cluster %q: it has no journal in %s", name, c.Dir))
	}
	j, err := c.Load()
	if err != nil {
		return fail(err)
	}
	if err := json.Unmarshal(j.Spec, &d.spec); err != nil {
		return fail(fmt.Errorf("%w: the journal's spec cannot be read: %v", state.ErrCorrupt, err))
	}
	if needs.servers && d.spec.Source() != spec.Servers {
		return fail(badInputf("cluster %q runs on %s: cto %s works on clusters it deployed on servers", name, d.spec.Provider, command))
	}
	if cur := j.FactsCopy().Operation; cur != "" && cur != op && !sameKind(cur, op) {
		return fail(badInputf("cluster %q has an unfinished %q: rerun that command to finish it first", name, cur))
	}
	interactive := isTerminal(g.streams.In) && isTerminal(g.streams.ErrOut)
	deps := &pipeline.Deps{Spec: d.spec}
	if needs.provider && d.spec.NeedsMachines() {
		if deps, err = newDeps(ctx, g, d.spec, interactive); err != nil {
			return fail(err)
		}
	}
	deps.Yes, deps.Interactive = yes, interactive
	var logErr error
	d.ui, d.logPath, logErr = withRunLog(newUI(g, command), c, command, time.Now())
	if logErr != nil {
		fmt.Fprintf(g.streams.ErrOut, "WARNING: this run keeps no log: %v\n", logErr)
	}
	if interactive && !yes {
		deps.Confirm = func(q string) (ok bool, err error) {
			d.ui.Prompt(func() { ok, err = confirm(g.streams, q) })
			return ok, err
		}
	}
	d.run = &pipeline.Run{Cluster: c, Journal: j, Events: d.ui, Deps: deps, Clock: runClock()}
	return d, ctx, nil
}

// close ends the live view and releases the lock.
func (d *day2) close(err *error) {
	d.endView()
	unlockInto(err, d.unlock)
}

// endView ends the live view, once, before the command's last lines.
func (d *day2) endView() { d.ended.Do(d.ui.Close) }

// begin asks to go ahead and marks op under way in the journal.
func (d *day2) begin(question, op string) error {
	if err := d.run.Deps.Approve(question); err != nil {
		return err
	}
	return d.run.Journal.SetFacts(func(f *state.Facts) { f.Operation = op })
}

// execute runs steps; a failure names the run log.
func (d *day2) execute(ctx context.Context, steps []pipeline.Step, dryRun bool) error {
	err := (&pipeline.Engine{Steps: steps}).Execute(ctx, d.run, pipeline.Options{DryRun: dryRun})
	if err != nil && d.logPath != "" && !d.g.json() {
		d.endView()
		fmt.Fprintf(d.g.streams.ErrOut, "The whole run, in detail: %s\n", d.logPath)
	}
	return err
}

// carryOut asks to go ahead, marks op under way, runs steps and records
// what they changed in the cluster's spec; a dry run only shows them. A
// failure says what is done and what is not (stopped).
func (d *day2) carryOut(ctx context.Context, question, op string, steps []pipeline.Step, dryRun bool, stopped func() string, change func(*spec.ClusterSpec)) error {
	if !dryRun {
		if err := d.begin(question, op); err != nil {
			return err
		}
	}
	if err := d.execute(ctx, steps, dryRun); err != nil {
		return fmt.Errorf("%w; %s; rerun the same command to resume", err, stopped())
	}
	if dryRun {
		return nil
	}
	return d.finished(op, change)
}

// finished clears op from the journal and records what it changed in the
// cluster's spec (nil: nothing).
func (d *day2) finished(op string, change func(*spec.ClusterSpec)) error {
	return d.run.Journal.Update(func(j *state.Journal) {
		if change != nil {
			s := d.spec
			change(&s)
			if raw, err := json.Marshal(s); err == nil {
				j.Spec = raw
			}
		}
		if j.Facts.Operation == op {
			j.Facts.Operation = ""
		}
	})
}

// sameKind says whether two operations change the same thing, so the
// second may take over from the first (a new target for a failed upgrade).
func sameKind(a, b string) bool {
	fa, fb := strings.Fields(a), strings.Fields(b)
	return len(fa) > 1 && len(fb) > 1 && fa[0] == fb[0] && fa[1] == fb[1]
}
