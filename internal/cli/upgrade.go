package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/blang/semver/v4"
	"github.com/spf13/cobra"

	"github.com/cto-platform/cto/internal/spec"
	"github.com/cto-platform/cto/internal/state"
	"github.com/cto-platform/cto/internal/upgrade"
)

type upgradeFlags struct {
	name           string
	talosVersion   string
	k8sVersion     string
	maxUnavailable int
	stage          bool
	drainTimeout   time.Duration
	forceDrain     bool
	platform       bool
	dryRun         bool
	yes            bool
}

func newUpgradeCmd(g *globals) *cobra.Command {
	f := &upgradeFlags{}
	cmd := &cobra.Command{
		Use:   "upgrade",
		Short: "Upgrade a running cluster's Talos or Kubernetes node by node, or its platform (resumes when run again)",
		Long: `Upgrade moves a deployed cluster to a new Talos version (--talos-version) or a
new Kubernetes version (--kubernetes-version) without taking it down, or its
platform's components to this cto's catalog (--platform): one per run.

Talos

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
versions of each node and an upgrade in progress.

Kubernetes

The upgrade talosctl upgrade-k8s performs. It reads the version the control
plane's pods and the kubelets run and checks the rules: one minor version at a
time, never down, and only to a version every node's Talos supports. Then:

  pre-pull        every node pulls the images it will run
  control plane   kube-apiserver on each control plane in turn (while etcd
                  answers with all its members), then kube-controller-manager,
                  then kube-scheduler: the node's running config is patched
                  and applied without a reboot, and cto waits until the
                  component's pod runs the new image and is Ready
  kubelets        control planes, then workers, one at a time: patched the
                  same way, waited for until the Node reports the new version
                  and is Ready

Nodes are not drained: the kubelet restarts in place and its pods keep
running. kube-proxy is not deployed by cto; Talos's bootstrap manifests
(CoreDNS, its RBAC) are not updated. A rerun skips what is done.

Platform

--platform lists each component's version on the cluster next to
the catalog's, then upgrades those that differ as a deploy installs them: a
Helm chart's new CRDs first, then its release, then the Argo CD Applications,
and waits until every component is Synced and Healthy. It reads the
provider's credentials, as deploy does.`,
		Example: `  cto upgrade --name prod --talos-version v1.13.9 --dry-run
  cto upgrade --name prod --talos-version v1.13.9 --max-unavailable 2 --yes
  cto upgrade --name prod --kubernetes-version v1.36.3 --yes
  cto upgrade --name prod --platform --dry-run`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runUpgrade(cmd.Context(), g, f)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.name, "name", "cto", "cluster name")
	fs.StringVar(&f.talosVersion, "talos-version", "", "the Talos version to upgrade to, e.g. v1.13.9")
	fs.StringVar(&f.k8sVersion, "kubernetes-version", "", "the Kubernetes version to upgrade to, e.g. v1.36.3 (one minor version at a time)")
	fs.BoolVar(&f.platform, "platform", false, "upgrade the platform's components to the versions of this cto's catalog")
	fs.IntVar(&f.maxUnavailable, "max-unavailable", 1, "how many workers may upgrade at once (control planes always go one at a time)")
	fs.BoolVar(&f.stage, "stage", false, "stage the new image and install it at the reboot (for nodes whose files are in use)")
	fs.DurationVar(&f.drainTimeout, "drain-timeout", 10*time.Minute, "how long one node's drain may wait for its PodDisruptionBudgets")
	fs.BoolVar(&f.forceDrain, "force-drain", false, "also evict pods no controller manages (nothing recreates them; without it such a pod stops the upgrade before its node is touched)")
	fs.BoolVar(&f.dryRun, "dry-run", false, "check the rules and print the plan; change nothing")
	fs.BoolVarP(&f.yes, "yes", "y", false, "proceed without asking (required without a terminal)")
	return cmd
}

