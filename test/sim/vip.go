package sim

import (
	"net/netip"
	"slices"
	"sort"

	talosfake "github.com/cto-platform/cto/internal/talos/fake"
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
	s.mu.Lock()
	var nodes []*talosfake.Node
	for _, n := range s.nodes {
		nodes = append(nodes, n.node)
	}
	s.mu.Unlock()
	var candidates []string
	for _, n := range nodes {
		cfg := n.Config()
		if cfg == nil || !cfg.Machine().Type().IsControlPlane() || n.Rebooting() || n.Halted() {
			continue
		}
		// A candidate campaigns through its own etcd member, which needs
		// the cluster's quorum.
		if _, ok := n.Network().VIPs[vip]; ok && s.etcdMember(n) {
			candidates = append(candidates, n.Name)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
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
