package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/blang/semver/v4"
	"github.com/spf13/cobra"

	"github.com/cto-platform/cto/internal/pipeline"
	"github.com/cto-platform/cto/internal/spec"
	"github.com/cto-platform/cto/internal/state"
	"github.com/cto-platform/cto/internal/upgrade"
)

type upgradeFlags struct {
	name           string
	talosVersion   string
	maxUnavailable int
	stage          bool
	drainTimeout   time.Duration
	forceDrain     bool
	dryRun         bool
	yes            bool
}

func newUpgradeCmd(g *globals) *cobra.Command {
	f := &upgradeFlags{}
	cmd := &cobra.Command{
		Use:   "upgrade",
		Short: "Upgrade a running cluster's Talos, node by node (resumes when run again)",
		Long: `Upgrade moves a deployed cluster to a new Talos version without taking it down.

Before anything runs it asks every node which version it runs and checks the
rules: Talos goes through the latest patch of each minor on the way (the Image
Factory says which exist), never down, and only to versions that run the
cluster's Kubernetes. Then, for each version on the path:

  control planes  one at a time, each only while etcd answers on every control
                  plane with all of them as members
  workers         --max-unavailable at a time

Each node is cordoned and drained (PodDisruptionBudgets are respected), told
to upgrade through its Talos API, and waited for until it answers on the new
version and its kubelet is Ready again; then it is uncordoned. A node whose new
image does not boot comes back on the old one (Talos keeps both): the upgrade
stops there and says so.

The journal records every node as it finishes. After a failure or Ctrl-C, run
the same command again: finished nodes are skipped. ` + "`cto status`" + ` shows the
versions of each node and an upgrade in progress.`,
		Example: `  cto upgrade --name prod --talos-version v1.13.9 --dry-run
  cto upgrade --name prod --talos-version v1.13.9 --max-unavailable 2 --yes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runUpgrade(cmd.Context(), g, f)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.name, "name", "cto", "cluster name")
	fs.StringVar(&f.talosVersion, "talos-version", "", "the Talos version to upgrade to, e.g. v1.13.9")
	fs.IntVar(&f.maxUnavailable, "max-unavailable", 1, "how many workers may upgrade at once (control planes always go one at a time)")
	fs.BoolVar(&f.stage, "stage", false, "stage the new image and install it at the reboot (for nodes whose files are in use)")
	fs.DurationVar(&f.drainTimeout, "drain-timeout", 10*time.Minute, "how long one node's drain may wait for its PodDisruptionBudgets")
	fs.BoolVar(&f.forceDrain, "force-drain", false, "also evict pods no controller manages (nothing recreates them; without it such a pod stops the upgrade before its node is touched)")
	fs.BoolVar(&f.dryRun, "dry-run", false, "check the rules and print the plan; change nothing")
	fs.BoolVarP(&f.yes, "yes", "y", false, "proceed without asking (required without a terminal)")
	return cmd
}

func runUpgrade(ctx context.Context, g *globals, f *upgradeFlags) (err error) {
	if f.talosVersion == "" {
		return badInputf("say what to upgrade to: --talos-version v1.13.9")
	}
	if _, err := semver.Parse(strings.TrimPrefix(f.talosVersion, "v")); err != nil {
		return badInputf("--talos-version %q is not a version like v1.13.9", f.talosVersion)
	}
	if f.maxUnavailable < 1 {
		return badInputf("--max-unavailable %d: at least one worker must be allowed to upgrade at a time", f.maxUnavailable)
	}
	if f.drainTimeout <= 0 {
		return badInputf("--drain-timeout %s: give a positive duration such as 10m", f.drainTimeout)
	}
	if g.remote == nil {
		if _, err := state.Open(g.stateDir, f.name, false); err != nil {
			return BadInput(err)
		}
	}
	c, ctx, unlock, err := g.openLocked(ctx, f.name, "upgrade")
	if err != nil {
		return err
	}
	defer unlockInto(&err, unlock)
	if !c.Exists() {
		return badInputf("no cluster %q: it has no journal in %s", f.name, c.Dir)
	}
	j, err := c.Load()
	if err != nil {
		return err
	}
	var s spec.ClusterSpec
	if err := json.Unmarshal(j.Spec, &s); err != nil {
		return fmt.Errorf("%w: the journal's spec cannot be read: %v", state.ErrCorrupt, err)
	}
	if s.Source() != spec.Servers {
		return badInputf("cluster %q runs on %s: cto upgrades the Talos of clusters it deployed on servers", f.name, s.Provider)
	}
	op := "upgrade talos v" + strings.TrimPrefix(f.talosVersion, "v")
	if cur := j.FactsCopy().Operation; cur != "" && cur != op && !sameKind(cur, op) {
		return badInputf("cluster %q has an unfinished %q: rerun that command to finish it first", f.name, cur)
	}

	interactive := isTerminal(g.streams.In) && isTerminal(g.streams.ErrOut)
	deps := &pipeline.Deps{Spec: s, Yes: f.yes, Interactive: interactive}
	ui, logPath, logErr := withRunLog(newUI(g, "upgrade"), c, "upgrade", time.Now())
	if logErr != nil {
		fmt.Fprintf(g.streams.ErrOut, "WARNING: this run keeps no log: %v\n", logErr)
	}
	if interactive && !f.yes {
		deps.Confirm = func(q string) (ok bool, err error) {
			ui.Prompt(func() { ok, err = confirm(g.streams, q) })
			return ok, err
		}
	}
	run := &pipeline.Run{Cluster: c, Journal: j, Events: ui, Deps: deps, Clock: runClock()}
	cl, err := upgrade.Connect(run)
	if err != nil {
		ui.Close()
		return err
	}
	cl.DrainTimeout, cl.ForceDrain = f.drainTimeout, f.forceDrain
	plan, err := upgrade.PlanTalos(ctx, run, cl, f.talosVersion, f.maxUnavailable, f.stage)
	if err != nil {
		ui.Close()
		var rule *upgrade.RuleError
		if errors.As(err, &rule) {
			return BadInput(rule)
		}
		return err
	}
	if len(plan.Path) == 0 {
		ui.Close()
		fmt.Fprintf(g.streams.ErrOut, "Every node of %s runs Talos %s already.\n", f.name, plan.Target)
		return j.SetFacts(func(fa *state.Facts) {
			if fa.Operation == op {
				fa.Operation = ""
			}
		})
	}
	fmt.Fprintf(g.streams.ErrOut, "Upgrade %s to Talos %s through %s: %d control plane(s) one at a time, then %d worker(s) %d at a time.\n",
		f.name, plan.Target, strings.Join(plan.Path, " → "), len(plan.ControlPlanes()), len(plan.Workers()), plan.MaxUnavailable)
	if !f.dryRun {
		if err := deps.Approve(fmt.Sprintf("Upgrade cluster %s to Talos %s now?", f.name, plan.Target)); err != nil {
			ui.Close()
			return err
		}
		if err := j.SetFacts(func(fa *state.Facts) { fa.Operation = op }); err != nil {
			ui.Close()
			return err
		}
	}
	start := time.Now()
	engine := &pipeline.Engine{Steps: plan.Steps()}
	err = engine.Execute(ctx, run, pipeline.Options{DryRun: f.dryRun})
	ui.Close()
	if err != nil {
		if logPath != "" && !g.json() {
			fmt.Fprintf(g.streams.ErrOut, "The whole run, in detail: %s\n", logPath)
		}
		return fmt.Errorf("%w; %s; rerun the same command to resume", err, plan.Progress(j))
	}
	if f.dryRun {
		return nil
	}
	if err := j.Update(func(j *state.Journal) {
		s.Talos.Version = plan.Target
		j.Spec, _ = json.Marshal(s)
		j.Facts.Operation = ""
	}); err != nil {
		return err
	}
	fmt.Fprintf(g.streams.ErrOut, "Cluster %s runs Talos %s on all %d nodes (%s).\n", f.name, plan.Target, len(plan.ControlPlanes())+len(plan.Workers()), time.Since(start).Round(time.Second))
	return nil
}

// sameKind says whether two operations change the same thing, so the
// second may take over from the first (a new target for a failed upgrade).
func sameKind(a, b string) bool {
	fa, fb := strings.Fields(a), strings.Fields(b)
	return len(fa) > 1 && len(fb) > 1 && fa[0] == fb[0] && fa[1] == fb[1]
}
