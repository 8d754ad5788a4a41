package hetzner

import (
	"context"
	"fmt"
	"net/http"

	"github.com/hetznercloud/hcloud-go/v2/hcloud"
	"github.com/hetznercloud/hcloud-go/v2/hcloud/schema"

	"github.com/cto-platform/cto/internal/provider"
)

// Charges prices what a deploy creates besides servers, from the API's
// live per-location net prices in EUR: each server's primary IPv4 address
// (billed apart from the server type) and the API load balancer (with 3+
// control planes). Networks and placement groups cost nothing at Hetzner
// Cloud, and the API serves no price for them.
func (p *Provider) Charges(ctx context.Context) ([]provider.Charge, error) {
	// GET /pricing decoded here: hcloud-go v2.52.0's Pricing.Get sizes the
	// primary IP prices by the floating IP types and panics when the
	// answer lists fewer of those.
	req, err := p.api.NewRequest(ctx, http.MethodGet, "/pricing", nil)
	if err != nil {
		return nil, err
	}
	var pricing schema.PricingGetResponse
	if _, err := p.api.Do(req, &pricing); err != nil {
		return nil, apiError("get prices", err)
	}
	out := primaryIPv4Charges(pricing.Pricing)
	lb, _, err := p.api.LoadBalancerType.GetByName(ctx, LoadBalancerType)
	if err != nil {
		return nil, apiError("get load balancer type "+LoadBalancerType, err)
	}
	if lb == nil {
		return nil, fmt.Errorf("get load balancer type %s: %w", LoadBalancerType, provider.ErrNotFound)
	}
	return append(out, loadBalancerCharges(lb)...), nil
}

// primaryIPv4Charges is the price of the public IPv4 address every server
// is created with (IPv6 addresses are free).
func primaryIPv4Charges(pricing schema.Pricing) []provider.Charge {
	var out []provider.Charge
	for _, ip := range pricing.PrimaryIPs {
		if ip.Type != string(hcloud.PrimaryIPTypeIPv4) {
			continue
		}
		for _, pr := range ip.Prices {
			out = append(out, provider.Charge{
				Kind: "primary IPv4", Site: pr.Location,
				Hourly: amount(pr.PriceHourly.Net), Monthly: amount(pr.PriceMonthly.Net), PerServer: true,
			})
		}
	}
	return out
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
