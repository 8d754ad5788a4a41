package latitude

import (
	"net"

	"github.com/cto-platform/cto/internal/provider"
)

// Interface is one NIC of a server as GET /servers/{id} reports it
// (openapi.yaml, server.interfaces: role external, internal, ipmi or
// unknown; mac_address may be null, e.g. for a LAG).
type Interface struct {
	Role        string  `json:"role"`
	Name        string  `json:"name"`
	MACAddress  *string `json:"mac_address"`
	Description string  `json:"description"`
}

// nics maps a server's interfaces onto the NICs its Talos config names:
// the external one carries the public address, the internal one the
// VLANs. The IPMI port belongs to the BMC and an interface without a MAC
// cannot be selected, so neither is kept.
func nics(ifs []Interface) []provider.NIC {
	var out []provider.NIC
	for _, i := range ifs {
		if i.MACAddress == nil {
			continue
		}
		mac, err := net.ParseMAC(*i.MACAddress)
		if err != nil {
			continue
		}
		switch i.Role {
		case "external":
			out = append(out, provider.NIC{Role: provider.NICPublic, MAC: mac.String()})
		case "internal":
			out = append(out, provider.NIC{Role: provider.NICPrivate, MAC: mac.String()})
		}
	}
	return out
}
