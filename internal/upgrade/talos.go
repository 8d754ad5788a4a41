package upgrade

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/blang/semver/v4"
	corev1 "k8s.io/api/core/v1"

	"github.com/cto-platform/cto/internal/deploy"
	"github.com/cto-platform/cto/internal/drain"
	"github.com/cto-platform/cto/internal/pipeline"
	"github.com/cto-platform/cto/internal/state"
	"github.com/cto-platform/cto/internal/talos"
)

// StepTalos is the step of `cto upgrade --talos-version`; its phases are
// named "talos <version> <node>".
const StepTalos = "upgrade-talos"

// TalosPlan is a checked Talos upgrade: the versions each node goes
// through, control planes one at a time, then workers in batches.
type TalosPlan struct {
	Target string
	// Path is the versions the cluster goes through, the target last.
	Path []string
	// From is the version each node runs now.
	From map[string]string
	// MaxUnavailable is how many workers upgrade at once (at least 1).
	MaxUnavailable int
	// Stage writes the new image and installs it at the reboot.
	Stage bool

	c            *Cluster
	cps, workers []state.Node
}

// PlanTalos reads the versions the nodes and the Kubernetes API run and
// the versions the Image Factory builds, and checks the request against
// the rules. A *RuleError is a request the rules refuse.
func PlanTalos(ctx context.Context, r *pipeline.Run, c *Cluster, target string, maxUnavailable int, stage bool) (*TalosPlan, error) {
	if maxUnavailable < 1 {
		return nil, &RuleError{fmt.Errorf("--max-unavailable %d: at least one worker must be allowed to upgrade at a time", maxUnavailable)}
	}
	cps, workers := nodesByRole(r)
	from, err := c.nodeVersions(ctx, r, append(cps, workers...))
	if err != nil {
		return nil, err
	}
	available, err := deploy.TalosVersions(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("the Image Factory's Talos versions: %w", err)
	}
	kube, err := c.Kube.Discovery().ServerVersion()
	if err != nil {
		return nil, fmt.Errorf("the Kubernetes API's version: %w", err)
	}
	oldest := ""
	for _, v := range from {
		if oldest == "" || older(v, oldest) {
			oldest = v
		}
	}
	path, err := TalosPath(oldest, target, kube.GitVersion, available)
	if err != nil {
		return nil, &RuleError{err}
	}
	return &TalosPlan{Target: "v" + strings.TrimPrefix(target, "v"), Path: path, From: from, MaxUnavailable: maxUnavailable, Stage: stage,
		c: c, cps: cps, workers: workers}, nil
}

func older(a, b string) bool {
	va, ea := semver.ParseTolerant(a)
	vb, eb := semver.ParseTolerant(b)
	return ea == nil && eb == nil && va.LT(vb)
}

// Steps are what the engine runs.
func (p *TalosPlan) Steps() []pipeline.Step { return []pipeline.Step{talosStep{p}} }

type talosStep struct{ p *TalosPlan }

func (talosStep) Name() string { return StepTalos }

// Phases are one per node and version, in the order they run.
func (s talosStep) Phases() []pipeline.Step {
	var out []pipeline.Step
	for _, v := range s.p.Path {
		for _, batch := range s.p.batches(v) {
			out = append(out, batch...)
		}
	}
	return out
}

// batches are the node steps of one version: each control plane alone,
// then the workers MaxUnavailable at a time.
func (p *TalosPlan) batches(version string) [][]pipeline.Step {
	var out [][]pipeline.Step
	for _, cp := range p.cps {
		out = append(out, []pipeline.Step{talosNodeStep{p, version, cp}})
	}
	for i := 0; i < len(p.workers); i += p.MaxUnavailable {
		var batch []pipeline.Step
		for _, w := range p.workers[i:min(i+p.MaxUnavailable, len(p.workers))] {
			batch = append(batch, talosNodeStep{p, version, w})
		}
		out = append(out, batch)
	}
	return out
}

// Run upgrades batch after batch and stops at the first failure; the
// batch it failed in finishes its other nodes first.
func (s talosStep) Run(ctx context.Context, r *pipeline.Run) error {
	for _, v := range s.p.Path {
		for _, batch := range s.p.batches(v) {
			errs := make([]error, len(batch))
			var wg sync.WaitGroup
			for i, st := range batch {
				wg.Go(func() { errs[i] = r.RunPhase(ctx, st) })
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				return err
			}
		}
	}
	return nil
}

// talosNodeStep upgrades one node to one version.
type talosNodeStep struct {
	p       *TalosPlan
	version string
	node    state.Node
}

func (s talosNodeStep) Name() string { return "talos " + s.version + " " + s.node.Name }

