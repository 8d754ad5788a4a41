package hetzner

import (
	"net"
	"slices"
	"testing"

	"github.com/hetznercloud/hcloud-go/v2/hcloud"

	"github.com/cto-platform/cto/internal/provider"
)

// The API names the MAC of each private network NIC (server.private_net[]
// .mac_address) and none for the public NIC.
func TestServerNICsFromPrivateNets(t *testing.T) {
	s := serverOf(&hcloud.Server{ID: 7, Name: "c-cp1", PrivateNet: []hcloud.ServerPrivateNet{
		{Network: &hcloud.Network{ID: 3}, IP: net.ParseIP("10.8.0.2"), MACAddress: "86:00:00:4A:1B:2C"},
	}})
	if want := []provider.NIC{{Role: provider.NICPrivate, MAC: "86:00:00:4a:1b:2c"}}; !slices.Equal(s.NICs, want) {
		t.Errorf("NICs = %v, want %v", s.NICs, want)
	}
}
