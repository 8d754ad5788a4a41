package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cto-platform/cto/internal/pipeline"
	"github.com/cto-platform/cto/internal/scale"
	"github.com/cto-platform/cto/internal/state"
)

type scaleFlags struct {
	name           string
	workers        int
	controlPlanes  int
	maxMonthlyCost float64
	drainTimeout   time.Duration
	forceDrain     bool
	dryRun         bool
	yes            bool
}

func newScaleCmd(g *globals) *cobra.Command {
	f := &scaleFlags{}
	cmd := &cobra.Command{
		Use:   "scale",
		Short: "Add or remove workers, or grow the control planes, of a running cluster (resumes when run again)",
		Long: `Scale changes how many nodes a deployed cluster has.

Adding nodes shows what the new servers cost and checks the cluster's
--max-monthly-cost first, then asks (pass --yes without a terminal). The
servers are ordered tagged with the cluster's name, each ID journaled the
moment the provider returns it, joined to the cluster's private network and
given the cluster's Talos config, made from its existing secrets and API
endpoint; the command ends once each is a Ready Kubernetes node.

Removing workers takes the highest-numbered ones, one at a time: each is
cordoned and drained (PodDisruptionBudgets are respected; a budget that still
blocks after --drain-timeout stops the command and the node stays, serving),
reset through Talos, its Node object deleted and its server deleted at the
provider. --workers 0 is allowed only when the control planes take workloads
(a cluster deployed without workers); control planes are never removed.

--control-planes grows 1 control plane to 3 (or 5): the new ones join etcd
and the Kubernetes API keeps the endpoint it has, so every node's config stays
valid.

The journal records every step. After a failure or Ctrl-C, run the same
command again: it resumes.`,
		Example: `  cto scale --name prod --workers 5 --dry-run
  cto scale --name prod --workers 5 --yes
  cto scale --name prod --workers 2 --drain-timeout 15m --yes
  cto scale --name prod --control-planes 3 --yes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runScale(cmd.Context(), g, f, cmd)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.name, "name", "cto", "cluster name")
	fs.IntVar(&f.workers, "workers", scale.Keep, "how many workers the cluster should have")
	fs.IntVar(&f.controlPlanes, "control-planes", scale.Keep, "how many control planes the cluster should have: 1, 3 or 5, never fewer than now")
	fs.Float64Var(&f.maxMonthlyCost, "max-monthly-cost", 0, "refuse when the cluster would cost more per month than this (default: the cap it was deployed with)")
	fs.DurationVar(&f.drainTimeout, "drain-timeout", 10*time.Minute, "how long one node's drain may wait for its PodDisruptionBudgets")
	fs.BoolVar(&f.forceDrain, "force-drain", false, "also evict pods no controller manages (nothing recreates them)")
	fs.BoolVar(&f.dryRun, "dry-run", false, "print the plan and its cost; change nothing")
	fs.BoolVarP(&f.yes, "yes", "y", false, "proceed without asking (required without a terminal)")
	return cmd
}

// badIfInput turns a refusal of the scale package into bad input.
func badIfInput(err error) error {
	var in *scale.InputError
	if errors.As(err, &in) {
		return BadInput(in.Err)
	}
	return err
}

// finish clears a finished day-2 command from the journal: its operation
// and the records of its steps, so the same change may be asked again.
func finishDay2(j *state.Journal, op string, also func(j *state.Journal)) error {
	return j.Update(func(j *state.Journal) {
		for name := range j.Steps {
			if strings.HasPrefix(name, scale.Prefix) {
				delete(j.Steps, name)
			}
		}
		if j.Facts.Operation == op {
			j.Facts.Operation = ""
		}
		if also != nil {
			also(j)
		}
	})
}

func runScale(ctx context.Context, g *globals, f *scaleFlags, cmd *cobra.Command) (err error) {
	fs := cmd.Flags()
	if !fs.Changed("workers") && !fs.Changed("control-planes") {
		return badInputf("say what to change: --workers N and/or --control-planes N")
	}
	if fs.Changed("workers") && f.workers < 0 {
		return badInputf("--workers %d: give 0 or more", f.workers)
	}
	if fs.Changed("control-planes") && f.controlPlanes < 0 {
		return badInputf("--control-planes %d: give 1, 3 or 5", f.controlPlanes)
	}
	if f.maxMonthlyCost < 0 {
		return badInputf("--max-monthly-cost %v: give 0 (no cap) or a positive amount", f.maxMonthlyCost)
	}
	if f.drainTimeout <= 0 {
		return badInputf("--drain-timeout %s: give a positive duration such as 10m", f.drainTimeout)
	}
	// The operation names the target: a rerun of the same command resumes
	// without asking again; another target asks.
	var target []string
	if fs.Changed("workers") {
		target = append(target, fmt.Sprintf("%d worker(s)", f.workers))
	}
	if fs.Changed("control-planes") {
		target = append(target, fmt.Sprintf("%d control plane(s)", f.controlPlanes))
	}
	op := "scale to " + strings.Join(target, ", ")
	d, ctx, err := openDay2(ctx, g, f.name, op, f.yes, day2Needs{servers: true, provider: true})
	if err != nil {
		return err
	}
	defer d.close(&err)
	r, j := d.run, d.run.Journal

	c, err := scale.Connect(ctx, r, "")
	if err != nil {
		return err
	}
	c.DrainTimeout, c.ForceDrain = f.drainTimeout, f.forceDrain
	nodes := j.NodesCopy()
	schedulable := true
	if fs.Changed("workers") && f.workers == 0 {
		if schedulable, err = c.Schedulable(ctx, nodes); err != nil {
			return err
		}
	}
	workers, cps := scale.Keep, scale.Keep
	if fs.Changed("workers") {
		workers = f.workers
	}
	if fs.Changed("control-planes") {
		cps = f.controlPlanes
	}
	plan, err := scale.New(d.spec, nodes, workers, cps, schedulable)
	if err != nil {
		return badIfInput(err)
	}
	limit := d.spec.MaxMonthlyCost
	if fs.Changed("max-monthly-cost") {
		limit = f.maxMonthlyCost
		plan.Spec.MaxMonthlyCost = f.maxMonthlyCost
	}
	region := j.FactsCopy().Region
	if region == "" {
		region = strings.ToUpper(d.spec.Region)
	}
	out := g.streams.ErrOut
	est, err := scale.Price(ctx, r.Deps.Provider, plan.Spec, region, plan.Add, afterNodes(nodes, plan))
	priced := err == nil
	switch {
	case err != nil && len(plan.Add) > 0:
		return err
	case err != nil:
		// Removing costs nothing new: a plan no longer listed only
		// leaves the new total unknown.
		fmt.Fprintf(out, "WARNING: the cluster's new cost is unknown: %v\n", err)
	}
	fmt.Fprintf(out, "Scale %s: %s.\n", f.name, plan.Describe())
	for _, l := range est.Lines {
		fmt.Fprintf(out, "  new: %s\n", l)
	}
	if len(plan.Add) > 0 {
		fmt.Fprintf(out, "  the new servers: %s per hour, %s per month\n", scale.Money(est.NewHourly, est.Currency), scale.Money(est.NewMonthly, est.Currency))
	}
	if priced {
		fmt.Fprintf(out, "  the cluster after: %s per hour, %s per month\n", scale.Money(est.TotalHourly, est.Currency), scale.Money(est.TotalMonthly, est.Currency))
	}
	if len(plan.Add) > 0 {
		// The cap guards spending: a change that orders nothing lowers
		// the bill and is never refused by it.
		if err := est.CheckCap(limit, plan.Spec.Nodes); err != nil {
			return err
		}
	}
	if f.dryRun {
		fmt.Fprintln(out, "Dry run: nothing was ordered, drained or deleted.")
		return nil
	}
	resuming := j.FactsCopy().Operation == op
	if !plan.Empty() && !resuming {
		q := fmt.Sprintf("Change cluster %s: %s", f.name, plan.Describe())
		if len(plan.Add) > 0 {
			q = fmt.Sprintf("Order %d server(s) for cluster %s in %s for about %s per month more (%s per hour)",
				len(plan.Add), f.name, region, scale.Money(est.NewMonthly, est.Currency), scale.Money(est.NewHourly, est.Currency))
			if len(plan.Remove) > 0 {
				q += ", and remove " + fmt.Sprint(len(plan.Remove)) + " worker(s)"
			}
		}
		if err := r.Deps.Approve(q + "?"); err != nil {
			return err
		}
	}
	// The journal's spec is the cluster wanted from now on: the machines
	// phases create what it has and the journal lacks, and a rerun, or
	// `cto deploy` resuming, works toward it.
	raw, err := json.Marshal(plan.Spec)
	if err != nil {
		return err
	}
	if err := j.Update(func(j *state.Journal) {
		j.Spec = raw
		j.Facts.Operation = op
	}); err != nil {
		return err
	}
	r.Deps.Spec = plan.Spec
	start := time.Now()
	engine := &pipeline.Engine{Steps: plan.Steps(c)}
	if err := engine.Execute(ctx, r, pipeline.Options{}); err != nil {
		d.endView()
		if d.logPath != "" && !g.json() {
			fmt.Fprintf(out, "The whole run, in detail: %s\n", d.logPath)
		}
		return fmt.Errorf("%w; the journal is kept in %s: rerun the same command to resume", err, r.Cluster.Dir)
	}
	if err := finishDay2(j, op, func(j *state.Journal) {
		if priced {
			j.Facts.CostMonthly = fmt.Sprintf("%.2f", est.TotalMonthly)
			j.Facts.CostHourly = fmt.Sprintf("%.2f", est.TotalHourly)
		}
	}); err != nil {
		return err
	}
	d.endView()
	fmt.Fprintf(out, "Cluster %s has %d control plane(s) and %d worker(s), every node Ready (%s).\n",
		f.name, plan.Spec.ControlPlanes, plan.Spec.Workers(), time.Since(start).Round(time.Second))
	return nil
}

// afterNodes are the cluster's nodes once the plan is done.
func afterNodes(nodes []state.Node, p *scale.Plan) []state.Node {
	var out []state.Node
	for _, n := range nodes {
		gone := false
		for _, r := range p.Remove {
			gone = gone || r.Name == n.Name
		}
		if !gone {
			out = append(out, n)
		}
	}
	return append(out, p.Add...)
}