func runUpgrade(ctx context.Context, g *globals, f *upgradeFlags) (err error) {
	asked := 0
	for _, set := range []bool{f.talosVersion != "", f.k8sVersion != "", f.platform} {
		if set {
			asked++
		}
	}
	switch {
	case asked == 0:
		return badInputf("say what to upgrade: --talos-version v1.13.9, --kubernetes-version v1.36.3 or --platform")
	case asked > 1:
		return badInputf("upgrade one thing at a time: --talos-version, --kubernetes-version or --platform (Talos first when the new Kubernetes needs it)")
	case f.platform:
		return runPlatformUpgrade(ctx, g, f)
	}
	version, flag, example := f.talosVersion, "--talos-version", "v1.13.9"
	if f.k8sVersion != "" {
		version, flag, example = f.k8sVersion, "--kubernetes-version", "v1.36.3"
	}
	if _, err := semver.Parse(strings.TrimPrefix(version, "v")); err != nil {
		return badInputf("%s %q is not a version like %s", flag, version, example)
	}
	if f.maxUnavailable < 1 {
		return badInputf("--max-unavailable %d: at least one worker must be allowed to upgrade at a time", f.maxUnavailable)
	}
	if f.drainTimeout <= 0 {
		return badInputf("--drain-timeout %s: give a positive duration such as 10m", f.drainTimeout)
	}
	op := "upgrade talos v" + strings.TrimPrefix(f.talosVersion, "v")
	if f.k8sVersion != "" {
		op = "upgrade kubernetes v" + strings.TrimPrefix(f.k8sVersion, "v")
	}
	d, ctx, err := openDay2(ctx, g, f.name, op, f.yes, day2Needs{servers: true})
	if err != nil {
		return err
	}
	defer d.close(&err)
	run, j := d.run, d.run.Journal
	cl, err := upgrade.Connect(run)
	if err != nil {
		return err
	}
	cl.DrainTimeout, cl.ForceDrain = f.drainTimeout, f.forceDrain
	if f.k8sVersion != "" {
		return runUpgradeKubernetes(ctx, g, f, d, cl, op)
	}
	plan, err := upgrade.PlanTalos(ctx, run, cl, f.talosVersion, f.maxUnavailable, f.stage)
	if err != nil {
		return badRule(err)
	}
	if len(plan.Path) == 0 && j.FactsCopy().Operation == op {
		// A run stopped after its last node was asked to upgrade: that
		// node's wait, its uncordon and its record are still to do.
		plan.Path = []string{plan.Target}
	}
	if len(plan.Path) == 0 {
		d.endView()
		fmt.Fprintf(g.streams.ErrOut, "Every node of %s runs Talos %s already.\n", f.name, plan.Target)
		return d.finished(op, nil)
	}
	d.ui.Prompt(func() {
		fmt.Fprintf(g.streams.ErrOut, "Upgrade %s to Talos %s through %s: %d control plane(s) one at a time, then %d worker(s) %d at a time.\n",
			f.name, plan.Target, strings.Join(plan.Path, " → "), len(plan.ControlPlanes()), len(plan.Workers()), plan.MaxUnavailable)
	})
	start := time.Now()
	if err := d.carryOut(ctx, fmt.Sprintf("Upgrade cluster %s to Talos %s now?", f.name, plan.Target), op, plan.Steps(), f.dryRun,
		func() string { return plan.Progress(j) }, func(s *spec.ClusterSpec) { s.Talos.Version = plan.Target }); err != nil || f.dryRun {
		return err
	}
	d.endView()
	fmt.Fprintf(g.streams.ErrOut, "Cluster %s runs Talos %s on all %d nodes (%s).\n", f.name, plan.Target, len(plan.ControlPlanes())+len(plan.Workers()), time.Since(start).Round(time.Second))
	return nil
}

// runUpgradeKubernetes is `cto upgrade --kubernetes-version`, from the
// plan on.
func runUpgradeKubernetes(ctx context.Context, g *globals, f *upgradeFlags, d *day2, cl *upgrade.Cluster, op string) error {
	run, j := d.run, d.run.Journal
	plan, err := upgrade.PlanKubernetes(ctx, run, cl, f.k8sVersion)
	if err != nil {
		return badRule(err)
	}
	recordVersion := func(s *spec.ClusterSpec) { s.Talos.KubernetesVersion = plan.Target }
	if plan.Done() {
		d.endView()
		fmt.Fprintf(g.streams.ErrOut, "Every node of %s runs Kubernetes %s already.\n", f.name, plan.Target)
		// A run stopped after its last apply leaves the journal behind
		// the nodes.
		if err := j.Update(func(j *state.Journal) {
			for i := range j.Nodes {
				j.Nodes[i].KubernetesVersion = plan.Target
			}
		}); err != nil {
			return err
		}
		return d.finished(op, recordVersion)
	}
	d.ui.Prompt(func() {
		fmt.Fprintf(g.streams.ErrOut, "Upgrade %s from Kubernetes %s to %s: pre-pull, then kube-apiserver, kube-controller-manager and kube-scheduler on %d control plane(s) one at a time, then the kubelets of all %d nodes one at a time.\n",
			f.name, plan.From, plan.Target, len(plan.ControlPlanes()), len(plan.ControlPlanes())+len(plan.Workers()))
	})
	start := time.Now()
	if err := d.carryOut(ctx, fmt.Sprintf("Upgrade cluster %s to Kubernetes %s now?", f.name, plan.Target), op, plan.Steps(), f.dryRun,
		func() string { return plan.Progress(j) }, recordVersion); err != nil || f.dryRun {
		return err
	}
	d.endView()
	fmt.Fprintf(g.streams.ErrOut, "Cluster %s runs Kubernetes %s on all %d nodes (%s).\n", f.name, plan.Target, len(plan.ControlPlanes())+len(plan.Workers()), time.Since(start).Round(time.Second))
	return nil
}

// badRule makes a request the version rules refuse bad input.
func badRule(err error) error {
	var rule *upgrade.RuleError
	if errors.As(err, &rule) {
		return BadInput(rule)
	}
	return err
}
