package fake

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/siderolabs/talos/pkg/machinery/api/resource/definitions/enums"
	networkpb "github.com/siderolabs/talos/pkg/machinery/api/resource/definitions/network"
	"github.com/siderolabs/talos/pkg/machinery/cel/celenv"
	coreconfig "github.com/siderolabs/talos/pkg/machinery/config"
	"github.com/siderolabs/talos/pkg/machinery/config/config"
	"github.com/siderolabs/talos/pkg/machinery/nethelpers"
)

// Link is one NIC of the node's server, as its provider double reports it.
type Link struct {
	Name string // the kernel's name, e.g. enp1s0f0
	MAC  string
	// Virtio NICs (cloud servers) report no permanent address: only the
	// hardware address carries the MAC.
	NoPermanentAddr bool
	// Public: the link carries the server's public address.
	Public bool
	// DHCP is what a DHCP server on the link's segment hands out
	// (address/prefix), "" when there is none.
	DHCP string
	// Gateway is the router of the link's segment ("" when unknown): a
	// DHCP lease names it, and a node without one needs a static default
	// route through it.
	Gateway string
	// Cmdline is the address the kernel's ip= argument of the boot
	// script gives the link (address/prefix), "" for none. It addresses
	// the link in maintenance mode only: the installer writes the
	// installed system's kernel command line afresh (platform, defaults,
	// extra kernel arguments; cmd/installer/pkg/install), so once the node
	// installed its config and rebooted from disk no ip= is left.
	Cmdline string
}

// Network is what a node made of its config: which link got which alias,
// the addresses of every link, and what went wrong the way it would on a
// real node.
type Network struct {
	Aliases   map[string]string         // link name -> alias
	Addresses map[string][]netip.Prefix // link or VLAN name -> addresses
	// DefaultRoutes are the gateways of the default routes, by link.
	DefaultRoutes map[string]netip.Addr
	// PublicLost: the public link has no public address, or no default
	// route through its segment's gateway, so the node answers nothing on
	// it once the config is applied.
	PublicLost bool
	// Problems are what a real node logs: an alias that matched no or
	// several links, a document naming no link, subnets no address is in.
	Problems []string
	// EtcdProblem and KubeletProblem keep etcd and the kubelet from
	// starting: no address matches their subnets.
	EtcdProblem, KubeletProblem string
	// VIPs are the shared addresses the node may announce, with the link
	// each is announced on: a Layer2VIPConfig whose link exists.
	VIPs map[netip.Addr]string
}

// addresses lists every address the node has.
func (nw Network) addresses() []netip.Prefix {
	var all []netip.Prefix
	for _, a := range nw.Addresses {
		all = append(all, a...)
	}
	return all
}

