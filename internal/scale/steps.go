package scale

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/cto-platform/cto/internal/deploy"
	"github.com/cto-platform/cto/internal/drain"
	"github.com/cto-platform/cto/internal/pipeline"
	"github.com/cto-platform/cto/internal/provider"
	"github.com/cto-platform/cto/internal/state"
	"github.com/cto-platform/cto/internal/talos"
)

// Step names: every step and phase of scale and replace starts with
// Prefix, so a finished command clears their records and the same node
// may be scaled or replaced again later.
const (
	Prefix     = "day2 "
	StepGrow   = Prefix + "machines"
	StepReady  = Prefix + "ready"
	StepRemove = Prefix + "remove"
	StepAccess = Prefix + "access"
)

// deployStep is the deploy's step of that name.
func deployStep(name string) pipeline.Step {
	for _, s := range deploy.Steps() {
		if s.Name() == name {
			return s
		}
	}
	panic("no deploy step " + name)
}

// machinePhases are the deploy's phases that order, network and configure
// servers.
var machinePhases = []string{deploy.StepServers, deploy.StepNetwork, deploy.StepTalos}

// Steps are what the engine runs for a plan: the new nodes first (the
// deploy's machines phases over the changed spec, then each waited for
// until Ready), then the workers that go, one after the other, then the
// cluster's access (kubeconfig, DNS records, credentials) brought up to
// date.
func (p *Plan) Steps(c *Cluster) []pipeline.Step {
	leaving := map[string]bool{}
	for _, n := range p.Remove {
		leaving[n.Name] = true
	}
	steps := []pipeline.Step{growStep{}, readyStep{c: c, etcd: p.Spec.ControlPlanes > p.ControlPlanes, skip: leaving}}
	if len(p.Remove) > 0 {
		steps = append(steps, removeStep{c: c, nodes: p.Remove})
	}
	return append(steps, accessStep{})
}

// growStep runs the deploy's machines phases again when the journal has a
// node without a configured server, or the spec a node the journal does
// not have yet: they adopt every server that exists and create, network
// and configure only what is missing, journaling each server's ID the
// moment the provider returns it.
type growStep struct{}

func (growStep) Name() string { return StepGrow }

func (growStep) Run(ctx context.Context, r *pipeline.Run) error {
	if !machinesWanted(r) {
		return nil
	}
	if err := r.Journal.Update(func(j *state.Journal) {
		for _, name := range machinePhases {
			delete(j.Steps, name)
		}
	}); err != nil {
		return err
	}
	return deployStep(deploy.StepMachines).Run(ctx, r)
}

// machinesWanted says whether the machines phases have work: a node of
// the spec missing from the journal, or a journal node without a
// configured server.
func machinesWanted(r *pipeline.Run) bool {
	nodes := r.Journal.NodesCopy()
	for _, w := range wanted(r.Deps.Spec) {
		if !slices.ContainsFunc(nodes, func(n state.Node) bool { return n.Name == w.Name }) {
			return true
		}
	}
	return slices.ContainsFunc(nodes, func(n state.Node) bool { return n.ServerID == "" || !n.Configured })
}

// readyStep waits until every node of the journal that stays (all but
// skip) is a Ready Kubernetes node and, when control planes joined, until
// etcd lists every control plane as a voting member.
type readyStep struct {
	c    *Cluster
	etcd bool
	skip map[string]bool
	// only, when set, names the nodes to wait for.
	only []string
}

func (readyStep) Name() string { return StepReady }

func (s readyStep) Run(ctx context.Context, r *pipeline.Run) error {
	var names []string
	for _, n := range r.Journal.NodesCopy() {
		if !s.skip[n.Name] && (s.only == nil || slices.Contains(s.only, n.Name)) {
			names = append(names, n.Name)
		}
	}
	if err := s.c.WaitReady(ctx, r, names); err != nil {
		return err
	}
	if s.etcd {
		return s.c.EtcdWhole(ctx, r)
	}
	return nil
}

// accessStep fetches the kubeconfig, publishes the DNS records (with a
// domain) and writes the credentials again once nodes changed: the
// kubeconfig names one control plane's address and has a context for
// each, and the records name the control planes and the nodes serving
// ingress as they are now.
type accessStep struct{}

func (accessStep) Name() string { return StepAccess }

func (accessStep) Run(ctx context.Context, r *pipeline.Run) error {
	names := []string{deploy.StepKubernetes, deploy.StepDNS, deploy.StepCredentials}
	if err := r.Journal.Update(func(j *state.Journal) {
		for _, n := range names {
			delete(j.Steps, n)
		}
	}); err != nil {
		return err
	}
	for _, n := range names {
		if err := r.RunPhase(ctx, deployStep(n)); err != nil {
			return err
		}
	}
	return nil
}

// removeStep removes workers one after the other, each a phase of its own.
type removeStep struct {
	c     *Cluster
	nodes []state.Node
}

func (removeStep) Name() string { return StepRemove }

func (s removeStep) Phases() []pipeline.Step {
	out := make([]pipeline.Step, len(s.nodes))
	for i, n := range s.nodes {
		out[i] = removeNodeStep{c: s.c, node: n.Name}
	}
	return out
}

