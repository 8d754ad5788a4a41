package sim

import (
	"net/netip"
	"slices"
	"sort"
)

// VIPHolder is the control plane that announces a shared VIP, "" when none
// does. Talos's VIP operator (machined network/operator/vip.go) campaigns
// for the address in an etcd election (key /talos/vip/<ip>) on every
// control plane whose config names it on an existing link; the winner
// announces it until its etcd session ends, then another candidate wins.
// So a holder needs a running etcd member (a bootstrapped cluster that
// keeps its quorum, and nothing keeping etcd from starting on the node),
// and the address stays where it is while its holder keeps running.
func (s *Sim) VIPHolder(vip netip.Addr) string {
	nodes := s.Nodes()
	bootstrapped := slices.ContainsFunc(nodes, func(n NodeState) bool { return n.Bootstrapped })
	if all, running := controlPlanes(nodes); !bootstrapped || running <= all/2 {
		return "" // no etcd quorum, no election
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var candidates []string
	for _, n := range s.nodes {
		cfg := n.node.Config()
		if cfg == nil || !cfg.Machine().Type().IsControlPlane() {
			continue
		}
		nw := n.node.Network()
		if _, ok := nw.VIPs[vip]; ok && nw.EtcdProblem == "" {
			candidates = append(candidates, n.node.Name)
		}
	}
	if len(candidates) == 0 {
		delete(s.vipHolders, vip)
		return ""
	}
	sort.Strings(candidates)
	holder := s.vipHolders[vip]
	if !slices.Contains(candidates, holder) {
		holder = candidates[0]
		s.vipHolders[vip] = holder
	}
	return holder
}
