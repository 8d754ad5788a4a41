package vultr

import (
	"testing"

	"github.com/vultr/govultr/v3"

	"github.com/cto-platform/cto/internal/provider"
)

// A bare metal's mac_address is the public NIC's MAC as an integer.
func TestServerPublicNICFromIntegerMAC(t *testing.T) {
	s := serverFrom(govultr.BareMetalServer{ID: "x", MacAddress: 0x0c42a1b2c3d4})
	if got := s.MAC(provider.NICPublic); got != "0c:42:a1:b2:c3:d4" {
		t.Errorf("public MAC = %q, want 0c:42:a1:b2:c3:d4", got)
	}
	if s := serverFrom(govultr.BareMetalServer{ID: "y"}); len(s.NICs) != 0 {
		t.Errorf("no mac_address: NICs = %v, want none", s.NICs)
	}
}
