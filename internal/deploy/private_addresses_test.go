package deploy

import (
	"testing"

	"github.com/cto-platform/cto/internal/state"
)

// A node keeps its private address whatever comes and goes around it; a
// new node takes the lowest one free.
func TestFillPrivateAddressesKeepsEachNodesAddress(t *testing.T) {
	nodes := []*state.Node{{Name: "cp1"}, {Name: "worker1"}, {Name: "worker2"}}
	if err := fillPrivateAddresses("10.8.0.0/24", nodes); err != nil {
		t.Fatal(err)
	}
	want := []string{"10.8.0.1", "10.8.0.2", "10.8.0.3"}
	for i, n := range nodes {
		if n.PrivateIP != want[i] {
			t.Errorf("%s got %s, want %s", n.Name, n.PrivateIP, want[i])
		}
	}
	// worker1 goes, cp2 and worker3 come: worker2 stays on .3.
	nodes = []*state.Node{nodes[0], nodes[2], {Name: "cp2"}, {Name: "worker3"}}
	if err := fillPrivateAddresses("10.8.0.0/24", nodes); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"10.8.0.1", "10.8.0.3", "10.8.0.2", "10.8.0.4"} {
		if nodes[i].PrivateIP != want {
			t.Errorf("%s got %s, want %s", nodes[i].Name, nodes[i].PrivateIP, want)
		}
	}
	full := []*state.Node{{Name: "a"}, {Name: "b"}, {Name: "c"}, {Name: "d"}, {Name: "e"}, {Name: "f"}, {Name: "g"}}
	if err := fillPrivateAddresses("10.8.0.0/29", full); err == nil {
		t.Error("7 nodes got addresses in a /29")
	}
}
