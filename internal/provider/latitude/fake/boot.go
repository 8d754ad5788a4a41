package fake

import (
	"encoding/base64"
	"net/netip"
	"net/url"
	"strings"
)

// addressing is a server's public IPv4 network as GET /ips reports it: a
// /31 point-to-point link (RFC 3021), the gateway the link's other address.
type addressing struct{ Address, Gateway, Netmask, CIDR string }

func addressOf(ip string) addressing {
	a, err := netip.ParseAddr(ip)
	if err != nil || !a.Is4() {
		return addressing{Address: ip}
	}
	p := netip.PrefixFrom(a, 31).Masked()
	gw := p.Addr()
	if gw == a {
		gw = a.Next()
	}
	return addressing{Address: ip, Gateway: gw.String(), Netmask: "255.255.255.254", CIDR: p.String()}
}

// PublicNetwork is a server's public address as its link gets it, with
// the prefix length GET /ips reports (address/31), and the gateway of
// that segment.
func PublicNetwork(ip string) (prefix, gateway string) {
	a := addressOf(ip)
	if a.CIDR == "" {
		return "", ""
	}
	return a.Address + "/" + strings.SplitN(a.CIDR, "/", 2)[1], a.Gateway
}

// Placeholders are what the platform fills in a script on an account
// without DHCP (latitude-api.md: "Older custom-image mode has no DHCP:
// scripts there use placeholders the platform fills in ({{ PUBLIC_IP }},
// {{ NETMASK }}, {{ PUBLIC_GW }}, {{ INTERFACE_ID }})").
var Placeholders = []string{"{{ PUBLIC_IP }}", "{{ NETMASK }}", "{{ PUBLIC_GW }}", "{{ INTERFACE_ID }}"}

// fill is the value a placeholder stands for on the server at a.
func (a addressing) fill(placeholder string) string {
	switch placeholder {
	case "{{ PUBLIC_IP }}":
		return a.Address
	case "{{ PUBLIC_GW }}":
		return a.Gateway
	case "{{ NETMASK }}":
		return a.Netmask
	case "{{ INTERFACE_ID }}":
		// The interface the server's answer names as external (serverJSON).
		return "eth0"
	}
	return placeholder
}

// booted is what a server's iPXE ran once it deployed: the URL it
// chain-loaded, or the script, decoded. latitude-api.md: the ipxe
// attribute is "the Talos Image Factory PXE URL ..., or a base64 script".
// On an account without DHCP (Options.NoDHCP) the platform fills the
// script's Placeholders first; an account with DHCP runs the script as
// sent. A server that runs another system booted no iPXE target: "".
func (f *Fake) booted(s *server) string {
	if s.OS != "ipxe" {
		return ""
	}
	if u, err := url.Parse(s.IPXE); err == nil && (u.Scheme == "http" || u.Scheme == "https") {
		return s.IPXE
	}
	script := s.IPXE
	if b, err := base64.StdEncoding.DecodeString(s.IPXE); err == nil {
		script = string(b)
	}
	if !f.opts.NoDHCP {
		return script
	}
	a := addressOf(s.IP)
	var pairs []string
	for _, p := range Placeholders {
		pairs = append(pairs, p, a.fill(p))
	}
	return strings.NewReplacer(pairs...).Replace(script)
}