func (s removeStep) Run(ctx context.Context, r *pipeline.Run) error {
	for _, ph := range s.Phases() {
		if err := r.RunPhase(ctx, ph); err != nil {
			return err
		}
	}
	return nil
}

// removeNodeStep takes one worker out of the cluster for good.
type removeNodeStep struct {
	c    *Cluster
	node string
}

func (s removeNodeStep) Name() string { return StepRemove + " " + s.node }

// Run drains the node (its budgets hold; a drain that fails leaves the
// node serving), resets it through Talos, deletes its server at the
// provider and its Node object, then forgets it. Each part is idempotent,
// so a rerun after a stop anywhere finishes the job.
func (s removeNodeStep) Run(ctx context.Context, r *pipeline.Run) error {
	n, ok := journalNode(r, s.node)
	if !ok {
		return nil // removed by an earlier run
	}
	server := liveServer(r, n)
	if server != "" {
		present, err := s.c.hasNode(ctx, n.Name)
		if err != nil {
			return err
		}
		// A dead node's pods cannot be evicted (no kubelet confirms they
		// stopped): deleting its Node object below lets their controllers
		// start them elsewhere.
		if present && answers(ctx, r, s.c, n) {
			if err := s.c.Drain(ctx, r, n); err != nil {
				return err
			}
		}
		resetNode(ctx, r, s.c, n)
		if err := deleteServer(ctx, r, n.Name, server); err != nil {
			return err
		}
	}
	if err := drain.DeleteNode(ctx, s.c.Kube, n.Name); err != nil {
		return err
	}
	if err := r.Journal.Update(func(j *state.Journal) {
		j.Nodes = slices.DeleteFunc(j.Nodes, func(x *state.Node) bool { return x.Name == n.Name })
	}); err != nil {
		return err
	}
	r.NodeEvent(n.Name, "removed", n.PublicIP, "drained, reset, its server deleted")
	return nil
}

func journalNode(r *pipeline.Run, name string) (state.Node, bool) {
	for _, n := range r.Journal.NodesCopy() {
		if n.Name == name {
			return n, true
		}
	}
	return state.Node{}, false
}

// liveServer is the node's server while the journal does not record it
// deleted: its current one, else the last it had before a replacement
// began (a run that stopped between the two).
func liveServer(r *pipeline.Run, n state.Node) string {
	live := func(id string) bool {
		return id != "" && slices.ContainsFunc(r.Journal.LiveResources(state.KindServer), func(res state.Resource) bool { return res.ID == id })
	}
	if n.ServerID != "" {
		if live(n.ServerID) {
			return n.ServerID
		}
		return ""
	}
	if len(n.Replaced) > 0 && live(n.Replaced[len(n.Replaced)-1]) {
		return n.Replaced[len(n.Replaced)-1]
	}
	return ""
}

// answers says whether the node's Talos API answers.
func answers(ctx context.Context, r *pipeline.Run, c *Cluster, n state.Node) bool {
	if n.PublicIP == "" {
		return false
	}
	_, err := c.Talos.Version(ctx, r.Deps.Talos.Endpoint(n.PublicIP))
	return err == nil
}

// resetNode wipes a node through its Talos API and powers it off,
// gracefully (a control plane still in etcd leaves it first; the node
// cordons and drains itself). A node that does not answer is dead or
// reset already: its server's deletion is what ends it.
func resetNode(ctx context.Context, r *pipeline.Run, c *Cluster, n state.Node) {
	if n.PublicIP == "" {
		return
	}
	ep := r.Deps.Talos.Endpoint(n.PublicIP)
	if !answers(ctx, r, c, n) {
		r.NodeEvent(n.Name, "resetting", n.PublicIP, "its Talos API does not answer (dead, or reset already); its server's deletion ends it")
		return
	}
	r.NodeEvent(n.Name, "resetting", n.PublicIP, "wiping it through Talos")
	if err := c.Talos.Reset(ctx, ep, true, false); err != nil {
		r.Warn("%s: Talos refused the reset (%v); deleting its server ends it anyway", n.Name, err)
	}
}

// deleteServer deletes a node's server at the provider and journals it
// deleted, with its network assignment. One already gone is deleted.
func deleteServer(ctx context.Context, r *pipeline.Run, node, id string) error {
	if err := r.Deps.Provider.DeleteServer(ctx, id); err != nil && !errors.Is(err, provider.ErrNotFound) {
		return fmt.Errorf("%s: delete server %s: %w", node, id, err)
	}
	if err := r.Journal.MarkDeleted(state.KindServer, id); err != nil {
		return fmt.Errorf("%s: server %s deleted, but not journaled as deleted: %w", node, id, err)
	}
	for _, a := range r.Journal.LiveResources(state.KindAssignment) {
		if a.Attrs["server_id"] == id {
			if err := r.Journal.MarkDeleted(state.KindAssignment, a.ID); err != nil {
				return err
			}
		}
	}
	r.NodeEvent(node, "deleted", "", "server "+id+" deleted at "+r.Deps.Spec.Provider)
	return nil
}

// isControlPlane says whether a node is a control plane.
func isControlPlane(n state.Node) bool { return n.Role == talos.RoleControlPlane }
