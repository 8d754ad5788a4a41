package e2e

import (
	"strings"
	"testing"

	"github.com/cto-platform/cto/test/sim"
	"github.com/cto-platform/cto/test/simworld"
)

// Latitude accounts come in two modes (latitude-api.md): custom images
// with DHCP, and the older mode without, where Talos needs an ip= kernel
// argument the platform fills from placeholders. LATITUDESH_NO_DHCP=true
// says the account is of the older kind.

// TestLatitudeAccountWithoutDHCP: with LATITUDESH_NO_DHCP=true the deploy
// completes, each server having booted a script whose ip= the platform
// filled with its own address.
func TestLatitudeAccountWithoutDHCP(t *testing.T) {
	w := newWorld(t, sim.Options{LatitudeNoDHCP: true})
	w.Env = append(w.Env, "LATITUDESH_NO_DHCP=true")
	w.MustRun(simworld.DeployArgs("nd", "minimal", 2)...)
	w.checkCluster("nd", "minimal", 2, 1)
	for _, s := range w.Sim.State().Latitude.Servers {
		if !strings.HasPrefix(s.Booted, "#!ipxe") || !strings.Contains(s.Booted, " ip="+s.IP+"::") {
			t.Errorf("server %s booted %q, want a script with ip=%s", s.Hostname, s.Booted, s.IP)
		}
	}
	w.destroy("nd")
}

// TestLatitudeAccountWithoutDHCPNotSaid: on an account without DHCP a
// deploy that assumes DHCP gets servers whose Talos has no address. It
// stops within the node timeout and says what to set, instead of waiting
// forever.
func TestLatitudeAccountWithoutDHCPNotSaid(t *testing.T) {
	w := newWorld(t, sim.Options{LatitudeNoDHCP: true})
	r := w.Run(simworld.DeployArgs("nd", "minimal", 1)...)
	if r.Code == 0 {
		t.Fatalf("the deploy completed although no Talos node could answer:\n%s", r)
	}
	for _, want := range []string{"nd-cp1", "answered neither in maintenance mode", "without DHCP", "LATITUDESH_NO_DHCP=true", "cto destroy --name nd"} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("the failed deploy does not say %q:\n%s", want, r)
		}
	}
	for _, n := range w.Sim.Nodes() {
		t.Errorf("node %s runs at %s: Talos booted without DHCP and without ip= has no address", n.Hostname, n.IP)
	}
	// The advice, followed: the servers booted without an address are
	// ordered again, with the script the account fills.
	w.Env = append(w.Env, "LATITUDESH_NO_DHCP=true")
	w.destroy("nd")
	w.MustRun(simworld.DeployArgs("nd", "minimal", 1)...)
	w.checkCluster("nd", "minimal", 1, 1)
}

// TestLatitudeAccountWithDHCPToldNoDHCP: an account with DHCP runs the
// no-DHCP script as sent; Talos ignores the ip= it cannot parse and takes
// its address by DHCP, so the deploy completes either way.
func TestLatitudeAccountWithDHCPToldNoDHCP(t *testing.T) {
	w := newWorld(t, sim.Options{})
	w.Env = append(w.Env, "LATITUDESH_NO_DHCP=true")
	w.MustRun(simworld.DeployArgs("dn", "minimal", 1)...)
	w.checkCluster("dn", "minimal", 1, 1)
	w.destroy("dn")
}
