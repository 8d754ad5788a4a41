package scale

import (
	"context"
	"fmt"
	"strings"

	"github.com/cto-platform/cto/internal/deploy"
	"github.com/cto-platform/cto/internal/drain"
	"github.com/cto-platform/cto/internal/pipeline"
	"github.com/cto-platform/cto/internal/state"
)

// StepRetire is the phase of `cto replace` that takes the old server out.
const StepRetire = Prefix + "retire"

// Replacement is a checked `cto replace` of one node.
type Replacement struct {
	Node state.Node
	// Alive says whether the node's Talos API answers now.
	Alive bool
}

// CheckReplace finds the node and checks that replacing it keeps the
// cluster: a control plane's etcd member must be removable without
// losing quorum. Refusals are *InputError. resuming is a replacement of
// the node already under way.
func CheckReplace(ctx context.Context, r *pipeline.Run, c *Cluster, name string, resuming bool) (*Replacement, error) {
	n, ok := journalNode(r, name)
	if !ok {
		var known []string
		for _, x := range r.Journal.NodesCopy() {
			known = append(known, x.Name)
		}
		return nil, inputf("cluster %s has no node %q; its nodes: %s", r.Deps.Spec.Name, name, strings.Join(known, ", "))
	}
	rep := &Replacement{Node: n, Alive: n.ServerID != "" && answers(ctx, r, c, n)}
	if !isControlPlane(n) || resuming {
		// A replacement under way checks quorum again before it removes
		// anything, in its retire phase.
		return rep, nil
	}
	if len(deploy.ControlPlanes(r.Journal.NodesCopy())) == 1 {
		return nil, inputf("%s holds the only etcd member: replacing it would lose the cluster's state; grow to 3 control planes first (`cto scale --name %s --control-planes 3`)", name, r.Deps.Spec.Name)
	}
	members, _, err := c.Etcd(ctx, r, name)
	if err != nil {
		return nil, err
	}
	if err := CheckRemoval(members, name); err != nil {
		return nil, err
	}
	return rep, nil
}

// Steps are what the engine runs: the old server out, a new one ordered
// and configured by the deploy's machines phases, the node back Ready
// (and etcd whole again for a control plane), then the kubeconfig, DNS
// records and credentials brought up to date with its new address.
func (rep *Replacement) Steps(c *Cluster) []pipeline.Step {
	return []pipeline.Step{retireStep{c: c, node: rep.Node.Name}, growStep{}, readyStep{c: c, etcd: isControlPlane(rep.Node), only: []string{rep.Node.Name}}, accessStep{}}
}

// retireStep takes a node's server out of the cluster, keeping the node.
//
// The old server is deleted before its replacement is ordered. Ordered
// first, a run that stopped in between would leave two servers billing
// for one node until a rerun; deleted first, a stop in between leaves the
// node without a server, nothing billing that was not asked for, and the
// rerun orders it. The cluster is never lost by it: a control plane's
// etcd member is removed first, through a healthy control plane, only
// when quorum holds without it, and a live node is drained first with its
// PodDisruptionBudgets respected.
type retireStep struct {
	c    *Cluster
	node string
}

func (s retireStep) Name() string { return StepRetire + " " + s.node }

func (s retireStep) Run(ctx context.Context, r *pipeline.Run) error {
	n, ok := journalNode(r, s.node)
	if !ok {
		return fmt.Errorf("the journal has no node %s", s.node)
	}
	server := liveServer(r, n)
	if n.ServerID != "" {
		alive := answers(ctx, r, s.c, n)
		present, err := s.c.hasNode(ctx, n.Name)
		if err != nil {
			return err
		}
		// A dead node's pods cannot be evicted (no kubelet confirms they
		// stopped): deleting its Node object below lets their controllers
		// start them elsewhere.
		if alive && present {
			if err := s.c.Drain(ctx, r, n); err != nil {
				return err
			}
		}
		if isControlPlane(n) {
			if err := s.leaveEtcd(ctx, r, n); err != nil {
				return err
			}
		}
		if alive {
			resetNode(ctx, r, s.c, n)
		}
		// The old ID goes to Replaced before the server is deleted: the
		// servers phase never adopts it again, and destroy still finds it
		// if the deletion does not happen.
		if err := r.Journal.Update(func(j *state.Journal) {
			jn := j.NodeLocked(n.Name)
			jn.Replaced = append(jn.Replaced, jn.ServerID)
			jn.ServerID, jn.Status, jn.PublicIP, jn.PublicMAC, jn.PrivateMAC = "", "", "", "", ""
			jn.Configured, jn.TalosVersion, jn.KubernetesVersion = false, "", ""
		}); err != nil {
			return err
		}
		r.NodesChanged()
	}
	if err := drain.DeleteNode(ctx, s.c.Kube, n.Name); err != nil {
		return err
	}
	if server != "" {
		return deleteServer(ctx, r, n.Name, server)
	}
	return nil
}

// leaveEtcd removes the node's etcd member through another control plane
// that answers, after checking the members left keep quorum.
func (s retireStep) leaveEtcd(ctx context.Context, r *pipeline.Run, n state.Node) error {
	members, via, err := s.c.Etcd(ctx, r, n.Name)
	if err != nil {
		return err
	}
	var id uint64
	for _, m := range members {
		if m.Hostname == n.Name {
			id = m.ID
		}
	}
	if id == 0 {
		return nil // not a member (any more)
	}
	if err := CheckRemoval(members, n.Name); err != nil {
		return err
	}
	if via == nil {
		return fmt.Errorf("no other control plane's etcd answers to remove %s's member through", n.Name)
	}
	r.NodeEvent(n.Name, "leaving etcd", n.PublicIP, fmt.Sprintf("removing its etcd member %016x through %s", id, via.Name))
	if err := s.c.Talos.EtcdRemoveMember(ctx, r.Deps.Talos.Endpoint(via.PublicIP), id); err != nil && !strings.Contains(strings.ToLower(err.Error()), "not found") {
		return fmt.Errorf("remove %s's etcd member through %s: %w", n.Name, via.Name, err)
	}
	return nil
}
