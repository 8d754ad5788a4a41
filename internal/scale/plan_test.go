package scale

import (
	"errors"
	"strings"
	"testing"

	"github.com/cto-platform/cto/internal/spec"
	"github.com/cto-platform/cto/internal/state"
	"github.com/cto-platform/cto/internal/talos"
)

func cluster(cps, workers int) (spec.ClusterSpec, []state.Node) {
	s := spec.Defaults()
	s.Name, s.Provider, s.Plan, s.Region = "c", "latitude", "c2-small-x86", "DAL"
	s.ControlPlanes, s.Nodes = cps, cps+workers
	s.Complete()
	return s, wanted(s)
}

func nodeList(nodes []state.Node) string {
	var out []string
	for _, n := range nodes {
		out = append(out, n.Name)
	}
	return strings.Join(out, ",")
}

func TestPlanAddsAndRemovesWorkers(t *testing.T) {
	s, nodes := cluster(3, 2)
	p, err := New(s, nodes, 5, Keep, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := nodeList(p.Add); got != "c-worker3,c-worker4,c-worker5" || len(p.Remove) != 0 {
		t.Errorf("2 → 5 adds %q, removes %q", got, nodeList(p.Remove))
	}
	if p.Spec.Nodes != 8 || p.Spec.ControlPlanes != 3 {
		t.Errorf("spec after: %d nodes, %d control planes", p.Spec.Nodes, p.Spec.ControlPlanes)
	}
	s, nodes = cluster(3, 5)
	p, err = New(s, nodes, 1, Keep, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := nodeList(p.Remove); got != "c-worker5,c-worker4,c-worker3,c-worker2" || len(p.Add) != 0 {
		t.Errorf("5 → 1 removes %q (highest first), adds %q", got, nodeList(p.Add))
	}
	p, err = New(s, nodes, Keep, Keep, false)
	if err != nil || !p.Empty() || !strings.Contains(p.Describe(), "nothing to change") {
		t.Errorf("no change: %v, %+v", err, p)
	}
}

func TestPlanGrowsControlPlanes(t *testing.T) {
	s, nodes := cluster(1, 2)
	p, err := New(s, nodes, Keep, 3, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := nodeList(p.Add); got != "c-cp2,c-cp3" {
		t.Errorf("1 → 3 control planes adds %q", got)
	}
	for _, n := range p.Add {
		if n.Role != talos.RoleControlPlane {
			t.Errorf("%s added as %s", n.Name, n.Role)
		}
	}
}

func TestPlanRefuses(t *testing.T) {
	s, nodes := cluster(3, 2)
	for _, tc := range []struct {
		workers, cps int
		schedulable  bool
		says         string
	}{
		{-2, Keep, false, "0 or more"},
		{Keep, 1, false, "does not remove control planes"},
		{Keep, 4, false, "1, 3 or 5"},
		{0, Keep, false, "NoSchedule"},
	} {
		_, err := New(s, nodes, tc.workers, tc.cps, tc.schedulable)
		var in *InputError
		if !errors.As(err, &in) || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("workers %d, control planes %d: %v, want bad input saying %q", tc.workers, tc.cps, err, tc.says)
		}
	}
	if p, err := New(s, nodes, 0, Keep, true); err != nil || nodeList(p.Remove) != "c-worker2,c-worker1" {
		t.Errorf("workers 0 on schedulable control planes: %v, %v", err, p)
	}
	prod := s
	prod.Profile = "production"
	if _, err := New(prod, nodes[:1], Keep, Keep, false); err == nil {
		t.Error("a production cluster of 1 control plane passed the spec's rules")
	}
}

func TestCheckRemoval(t *testing.T) {
	m := func(name string, healthy bool) Member {
		return Member{EtcdMember: talos.EtcdMember{Hostname: name}, Healthy: healthy}
	}
	for _, tc := range []struct {
		members []Member
		node    string
		says    string
	}{
		{[]Member{m("a", true), m("b", true), m("c", true)}, "b", ""},
		{[]Member{m("a", true), m("b", false), m("c", true)}, "b", ""},
		{[]Member{m("a", true), m("b", true), m("c", false)}, "b", "replace that one first"},
		{[]Member{m("a", true)}, "a", "only etcd member"},
		{[]Member{m("a", true), m("b", true), m("c", true)}, "d", ""},
	} {
		err := CheckRemoval(tc.members, tc.node)
		if tc.says == "" && err != nil || tc.says != "" && (err == nil || !strings.Contains(err.Error(), tc.says)) {
			t.Errorf("remove %s of %v: %v, want %q", tc.node, tc.members, err, tc.says)
		}
	}
}
