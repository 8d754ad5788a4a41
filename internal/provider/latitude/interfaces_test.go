package latitude

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/cto-platform/cto/internal/provider"
	"github.com/cto-platform/cto/internal/provider/latitude/fake"
)

// The interfaces of the openapi.yaml example server: the BMC, the PXE NIC
// (role internal) and a LAG without a MAC.
const exampleInterfaces = `[{"role": "ipmi", "name": "IPMI", "mac_address": "00:11:22:33:44:55", "description": "IPMI Interface"}, {"role": "internal", "name": "PXE", "mac_address": "66:77:88:99:aa:bb", "description": "PXE Interface"}, {"role": "unknown", "name": "PO1", "mac_address": null, "description": "LAG interface (no associated MAC record)"}]`

func TestInterfacesOfTheReferenceExample(t *testing.T) {
	var ifs []Interface
	if err := json.Unmarshal([]byte(exampleInterfaces), &ifs); err != nil {
		t.Fatal(err)
	}
	got := nics(ifs)
	want := []provider.NIC{{Role: provider.NICPrivate, MAC: "66:77:88:99:aa:bb"}}
	if !slices.Equal(got, want) {
		t.Errorf("nics = %v, want %v (the BMC and a NIC without MAC are no links to select)", got, want)
	}
}

// A server read through the double names its public and private NICs by
// the MACs the double reports, on GET and on the list.
func TestServerNICsFromTheDouble(t *testing.T) {
	f, base := serveFake(t, fake.Options{})
	p := providerOn(t, f, base, Config{Clock: instantClock{}})
	ctx := context.Background()
	s := mustCreate(t, p, ipxeServer("c", "c-cp1", "http://boot.test/x"))
	var pub, priv string
	for _, i := range fake.Interfaces(s.ID) {
		switch i.Role {
		case "external":
			pub = i.MAC
		case "internal":
			priv = i.MAC
		}
	}
	got, err := p.GetServer(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.MAC(provider.NICPublic) != pub || got.MAC(provider.NICPrivate) != priv || pub == priv {
		t.Errorf("GetServer NICs = %v, want public %s and private %s", got.NICs, pub, priv)
	}
	list, err := p.ListServers(ctx, "c")
	if err != nil || len(list) != 1 || !slices.Equal(list[0].NICs, got.NICs) {
		t.Errorf("ListServers = %+v, %v; want the same NICs as GetServer", list, err)
	}
}
