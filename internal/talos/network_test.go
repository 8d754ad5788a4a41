package talos_test

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cto-platform/cto/internal/talos"
	"github.com/cto-platform/cto/internal/talos/fake"
	"github.com/cto-platform/cto/internal/talos/talostest"
)

// networkCase is one provider's server as its API reports it and as the
// node sees its NICs.
type networkCase struct {
	cluster func(*talos.ClusterInput)
	node    func(*talos.NodeInput)
	links   func(publicIP string) []fake.Link
	// static: the provider hands out no DHCP, so the config addresses the
	// public link with the address and gateway the provider's API reports.
	static bool
}

// gatewayOf is the gateway of a Latitude public address.
func gatewayOf(ip string) string { _, gw := pointToPoint(ip); return gw.String() }

// pointToPoint is a Latitude public network (GET /ips): the address in a
// /31, the gateway the link's other address.
func pointToPoint(ip string) (prefix netip.Prefix, gateway netip.Addr) {
	a := netip.MustParseAddr(ip)
	prefix = netip.PrefixFrom(a, 31)
	gateway = prefix.Masked().Addr()
	if gateway == a {
		gateway = a.Next()
	}
	return prefix, gateway
}

// latitudeCase is a Latitude server whose external NIC gets its public
// address by DHCP or, without DHCP, from the ip= of the boot script.
func latitudeCase(dhcp bool) networkCase {
	return networkCase{
		cluster: func(c *talos.ClusterInput) { c.VLAN = 2085 },
		node:    func(n *talos.NodeInput) { n.PublicMAC, n.PrivateMAC = pubMAC, privMAC },
		links: func(ip string) []fake.Link {
			public := fake.Link{Name: "enp1s0f0", MAC: pubMAC, Public: true, Gateway: gatewayOf(ip)}
			if dhcp {
				public.DHCP = ip + "/31"
			} else {
				public.Cmdline = ip + "/31"
			}
			return []fake.Link{public, {Name: "enp1s0f1", MAC: privMAC}}
		},
		static: !dhcp,
	}
}

var networkCases = map[string]networkCase{
	// Latitude: the external NIC gets the public address by DHCP, the
	// internal one carries the VLAN; both are reported by MAC.
	"latitude": latitudeCase(true),
	// Latitude, an account without DHCP for custom images: the ip= the
	// platform filled in the boot script addresses the node in maintenance
	// mode only (the installed system boots without it), so the config
	// gives the public link the address and default route GET /ips reports.
	"latitude-no-dhcp": latitudeCase(false),
	// Hetzner Cloud: virtio NICs without permanent address; the API names
	// only the private NIC, whose address comes by DHCP (routed network),
	// with MTU 1450.
	"hetzner-cloud": {
		cluster: func(c *talos.ClusterInput) { c.PrivateDHCP, c.PrivateMTU = true, 1450 },
		node:    func(n *talos.NodeInput) { n.PrivateMAC = "86:00:00:4a:1b:2c" },
		links: func(ip string) []fake.Link {
			return []fake.Link{
				{Name: "eth0", MAC: "96:00:03:aa:bb:cc", NoPermanentAddr: true, Public: true, DHCP: ip + "/32"},
				{Name: "enp7s0", MAC: "86:00:00:4a:1b:2c", NoPermanentAddr: true, DHCP: "10.8.0.11/32"},
			}
		},
	},
	// Hetzner Robot: one NIC; the vSwitch is a VLAN on it with MTU 1400.
	"hetzner-robot": {
		cluster: func(c *talos.ClusterInput) { c.VLAN, c.PrivateMTU = 4000, 1400 },
		node:    func(*talos.NodeInput) {},
		links: func(ip string) []fake.Link {
			return []fake.Link{{Name: "enp41s0", MAC: "a8:a1:59:00:11:22", Public: true, DHCP: ip + "/26"}}
		},
	},
	// Vultr: the VPC attachment is a NIC of its own, without DHCP.
	"vultr": {
		cluster: func(*talos.ClusterInput) {},
		node:    func(n *talos.NodeInput) { n.PublicMAC, n.PrivateMAC = "0c:42:a1:00:00:01", "5a:01:04:00:00:02" },
		links: func(ip string) []fake.Link {
			return []fake.Link{
				{Name: "enp1s0", MAC: "0c:42:a1:00:00:01", Public: true, DHCP: ip + "/23"},
				{Name: "enp2s0", MAC: "5a:01:04:00:00:02"},
			}
		},
	},
}

