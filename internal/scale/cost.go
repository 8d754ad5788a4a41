package scale

import (
	"context"
	"errors"
	"fmt"

	"github.com/cto-platform/cto/internal/provider"
	"github.com/cto-platform/cto/internal/spec"
	"github.com/cto-platform/cto/internal/state"
	"github.com/cto-platform/cto/internal/talos"
)

// Estimate is what a change costs at the provider's list prices.
type Estimate struct {
	Currency string
	// New is what the servers to order cost, Total the whole cluster
	// after the change.
	NewHourly, NewMonthly     float64
	TotalHourly, TotalMonthly float64
	// Lines say it for people, a line per plan of the new servers.
	Lines []string
}

// Price reads the plans of the cluster's roles at region and prices nodes:
// the new ones (add) and the cluster after the change (after). A plan
// out of stock for a node to add stops it before any order.
func Price(ctx context.Context, p provider.Provider, sp spec.ClusterSpec, region string, add, after []state.Node) (Estimate, error) {
	e := Estimate{Currency: p.Capabilities().Currency}
	plans := map[string]provider.PlanRegion{}
	at := func(slug string) (provider.PlanRegion, error) {
		if pr, ok := plans[slug]; ok {
			return pr, nil
		}
		list, err := p.ListPlans(ctx, provider.PlanFilter{Slug: slug})
		if err != nil && !errors.Is(err, provider.ErrNotFound) {
			return provider.PlanRegion{}, fmt.Errorf("list plans: %w", err)
		}
		for _, pl := range list {
			if pl.Slug != slug {
				continue
			}
			pr, ok := pl.At(region)
			if !ok {
				return pr, fmt.Errorf("plan %s is not offered in %s, where the cluster runs", slug, region)
			}
			plans[slug] = pr
			return pr, nil
		}
		return provider.PlanRegion{}, fmt.Errorf("plan %s is no longer offered by %s", slug, sp.Provider)
	}
	count := map[string]int{}
	var order []string
	for _, n := range add {
		slug := PlanFor(sp, n.Role)
		pr, err := at(slug)
		if err != nil {
			return e, err
		}
		if !pr.InStock {
			return e, fmt.Errorf("%w: %s is out of stock in %s, where the cluster runs; nothing was ordered; try again later", provider.ErrOutOfStock, slug, region)
		}
		if count[slug] == 0 {
			order = append(order, slug)
		}
		count[slug]++
		e.NewHourly += pr.Hourly
		e.NewMonthly += pr.Monthly
	}
	for _, slug := range order {
		pr := plans[slug]
		e.Lines = append(e.Lines, fmt.Sprintf("%d x %s in %s at %s/h (%s/month each)", count[slug], slug, region, Money(pr.Hourly, e.Currency), Money(pr.Monthly, e.Currency)))
	}
	for _, n := range after {
		pr, err := at(PlanFor(sp, n.Role))
		if err != nil {
			return e, err
		}
		e.TotalHourly += pr.Hourly
		e.TotalMonthly += pr.Monthly
	}
	return e, nil
}

// CheckCap refuses a cluster whose monthly estimate is above limit (0 is
// no cap), as the deploy's --max-monthly-cost does.
func (e Estimate) CheckCap(limit float64, nodes int) error {
	if limit > 0 && e.TotalMonthly > limit {
		return &spec.Error{Field: "maxMonthlyCost", Value: fmt.Sprintf("%.2f", limit),
			Reason: fmt.Sprintf("is below the estimate of %s per month for the %d node(s) after this change; raise --max-monthly-cost, or ask for fewer nodes", Money(e.TotalMonthly, e.Currency), nodes)}
	}
	return nil
}

// PlanFor is the plan a node of role is ordered on.
func PlanFor(sp spec.ClusterSpec, role string) string {
	if role == talos.RoleWorker && sp.WorkerPlan != "" {
		return sp.WorkerPlan
	}
	return sp.Plan
}

// Money formats an amount: $ for USD, the code otherwise.
func Money(v float64, currency string) string {
	if currency == "" || currency == "USD" {
		return fmt.Sprintf("$%.2f", v)
	}
	return fmt.Sprintf("%.2f %s", v, currency)
}
