package sim

import (
	"net"

	latfake "github.com/cto-platform/cto/internal/provider/latitude/fake"
	vultrfake "github.com/cto-platform/cto/internal/provider/vultr/fake"
	talosfake "github.com/cto-platform/cto/internal/talos/fake"
)

// The NICs each provider's servers have, with the MACs its double
// reports, and what DHCP hands out on each.

// latitudeLinks: the external NIC gets the public address by DHCP, on an
// account that has DHCP for custom images; the internal one carries the
// VLANs and has no DHCP. The BMC's port is not a link of the operating
// system. cmdline is the address ip= gave (boot.go): without a device in
// ip=, Talos puts it on the first link by name (ParseCmdlineNetwork), the
// external one.
// The segment's gateway is the one GET /ips reports: the node needs its
// default route through it, by DHCP or by its config.
func latitudeLinks(serverID, ip string, dhcp bool, cmdline string) func() []talosfake.Link {
	prefix, gateway := latfake.PublicNetwork(ip)
	lease := ""
	if dhcp {
		lease = prefix
	}
	return func() []talosfake.Link {
		var out []talosfake.Link
		for _, nic := range latfake.Interfaces(serverID) {
			switch nic.Role {
			case "external":
				out = append(out, talosfake.Link{Name: "enp1s0f0", MAC: nic.MAC, Public: true, DHCP: lease, Gateway: gateway, Cmdline: cmdline})
			case "internal":
				out = append(out, talosfake.Link{Name: "enp1s0f1", MAC: nic.MAC})
			}
		}
		return out
	}
}

// hcloudLinks: virtio NICs (no permanent address). The public one gets
// its address by DHCP; each private network's NIC appears when the
// server joins it and gets the address Hetzner assigned by DHCP.
func (s *Sim) hcloudLinks(id int64, ip string) func() []talosfake.Link {
	return func() []talosfake.Link {
		out := []talosfake.Link{{Name: "eth0", MAC: net.HardwareAddr{0x96, 0, 0, byte(id >> 16), byte(id >> 8), byte(id)}.String(),
			NoPermanentAddr: true, Public: true, DHCP: ip + "/32"}}
		for i, pn := range s.hcloud.PrivateNets(id) {
			out = append(out, talosfake.Link{Name: []string{"enp7s0", "enp8s0", "enp9s0"}[i%3], MAC: pn.MACAddress, NoPermanentAddr: true, DHCP: pn.IP + "/32"})
		}
		return out
	}
}

// vultrLinks: the public NIC with the MAC the API reports, and a NIC per
// VPC attachment, without DHCP.
func (s *Sim) vultrLinks(b vultrfake.BareMetal) func() []talosfake.Link {
	return func() []talosfake.Link {
		m := b.MACAddress
		mac := net.HardwareAddr{byte(m >> 40), byte(m >> 32), byte(m >> 24), byte(m >> 16), byte(m >> 8), byte(m)}
		out := []talosfake.Link{{Name: "enp1s0", MAC: mac.String(), Public: true, DHCP: b.MainIP + "/23"}}
		for _, l := range s.vultr.VPCLinks(b.ID) {
			out = append(out, talosfake.Link{Name: "enp2s0", MAC: l.MAC})
		}
		return out
	}
}

// robotLinks: one NIC, DHCP for the main address; a vSwitch is a VLAN on it.
func robotLinks(number int, ip string) func() []talosfake.Link {
	return func() []talosfake.Link {
		return []talosfake.Link{{Name: "enp41s0", MAC: net.HardwareAddr{0xa8, 0xa1, 0x59, 0, byte(number >> 8), byte(number)}.String(),
			Public: true, DHCP: ip + "/26"}}
	}
}