func (s talosNodeStep) DryRun(ctx context.Context, r *pipeline.Run) error {
	from := s.p.From[s.node.Name]
	if !older(from, s.version) {
		r.Say("%s runs %s already", s.node.Name, from)
		return nil
	}
	image, err := installer(ctx, r, s.node, s.version)
	if err != nil {
		return err
	}
	r.Say("%s (%s): drain, upgrade %s → %s with %s, wait until Ready on it, uncordon", s.node.Name, s.node.Role, from, s.version, image)
	return nil
}

func (s talosNodeStep) Run(ctx context.Context, r *pipeline.Run) error {
	c, n := s.p.c, s.node
	ep := r.Deps.Talos.Endpoint(n.PublicIP)
	// A node may be mid-reboot from an earlier run that was stopped: wait
	// for it to answer before deciding anything.
	var cur string
	if err := poll(ctx, r, n.Name+" answers its Talos API", func() (bool, string, error) {
		v, err := c.Talos.Version(ctx, ep)
		if err != nil {
			return false, err.Error(), nil
		}
		cur = v
		return true, "", nil
	}); err != nil {
		return err
	}
	if older(cur, s.version) {
		if n.Role == talos.RoleControlPlane {
			r.NodeEvent(n.Name, "waiting", n.PublicIP, "waiting for etcd to be healthy with every member")
			if err := c.EtcdHealthy(ctx, r); err != nil {
				return err
			}
		}
		image, err := installer(ctx, r, n, s.version)
		if err != nil {
			return err
		}
		if err := c.Drain(ctx, r, n); err != nil {
			return err
		}
		r.NodeEvent(n.Name, "upgrading", n.PublicIP, fmt.Sprintf("Talos %s → %s", cur, s.version))
		if err := c.Talos.Upgrade(ctx, ep, image, s.p.Stage, false); err != nil && !upgradeUnderWay(err) {
			// Talos refused before touching the node: it may serve again.
			r.NodeEvent(n.Name, "failed", n.PublicIP, err.Error())
			return errors.Join(fmt.Errorf("%s: %w", n.Name, err), drain.Uncordon(ctx, c.Kube, n.Name))
		}
		if err := s.waitRebooted(ctx, r, ep, cur); err != nil {
			return err
		}
	}
	r.NodeEvent(n.Name, "rejoining", n.PublicIP, "waiting for its kubelet to be Ready on "+s.version)
	if err := c.Back(ctx, r, n, "on Talos "+s.version, func(node *corev1.Node) bool {
		return strings.Contains(node.Status.NodeInfo.OSImage, "("+s.version+")")
	}); err != nil {
		return err
	}
	if err := r.Journal.Update(func(j *state.Journal) {
		if jn := j.NodeLocked(n.Name); jn != nil {
			jn.TalosVersion = s.version
		}
	}); err != nil {
		return err
	}
	r.NodeEvent(n.Name, "upgraded", n.PublicIP, "runs Talos "+s.version)
	return nil
}

// waitRebooted waits for the node to come back on the new version. A
// node that went down and came back on the version it ran before booted
// its previous image again: Talos rolls back an image that fails to boot.
func (s talosNodeStep) waitRebooted(ctx context.Context, r *pipeline.Run, ep, before string) error {
	went := false
	return poll(ctx, r, s.node.Name+" back on Talos "+s.version, func() (bool, string, error) {
		v, err := s.p.c.Talos.Version(ctx, ep)
		switch {
		case err != nil:
			went = true
			return false, "its Talos API does not answer: " + err.Error(), nil
		case v == s.version:
			return true, "", nil
		case went && v == before:
			return false, "", fmt.Errorf("%s came back on Talos %s: the %s image did not boot and Talos rolled back to the previous one; the node is cordoned, see its console or `talosctl dmesg`", s.node.Name, before, s.version)
		}
		return false, "it still runs " + v, nil
	})
}

// upgradeUnderWay is Talos's answer to an upgrade asked again while the
// one asked before still runs (an earlier run was stopped after asking).
func upgradeUnderWay(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "locked") || strings.Contains(msg, "in progress")
}

// ControlPlanes and Workers are the nodes the plan upgrades.
func (p *TalosPlan) ControlPlanes() []state.Node { return slices.Clone(p.cps) }
func (p *TalosPlan) Workers() []state.Node       { return slices.Clone(p.workers) }

// Progress says which nodes run the target by the journal and which do
// not yet, for the message of a run that stopped.
func (p *TalosPlan) Progress(j *state.Journal) string {
	return progress(j, "on Talos "+p.Target, func(n state.Node) bool { return n.TalosVersion == p.Target })
}
