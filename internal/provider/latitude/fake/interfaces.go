package fake

import (
	"crypto/sha256"
	"net"
)

// Interface is one NIC of a server as the API reports it.
type Interface struct {
	Role        string `json:"role"` // external, internal, ipmi (openapi.yaml server.interfaces)
	Name        string `json:"name"`
	MAC         string `json:"mac_address"`
	Description string `json:"description"`
}

// Interfaces are a server's NICs: the BMC's port, the public NIC and the
// private NIC that carries VLANs, each with its own MAC (derived from
// the server's ID, so a server keeps them across reinstalls). Real
// answers list them as role + name + mac_address (openapi.yaml examples).
func Interfaces(serverID string) []Interface {
	sum := sha256.Sum256([]byte(serverID))
	mac := func(last byte) string {
		// 0c:c4:7a is a Supermicro prefix, as on Latitude's servers.
		return net.HardwareAddr{0x0c, 0xc4, 0x7a, sum[0], sum[1], sum[2]&0xf0 | last}.String()
	}
	return []Interface{
		{Role: "ipmi", Name: "IPMI", MAC: mac(1), Description: "IPMI Interface"},
		{Role: "external", Name: "eth0", MAC: mac(2), Description: "Public Interface"},
		{Role: "internal", Name: "eth1", MAC: mac(3), Description: "Private Interface"},
	}
}

func interfacesJSON(serverID string) []any {
	var out []any
	for _, i := range Interfaces(serverID) {
		out = append(out, map[string]any{"role": i.Role, "name": i.Name, "mac_address": i.MAC, "description": i.Description})
	}
	return out
}