// TestConfigKeepsEveryNodeReachable applies each provider's control-plane
// config to a node with that provider's NICs: the public link keeps its
// address, every alias matches exactly one link, and etcd and the kubelet
// find their private address.
func TestConfigKeepsEveryNodeReachable(t *testing.T) {
	s := talostest.FixedSecrets(t)
	for name, tc := range networkCases {
		t.Run(name, func(t *testing.T) {
			var n *fake.Node
			n = &fake.Node{Name: "n1", Disks: oneNVMe(),
				Links: func() []fake.Link { ip, _, _ := net.SplitHostPort(n.Addr()); return tc.links(ip) }}
			startNode(t, n)
			ip, _, _ := net.SplitHostPort(n.Addr())
			c := talos.ClusterInput{Name: "demo", Endpoint: ip, PrivateCIDR: "10.8.0.0/24", Secrets: s}
			tc.cluster(&c)
			in := talos.NodeInput{Name: "n1", Role: talos.RoleControlPlane, PrivateIP: "10.8.0.11", InstallImage: installer, Disk: talos.Disk{Serial: "NVME-1"}}
			tc.node(&in)
			if tc.static {
				p, gw := pointToPoint(ip)
				in.PublicAddress, in.PublicGateway = p.String(), gw.String()
			}
			cfg := must(talos.Generate(c, in))
			client := clientFor(t, s, n.Addr())
			if err := client.Apply(context.Background(), n.Addr(), cfg, 5*time.Second); err != nil {
				t.Fatal(err)
			}
			nw := n.Network()
			if len(nw.Problems) > 0 {
				t.Errorf("the node refuses parts of the config:\n  %s", strings.Join(nw.Problems, "\n  "))
			}
			if st := client.Probe(context.Background(), n.Addr()); st != talos.Configured {
				t.Errorf("after apply the node answers %s, want configured", st)
			}
			for _, l := range tc.links(ip) {
				if gw, err := netip.ParseAddr(l.Gateway); l.Public && err == nil && nw.DefaultRoutes[l.Name] != gw {
					t.Errorf("public link %s: default route via %v, want %s", l.Name, nw.DefaultRoutes[l.Name], gw)
				}
			}
			var private []netip.Prefix
			for link, addrs := range nw.Addresses {
				for _, a := range addrs {
					if a.Addr() == netip.MustParseAddr("10.8.0.11") {
						private = append(private, a)
						if c.PrivateMTU > 0 && !strings.Contains(string(cfg), "mtu: "+strconv.Itoa(c.PrivateMTU)) {
							t.Errorf("private link %s: the config sets no MTU %d", link, c.PrivateMTU)
						}
					}
				}
			}
			if len(private) != 1 {
				t.Errorf("private address on %d links (%v), want one", len(private), nw.Addresses)
			}
		})
	}
}

// TestNodeRefusesWhatARealOneWould: the fake node's link rules catch the
// configs that lose a real node.
func TestNodeRefusesWhatARealOneWould(t *testing.T) {
	s := talostest.FixedSecrets(t)
	links := networkCases["latitude"].links
	apply := func(t *testing.T, in talos.NodeInput, c talos.ClusterInput) fake.Network {
		t.Helper()
		var n *fake.Node
		n = &fake.Node{Name: "n1", Links: func() []fake.Link { ip, _, _ := net.SplitHostPort(n.Addr()); return links(ip) }}
		startNode(t, n)
		if err := clientFor(t, s, n.Addr()).Apply(context.Background(), n.Addr(), must(talos.Generate(c, in)), 5*time.Second); err != nil {
			t.Fatal(err)
		}
		return n.Network()
	}
	c := talos.ClusterInput{Name: "demo", Endpoint: "203.0.113.11", PrivateCIDR: "10.8.0.0/24", VLAN: 2085, Secrets: s}
	in := talos.NodeInput{Name: "n1", Role: talos.RoleControlPlane, PrivateIP: "10.8.0.11", InstallImage: installer, Disk: talos.Disk{Serial: "S"}}

	// Without MACs on a server with two NICs, no alias can be applied.
	nw := apply(t, in, c)
	if !nw.PublicLost || nw.EtcdProblem == "" || !slices.ContainsFunc(nw.Problems, func(p string) bool { return strings.Contains(p, "matches 2 links") }) {
		t.Errorf("two NICs, no MACs: %+v; want an ambiguous alias, the public address lost and etcd without its address", nw)
	}
	// A static public address the provider did not hand out is lost too.
	in.PublicMAC, in.PrivateMAC = pubMAC, privMAC
	in.PublicAddress, in.PublicGateway = "198.51.100.7/24", "198.51.100.1"
	if nw := apply(t, in, c); !nw.PublicLost {
		t.Errorf("wrong static public address: %+v; want the public address lost", nw)
	}
}

// A config whose install disk is none of the node's disks fails the
// install: the node comes back in maintenance mode.
func TestNodeInstallsOnlyToADiskItHas(t *testing.T) {
	s := talostest.FixedSecrets(t)
	n := &fake.Node{Name: "n1", Disks: oneNVMe()}
	startNode(t, n)
	c := talos.ClusterInput{Name: "demo", Endpoint: "203.0.113.11", PrivateCIDR: "10.8.0.0/24", Secrets: s}
	cfg := must(talos.Generate(c, talos.NodeInput{Name: "n1", Role: talos.RoleControlPlane, PrivateIP: "10.8.0.11", InstallImage: installer, Disk: talos.Disk{Serial: "OTHER-DISK"}}))
	client := clientFor(t, s, n.Addr())
	if err := client.Apply(context.Background(), n.Addr(), cfg, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if st := client.Probe(context.Background(), n.Addr()); st != talos.Maintenance || n.InstallProblem() == "" {
		t.Errorf("install to a disk the node lacks: %s, problem %q; want maintenance mode and the install's failure", st, n.InstallProblem())
	}
}
