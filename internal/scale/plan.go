// Package scale changes the shape of a running cluster on rented servers:
// workers added or removed and control planes added (`cto scale`), or one
// node's server swapped for a new one (`cto replace`).
//
// It orders, networks and configures new servers by running the deploy's
// own machines phases again over the journal, with the spec's counts
// changed: those phases adopt every server that exists, create only what
// is missing, journal each ID the moment the API returns it, and configure
// the new nodes with the cluster's secrets and endpoint as they are. What
// it removes goes node by node, each a journaled phase: drained (its
// PodDisruptionBudgets hold), reset through Talos, its Node object and its
// server deleted, then its journal entry. A rerun after any failure
// resumes where the last run stopped.
package scale

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/cto-platform/cto/internal/spec"
	"github.com/cto-platform/cto/internal/state"
	"github.com/cto-platform/cto/internal/talos"
)

// Keep is a count the request leaves as it is.
const Keep = -1

// InputError is a request refused before anything ran.
type InputError struct{ Err error }

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

func inputf(format string, args ...any) error {
	return &InputError{fmt.Errorf(format, args...)}
}

// Plan is a checked change of a cluster's node counts.
type Plan struct {
	// Spec is the cluster's spec with the new counts.
	Spec spec.ClusterSpec
	// ControlPlanes and Workers are the counts now, by the journal.
	ControlPlanes, Workers int
	// Add are the nodes the machines phases will create, in order.
	Add []state.Node
	// Remove are the workers that go, highest index first.
	Remove []state.Node
}

// Empty says whether the plan changes nothing.
func (p *Plan) Empty() bool { return len(p.Add) == 0 && len(p.Remove) == 0 }

// New checks a request for workers and control planes (Keep leaves a
// count as it is) against the cluster's nodes as the journal has them.
// schedulable says whether the control planes take ordinary workloads
// (no control-plane NoSchedule taint): only then may the workers go to 0.
func New(sp spec.ClusterSpec, nodes []state.Node, workers, controlPlanes int, schedulable bool) (*Plan, error) {
	p := &Plan{}
	for _, n := range nodes {
		if n.Role == talos.RoleControlPlane {
			p.ControlPlanes++
		} else {
			p.Workers++
		}
	}
	if p.ControlPlanes == 0 {
		return nil, errors.New("the journal has no control plane: the cluster was never deployed; run `cto deploy` first")
	}
	if workers < Keep || controlPlanes < Keep {
		return nil, inputf("counts must be 0 or more (--workers %d, --control-planes %d)", workers, controlPlanes)
	}
	if workers == Keep {
		workers = p.Workers
	}
	if controlPlanes == Keep {
		controlPlanes = p.ControlPlanes
	}
	switch {
	case controlPlanes < p.ControlPlanes:
		return nil, inputf("--control-planes %d: the cluster has %d, and cto does not remove control planes (etcd would lose a member for good); replace a broken one with `cto replace`", controlPlanes, p.ControlPlanes)
	case controlPlanes != 1 && controlPlanes != 3 && controlPlanes != 5:
		return nil, inputf("--control-planes %d: must be 1, 3 or 5 (etcd needs an odd number)", controlPlanes)
	}
	if workers == 0 && p.Workers > 0 && !schedulable {
		return nil, inputf("--workers 0: the control planes of this cluster take no workloads (they carry the control-plane NoSchedule taint), so its pods would have nowhere to run; keep at least one worker")
	}
	s := sp
	s.ControlPlanes, s.Nodes = controlPlanes, controlPlanes+workers
	if err := s.Validate(); err != nil {
		return nil, &InputError{err}
	}
	p.Spec = s
	have := map[string]bool{}
	for _, n := range nodes {
		have[n.Name] = true
	}
	for _, d := range wanted(s) {
		if !have[d.Name] {
			p.Add = append(p.Add, d)
		}
	}
	for _, n := range nodes {
		if n.Role != talos.RoleControlPlane && n.Index > workers {
			p.Remove = append(p.Remove, n)
		}
	}
	slices.SortFunc(p.Remove, func(a, b state.Node) int { return b.Index - a.Index })
	return p, nil
}

// wanted are the nodes of a spec, named as the deploy names them:
// control planes, then workers.
func wanted(sp spec.ClusterSpec) []state.Node {
	var out []state.Node
	for i := 1; i <= sp.ControlPlanes; i++ {
		out = append(out, state.Node{Name: fmt.Sprintf("%s-cp%d", sp.Name, i), Role: talos.RoleControlPlane, Index: i})
	}
	for i := 1; i <= sp.Workers(); i++ {
		out = append(out, state.Node{Name: fmt.Sprintf("%s-worker%d", sp.Name, i), Role: talos.RoleWorker, Index: i})
	}
	return out
}

// Describe is the plan in one line, for people.
func (p *Plan) Describe() string {
	var parts []string
	if len(p.Add) > 0 {
		parts = append(parts, "add "+names(p.Add))
	}
	if len(p.Remove) > 0 {
		parts = append(parts, "remove "+names(p.Remove)+" (each drained, reset, its server deleted)")
	}
	if len(parts) == 0 {
		return fmt.Sprintf("nothing to change: %d control plane(s), %d worker(s)", p.ControlPlanes, p.Workers)
	}
	return fmt.Sprintf("%d control plane(s), %d worker(s) → %d, %d: %s",
		p.ControlPlanes, p.Workers, p.Spec.ControlPlanes, p.Spec.Workers(), strings.Join(parts, "; "))
}

func names(nodes []state.Node) string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.Name
	}
	return strings.Join(out, ", ")
}
