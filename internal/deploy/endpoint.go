package deploy

import (
	"fmt"

	"github.com/cto-platform/cto/internal/pipeline"
	"github.com/cto-platform/cto/internal/provider"
)

// haControlPlanes is how many control planes etcd needs to lose one and
// keep its quorum: below it, no endpoint makes the API survive a loss.
const haControlPlanes = 3

// endpointKind says how the nodes and the user reach the Kubernetes API.
type endpointKind int

const (
	// endpointFirstControlPlane: the first control plane's public address.
	endpointFirstControlPlane endpointKind = iota
	// endpointDNS: api.<name>.<domain>, with every control plane's public
	// address (or the load balancer's) in DNS.
	endpointDNS
	// endpointLoadBalancer: the provider's load balancer in front of every
	// control plane.
	endpointLoadBalancer
	// endpointVIP: a Layer2 VIP on the private network, held by one
	// healthy control plane at a time (Talos moves it through etcd).
	endpointVIP
	// keptEndpoint: the endpoint a running cluster was configured with,
	// whatever its shape is now (never chosen by planEndpoint).
	keptEndpoint
)

// endpointPlan is the choice of endpoint for a cluster's shape and
// provider, made the same way in the plan preview and in the talos step.
type endpointPlan struct {
	Kind endpointKind
	// SurvivesLoss: the endpoint still answers when any one control
	// plane is gone.
	SurvivesLoss bool
}

// planEndpoint picks the endpoint: a DNS name when the user gave a domain
// (its records name every control plane, or the load balancer), else the
// provider's load balancer, else a VIP where the private network is one
// layer-2 segment, else the first control plane. With fewer than three
// control planes etcd itself cannot lose one, so nothing more is set up.
func planEndpoint(domain string, controlPlanes int, caps provider.Capabilities, hasLoadBalancer bool) endpointPlan {
	ha := controlPlanes >= haControlPlanes
	switch {
	case domain != "":
		return endpointPlan{Kind: endpointDNS, SurvivesLoss: ha}
	case ha && hasLoadBalancer:
		return endpointPlan{Kind: endpointLoadBalancer, SurvivesLoss: true}
	case ha && caps.PrivateLayer2:
		return endpointPlan{Kind: endpointVIP, SurvivesLoss: true}
	}
	return endpointPlan{Kind: endpointFirstControlPlane}
}

// describe is the plan's line about the endpoint.
func (e endpointPlan) describe(name, domain string, controlPlanes int) string {
	switch e.Kind {
	case endpointDNS:
		s := fmt.Sprintf("Kubernetes API endpoint: api.%s.%s, whose DNS records name every control plane", name, domain)
		if !e.SurvivesLoss {
			s += fmt.Sprintf(" (%d control plane(s): losing one stops the API; use --nodes 3 or more for HA)", controlPlanes)
		}
		return s
	case endpointLoadBalancer:
		return "Kubernetes API endpoint: the provider's load balancer in front of every control plane; it survives the loss of any one"
	case endpointVIP:
		return "Kubernetes API endpoint: a virtual IP on the private network that a healthy control plane holds; it survives the loss of any one. " +
			"The kubeconfig has a context per control plane's public address for access from outside"
	}
	if controlPlanes >= haControlPlanes {
		return "Kubernetes API endpoint: the first control plane's public address, since this provider has neither a load balancer nor a layer-2 private network: " +
			"if that server is lost, nodes cannot rejoin; pass --domain for a DNS name over every control plane"
	}
	return "Kubernetes API endpoint: the control plane's public address"
}

// sayEndpoint tells the plan's endpoint before anything is ordered.
func sayEndpoint(r *pipeline.Run) {
	sp := r.Deps.Spec
	if r.Deps.Provider == nil || sp.ControlPlanes == 0 {
		return
	}
	_, hasLB := r.Deps.Provider.(provider.APILoadBalancer)
	e := planEndpoint(sp.DNS.Domain, sp.ControlPlanes, r.Deps.Provider.Capabilities(), hasLB)
	r.Say("%s", e.describe(sp.Name, sp.DNS.Domain, sp.ControlPlanes))
}
