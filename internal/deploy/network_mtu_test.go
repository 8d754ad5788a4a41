package deploy

import (
	"testing"

	"github.com/siderolabs/talos/pkg/machinery/config"

	"github.com/cto-platform/cto/internal/talos"
	"github.com/cto-platform/cto/internal/talos/talostest"
)

// TestPrivateMTUReachesCiliumAndTheLink: each provider's private network
// MTU (Hetzner Cloud networks 1450, a Robot vSwitch 1400, the NIC's own
// elsewhere) is the MTU Cilium is given and the MTU of the private link in
// the node's config.
func TestPrivateMTUReachesCiliumAndTheLink(t *testing.T) {
	want := map[string]int{"latitude-1cp": 0, "latitude-3cp2w": 0, "latitude-gpu": 0, "hcloud": 1450, "robot": 1400, "vultr": 0}
	secrets := talostest.FixedSecrets(t)
	for _, gc := range goldenProviders(t) {
		t.Run(gc.name, func(t *testing.T) {
			r := goldenRun(t, gc)
			if got := platformSelection(r).NetworkMTU; got != want[gc.name] {
				t.Errorf("Cilium's MTU = %d, want %d", got, want[gc.name])
			}
			in, err := clusterInput(r, r.Journal.NodesCopy(), secrets)
			if err != nil {
				t.Fatal(err)
			}
			n := gc.nodes[0]
			ni, err := nodeInput(r, n, talos.Disk{Serial: "S"}, "376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba")
			if err != nil {
				t.Fatal(err)
			}
			cfg := renderedConfig(t, in, ni)
			private := 0
			for _, lc := range cfg.NetworkCommonLinkConfigs() {
				if lc.Name() == talos.PublicLinkAlias {
					continue
				}
				private++
				if got := int(lc.MTU().ValueOr(0)); got != want[gc.name] {
					t.Errorf("private link %s: MTU %d, want %d", lc.Name(), got, want[gc.name])
				}
			}
			if private == 0 {
				t.Error("the config has no private link")
			}
		})
	}
}

// renderedConfig is the node's machine config as Talos reads it back,
// checked as a metal node would check it.
func renderedConfig(t *testing.T, in talos.ClusterInput, ni talos.NodeInput) config.Provider {
	t.Helper()
	data, err := talos.Generate(in, ni)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := talos.ParseConfig(data)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
