package hetzner

import (
	"context"
	"fmt"

	"github.com/hetznercloud/hcloud-go/v2/hcloud"

	"github.com/cto-platform/cto/internal/provider"
)

var _ provider.Charger = (*Provider)(nil)

// Charges prices what a deploy creates besides servers, from the API's
// live per-location net prices in EUR: the API load balancer (with 3+
// control planes). Networks and placement groups cost nothing at Hetzner
// Cloud, and the API serves no price for them.
func (p *Provider) Charges(ctx context.Context) ([]provider.Charge, error) {
	lb, _, err := p.api.LoadBalancerType.GetByName(ctx, LoadBalancerType)
	if err != nil {
		return nil, apiError("get load balancer type "+LoadBalancerType, err)
	}
	if lb == nil {
		return nil, fmt.Errorf("get load balancer type %s: %w", LoadBalancerType, provider.ErrNotFound)
	}
	return loadBalancerCharges(lb), nil
}

func loadBalancerCharges(lb *hcloud.LoadBalancerType) []provider.Charge {
	var out []provider.Charge
	for _, pr := range lb.Pricings {
		if pr.Location == nil {
			continue
		}
		out = append(out, provider.Charge{
			Kind: "load balancer " + lb.Name, Site: pr.Location.Name,
			Hourly: amount(pr.Hourly.Net), Monthly: amount(pr.Monthly.Net),
			MinControlPlanes: minLoadBalancedControlPlanes,
		})
	}
	return out
}
