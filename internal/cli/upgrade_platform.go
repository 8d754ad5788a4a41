package cli

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/cto-platform/cto/internal/deploy"
	"github.com/cto-platform/cto/internal/pipeline"
)

// runPlatformUpgrade brings the platform's components to the versions of
// this cto's catalog: it shows what changes, then runs the deploy's
// platform step, which applies a Helm chart's new CRDs before its release,
// then each component, and waits until every one is Synced and Healthy.
func runPlatformUpgrade(ctx context.Context, g *globals, f *upgradeFlags) (err error) {
	const op = "upgrade platform"
	d, ctx, err := openDay2(ctx, g, f.name, op, f.yes, day2Needs{provider: true})
	if err != nil {
		return err
	}
	defer d.close(&err)
	// The provider's network sets the MTU the CNI is installed with
	// (day2Needs.provider): the same values as the deploy's, or every
	// release would change.
	in, err := deploy.PlatformInstaller(d.run)
	if err != nil {
		return err
	}
	changes, err := in.Changes(ctx)
	if err != nil {
		return err
	}
	out := g.streams.ErrOut
	pending := 0
	d.ui.Prompt(func() {
		tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "COMPONENT\tVIA\tRUNS\tCATALOG")
		for _, c := range changes {
			from := c.From
			if from == "" {
				from = "(not installed)"
			}
			mark := ""
			if c.From != c.To {
				pending++
				mark = "  ← upgrade"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s%s\n", c.Component, c.Via, from, c.To, mark)
		}
		tw.Flush()
	})
	if pending == 0 {
		d.endView()
		fmt.Fprintf(out, "Every component of %s runs its catalog version already.\n", f.name)
		return d.finished(op, nil)
	}
	if f.dryRun {
		d.endView()
		fmt.Fprintf(out, "%d component(s) would be upgraded; nothing was changed (--dry-run).\n", pending)
		return nil
	}
	if err := d.begin(fmt.Sprintf("Upgrade %d component(s) of cluster %s now?", pending, f.name), op); err != nil {
		return err
	}
	var steps []pipeline.Step
	for _, s := range deploy.Steps() {
		if s.Name() == deploy.StepPlatform {
			steps = append(steps, s)
		}
	}
	if err := d.execute(ctx, steps, false); err != nil {
		return fmt.Errorf("%w; rerun the same command to resume", err)
	}
	if err := d.finished(op, nil); err != nil {
		return err
	}
	d.endView()
	fmt.Fprintf(out, "Cluster %s runs this cto's platform: %d component(s) upgraded, every one Synced and Healthy.\n", f.name, pending)
	return nil
}