// evaluateNetwork applies a config's network documents to the node's
// links as machined does (Talos v1.13.9):
//   - link aliases (LinkAliasConfigController): physical links only; the
//     configs in name order; a selector evaluated in celenv.LinkLocator that
//     matches more than one link is skipped, and a link keeps the first
//     alias it got;
//   - with any link or DHCP document in the config, no DHCP runs on
//     physical links by default (Container.RunDefaultDHCPOperators);
//   - a DHCPv4Config runs DHCP on the link it names; LinkConfig and
//     VLANConfig give their static addresses, a VLAN needs its parent.
func evaluateNetwork(cfg coreconfig.Provider, links []Link, publicIP netip.Addr) Network {
	nw := Network{Aliases: map[string]string{}, Addresses: map[string][]netip.Prefix{}, DefaultRoutes: map[string]netip.Addr{}, VIPs: map[netip.Addr]string{}}
	problem := func(format string, args ...any) { nw.Problems = append(nw.Problems, fmt.Sprintf(format, args...)) }

	specs := make([]*networkpb.LinkStatusSpec, len(links))
	for i, l := range links {
		mac, _ := net.ParseMAC(l.MAC)
		specs[i] = &networkpb.LinkStatusSpec{Type: enums.NethelpersLinkType(nethelpers.LinkEther), HardwareAddr: mac, LinkState: true}
		if !l.NoPermanentAddr {
			specs[i].PermanentAddr = mac
		}
	}
	aliases := slices.Clone(cfg.NetworkLinkAliasConfigs())
	slices.SortFunc(aliases, func(a, b config.NetworkLinkAliasConfig) int { return strings.Compare(a.Name(), b.Name()) })
	aliased := map[int]bool{}
	for _, a := range aliases {
		var matched []int
		for i, spec := range specs {
			ok, err := a.LinkSelector().EvalBool(celenv.LinkLocator(), map[string]any{"link": spec})
			if err != nil {
				problem("link alias %s: selector %q: %v", a.Name(), a.LinkSelector().String(), err)
				break
			}
			if ok {
				matched = append(matched, i)
			}
		}
		switch {
		case len(matched) == 0:
			problem("link alias %s: selector %q matches no link", a.Name(), a.LinkSelector().String())
		case len(matched) > 1:
			var names []string
			for _, i := range matched {
				names = append(names, links[i].Name)
			}
			problem("link alias %s: selector %q matches %d links (%s), so it is not applied", a.Name(), a.LinkSelector().String(), len(matched), strings.Join(names, ", "))
		case aliased[matched[0]]:
			problem("link alias %s: link %s already has alias %s", a.Name(), links[matched[0]].Name, nw.Aliases[links[matched[0]].Name])
		default:
			aliased[matched[0]] = true
			nw.Aliases[links[matched[0]].Name] = a.Name()
		}
	}
	// find resolves a name in a document to a physical link: its kernel
	// name or its alias.
	find := func(name string) (int, bool) {
		for i, l := range links {
			if l.Name == name || nw.Aliases[l.Name] == name {
				return i, true
			}
		}
		return 0, false
	}
	dhcp := func(i int) {
		if p, err := netip.ParsePrefix(links[i].DHCP); err == nil && !slices.Contains(nw.Addresses[links[i].Name], p) {
			nw.Addresses[links[i].Name] = append(nw.Addresses[links[i].Name], p)
			if gw, err := netip.ParseAddr(links[i].Gateway); err == nil {
				nw.DefaultRoutes[links[i].Name] = gw
			}
		}
	}
	// Link.Cmdline is left out: this is the network of the installed
	// system, booted from disk without the boot script's ip=.
	if cfg.RunDefaultDHCPOperators() {
		for i := range links {
			dhcp(i)
		}
	}
	for _, d := range cfg.NetworkDHCPv4Configs() {
		if i, ok := find(d.Name()); ok {
			dhcp(i)
		} else {
			problem("DHCPv4Config %s: no link has that name or alias", d.Name())
		}
	}
	for _, lc := range cfg.NetworkCommonLinkConfigs() {
		var addrs []netip.Prefix
		for _, a := range lc.Addresses() {
			addrs = append(addrs, a.Address())
		}
		switch lc := lc.(type) {
		case config.NetworkVLANConfig:
			if _, ok := find(lc.ParentLink()); !ok {
				problem("VLANConfig %s: parent %s is no link (an alias that was not applied?)", lc.Name(), lc.ParentLink())
				continue
			}
			nw.Addresses[lc.Name()] = append(nw.Addresses[lc.Name()], addrs...)
		case config.NetworkPhysicalLinkConfig:
			i, ok := find(lc.Name())
			if !ok {
				problem("LinkConfig %s: no link has that name or alias", lc.Name())
				continue
			}
			nw.Addresses[links[i].Name] = append(nw.Addresses[links[i].Name], addrs...)
			for _, r := range lc.Routes() {
				if gw, ok := r.Gateway().Get(); ok && !r.Destination().IsPresent() {
					nw.DefaultRoutes[links[i].Name] = gw
				}
			}
		default:
			problem("%T %s: the node does not model this kind of link", lc, lc.Name())
		}
	}

	// A VIP's operator runs on the link the document names (machined's
	// OperatorSpecController starts it only for an existing link): a
	// physical link by name or alias, or a VLAN whose parent exists.
	for _, v := range cfg.NetworkVirtualIPConfigs() {
		_, physical := find(v.Link())
		_, vlan := nw.Addresses[v.Link()]
		if !physical && !vlan {
			problem("%T %s: link %s does not exist, so the VIP is never announced", v, v.VIP(), v.Link())
			continue
		}
		nw.VIPs[v.VIP()] = v.Link()
	}

	for _, l := range links {
		if l.Public && !slices.ContainsFunc(nw.Addresses[l.Name], func(p netip.Prefix) bool { return p.Addr() == publicIP }) {
			nw.PublicLost = true
			problem("public link %s has no address %s: the node stops answering on it", l.Name, publicIP)
		}
		if gw, err := netip.ParseAddr(l.Gateway); l.Public && err == nil && nw.DefaultRoutes[l.Name] != gw {
			nw.PublicLost = true
			problem("public link %s has no default route through %s: the node answers nothing beyond its segment", l.Name, gw)
		}
	}
	all := nw.addresses()
	inSubnets := func(subnets []string) bool {
		for _, s := range subnets {
			if strings.HasPrefix(s, "!") {
				continue
			}
			p, err := netip.ParsePrefix(s)
			if err != nil {
				if a, aerr := netip.ParseAddr(s); aerr == nil {
					p = netip.PrefixFrom(a, a.BitLen())
				} else {
					continue
				}
			}
			if slices.ContainsFunc(all, func(a netip.Prefix) bool { return p.Contains(a.Addr()) }) {
				return true
			}
		}
		return false
	}
	if s := cfg.Machine().Kubelet().NodeIP().ValidSubnets(); len(s) > 0 && !inSubnets(s) {
		nw.KubeletProblem = fmt.Sprintf("kubelet: no address of the node is in validSubnets %v (addresses %v)", s, all)
		problem("%s", nw.KubeletProblem)
	}
	if cfg.Machine().Type().IsControlPlane() {
		if s := cfg.Cluster().Etcd().AdvertisedSubnets(); len(s) > 0 && !inSubnets(s) {
			nw.EtcdProblem = fmt.Sprintf("etcd: no address of the node is in advertisedSubnets %v (addresses %v)", s, all)
			problem("%s", nw.EtcdProblem)
		}
	}
	return nw
}

// defaultLinks is a server with one NIC that gets the node's address by
// DHCP, for nodes whose provider reports no NICs.
func defaultLinks(ip net.IP) []Link {
	a, _ := netip.AddrFromSlice(ip)
	a = a.Unmap()
	b := a.As4()
	return []Link{{Name: "eth0", MAC: net.HardwareAddr{0x02, 0, b[0], b[1], b[2], b[3]}.String(), Public: true,
		DHCP: netip.PrefixFrom(a, 24).String()}}
}
