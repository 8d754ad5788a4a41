package cli

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cto-platform/cto/internal/pipeline"
	"github.com/cto-platform/cto/internal/scale"
	"github.com/cto-platform/cto/internal/state"
)

type replaceFlags struct {
	name         string
	node         string
	drainTimeout time.Duration
	forceDrain   bool
	dryRun       bool
	yes          bool
}

func newReplaceCmd(g *globals) *cobra.Command {
	f := &replaceFlags{}
	cmd := &cobra.Command{
		Use:   "replace",
		Short: "Replace one node's server with a new one, same name and role (resumes when run again)",
		Long: `Replace swaps a node's server, dead or alive, for a new one that takes the
node's name, role and private address.

  1. A node that still runs is drained (PodDisruptionBudgets are respected).
  2. A control plane's etcd member is removed through a healthy control
     plane, only when the members left keep quorum; otherwise replace
     refuses and says which member to replace first. A cluster's only
     control plane cannot be replaced (grow to 3 first).
  3. The node is reset through Talos if it answers, its Node object is
     deleted, and its server is deleted at the provider.
  4. A new server is ordered (shown with its price, and asked for; pass
     --yes without a terminal), its ID journaled at once, joined to the
     private network and given the cluster's Talos config, made from the
     existing secrets and endpoint; the command ends once the node is Ready
     (and, for a control plane, etcd lists it again).

The old server is deleted before the new one is ordered: a stop in between
leaves nothing billing that you did not ask for, and the rerun orders it.
After a failure or Ctrl-C, run the same command again: it resumes.`,
		Example: `  cto replace --name prod --node prod-worker2 --dry-run
  cto replace --name prod --node prod-cp2 --yes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runReplace(cmd.Context(), g, f)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.name, "name", "cto", "cluster name")
	fs.StringVar(&f.node, "node", "", "the node to replace, e.g. prod-worker2 (`cto status` lists them)")
	fs.DurationVar(&f.drainTimeout, "drain-timeout", 10*time.Minute, "how long the node's drain may wait for its PodDisruptionBudgets")
	fs.BoolVar(&f.forceDrain, "force-drain", false, "also evict pods no controller manages (nothing recreates them)")
	fs.BoolVar(&f.dryRun, "dry-run", false, "check and print the plan and its cost; change nothing")
	fs.BoolVarP(&f.yes, "yes", "y", false, "proceed without asking (required without a terminal)")
	return cmd
}

func runReplace(ctx context.Context, g *globals, f *replaceFlags) (err error) {
	if f.node == "" {
		return badInputf("say which node to replace: --node NAME (`cto status --name %s` lists them)", f.name)
	}
	if f.drainTimeout <= 0 {
		return badInputf("--drain-timeout %s: give a positive duration such as 10m", f.drainTimeout)
	}
	op := "replace " + f.node
	d, ctx, err := openDay2(ctx, g, f.name, op, f.yes, day2Needs{servers: true, provider: true})
	if err != nil {
		return err
	}
	defer d.close(&err)
	r, j := d.run, d.run.Journal
	if !slices.Contains(nodeNamesOf(j), f.node) {
		return badInputf("cluster %s has no node %q; its nodes: %s", f.name, f.node, strings.Join(nodeNamesOf(j), ", "))
	}
	for _, n := range j.NodesCopy() {
		if n.Name == f.node && n.Role == "controlplane" && countRole(j, "controlplane") == 1 {
			return badInputf("%s holds the only etcd member: replacing it would lose the cluster's state; grow to 3 control planes first (`cto scale --name %s --control-planes 3`)", f.node, f.name)
		}
	}
	c, err := scale.Connect(ctx, r, f.node)
	if err != nil {
		return err
	}
	c.DrainTimeout, c.ForceDrain = f.drainTimeout, f.forceDrain
	rep, err := scale.CheckReplace(ctx, r, c, f.node, j.FactsCopy().Operation == op)
	if err != nil {
		return badIfInput(err)
	}
	region := j.FactsCopy().Region
	if region == "" {
		region = strings.ToUpper(d.spec.Region)
	}
	est, err := scale.Price(ctx, r.Deps.Provider, d.spec, region, []state.Node{rep.Node}, j.NodesCopy())
	if err != nil {
		return err
	}
	out := g.streams.ErrOut
	condition := "it does not answer (dead)"
	if rep.Alive {
		condition = "it runs; it is drained first"
	}
	fmt.Fprintf(out, "Replace %s (%s) of %s: %s.\n", f.node, rep.Node.Role, f.name, condition)
	for _, l := range est.Lines {
		fmt.Fprintf(out, "  new: %s\n", l)
	}
	fmt.Fprintf(out, "  the old server is deleted before the new one is ordered; the cluster costs the same: %s per month\n", scale.Money(est.TotalMonthly, est.Currency))
	if f.dryRun {
		fmt.Fprintln(out, "Dry run: nothing was drained, deleted or ordered.")
		return nil
	}
	if j.FactsCopy().Operation != op {
		if err := r.Deps.Approve(fmt.Sprintf("Replace %s: delete its server and order a new one in %s for about %s per month (%s per hour)?",
			f.node, region, scale.Money(est.NewMonthly, est.Currency), scale.Money(est.NewHourly, est.Currency))); err != nil {
			return err
		}
		if err := j.SetFacts(func(fa *state.Facts) { fa.Operation = op }); err != nil {
			return err
		}
	}
	start := time.Now()
	engine := &pipeline.Engine{Steps: rep.Steps(c)}
	if err := engine.Execute(ctx, r, pipeline.Options{}); err != nil {
		d.endView()
		if d.logPath != "" && !g.json() {
			fmt.Fprintf(out, "The whole run, in detail: %s\n", d.logPath)
		}
		return fmt.Errorf("%w; the journal is kept in %s: rerun the same command to resume", badIfInput(err), r.Cluster.Dir)
	}
	if err := finishDay2(j, op, nil); err != nil {
		return err
	}
	d.endView()
	for _, n := range j.NodesCopy() {
		if n.Name == f.node {
			fmt.Fprintf(out, "%s runs on server %s (%s), Ready (%s).\n", f.node, n.ServerID, n.PublicIP, time.Since(start).Round(time.Second))
		}
	}
	return nil
}

func nodeNamesOf(j *state.Journal) []string {
	var out []string
	for _, n := range j.NodesCopy() {
		out = append(out, n.Name)
	}
	return out
}

func countRole(j *state.Journal, role string) int {
	n := 0
	for _, x := range j.NodesCopy() {
		if x.Role == role {
			n++
		}
	}
	return n
}
