package deploy

import (
	"strings"
	"testing"

	"github.com/cto-platform/cto/internal/provider"
)

// TestPlanEndpoint: every shape gets the endpoint that survives the loss
// of a control plane when the provider can carry one, and the plan says
// which it is.
func TestPlanEndpoint(t *testing.T) {
	l2 := provider.Capabilities{PrivateLayer2: true}
	routed := provider.Capabilities{PrivateDHCP: true}
	for _, c := range []struct {
		name    string
		domain  string
		cps     int
		caps    provider.Capabilities
		lb      bool
		want    endpointKind
		survive bool
		says    string
	}{
		{"one control plane", "", 1, l2, false, endpointFirstControlPlane, false, "the control plane's public address"},
		{"three on a layer-2 network", "", 3, l2, false, endpointVIP, true, "virtual IP on the private network"},
		{"three behind a load balancer", "", 3, routed, true, endpointLoadBalancer, true, "load balancer"},
		{"three on a routed network without a load balancer", "", 3, routed, false, endpointFirstControlPlane, false, "pass --domain"},
		{"three with a domain", "example.com", 3, l2, false, endpointDNS, true, "api.c.example.com"},
		{"one with a domain", "example.com", 1, l2, false, endpointDNS, false, "use --nodes 3"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := planEndpoint(c.domain, c.cps, c.caps, c.lb)
			if e.Kind != c.want || e.SurvivesLoss != c.survive {
				t.Errorf("got kind %d (survives loss %v), want %d (%v)", e.Kind, e.SurvivesLoss, c.want, c.survive)
			}
			if d := e.describe("c", c.domain, c.cps); !strings.Contains(d, c.says) {
				t.Errorf("the plan says %q, want it to mention %q", d, c.says)
			}
		})
	}
}
