package deploy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/cto-platform/cto/internal/pipeline"
	"github.com/cto-platform/cto/internal/platform"
	"github.com/cto-platform/cto/internal/provider"
	"github.com/cto-platform/cto/internal/spec"
	"github.com/cto-platform/cto/internal/state"
)

// validateStep checks everything before any write: the license, the DNS
// account, and for rented servers the credentials, plan, Talos support,
// stock (with fallback regions), the cost and its cap, and the user's
// go-ahead.
type validateStep struct{}

func (validateStep) Name() string { return StepValidate }

// AlwaysRun: a rerun checks the license, credentials and stock again.
func (validateStep) AlwaysRun() bool { return true }

func (validateStep) DryRun(ctx context.Context, r *pipeline.Run) error {
	if !r.Deps.Spec.NeedsMachines() {
		return nil
	}
	_, err := preflight(ctx, r)
	return err
}

func (validateStep) Run(ctx context.Context, r *pipeline.Run) error {
	if err := checkLicense(r); err != nil {
		return err
	}
	if err := checkDNS(ctx, r); err != nil {
		return err
	}
	if r.Deps.Spec.Source() == spec.Existing {
		version, err := platform.CheckReachable(ctx, r.Deps.Spec.Kubeconfig)
		if err != nil {
			return err
		}
		r.Say("cluster reachable: Kubernetes %s", version)
	}
	if !r.Deps.Spec.NeedsMachines() {
		return nil
	}
	pf, err := preflight(ctx, r)
	if err != nil {
		return err
	}
	if err := r.Journal.Update(func(j *state.Journal) {
		j.Facts.Region = pf.region
		j.Facts.CostMonthly = fmt.Sprintf("%.2f", pf.monthly)
		j.Facts.CostHourly = fmt.Sprintf("%.2f", pf.hourly)
		j.Facts.Currency = pf.currency
	}); err != nil {
		return err
	}
	if pf.created {
		return nil // the user approved this spend on the run that created servers
	}
	if pf.adopt {
		return r.Deps.Approve(fmt.Sprintf("Adopt %d rented server(s) of %s and write Talos over their disks (erasing them)",
			r.Deps.Spec.Nodes, strings.Join(r.Deps.Spec.Servers, ",")))
	}
	return r.Deps.Approve(fmt.Sprintf("Create %d server(s) in %s for about %s per month (%s per hour)",
		r.Deps.Spec.Nodes, pf.region, money(pf.monthly, pf.currency), money(pf.hourly, pf.currency)))
}

type preflightResult struct {
	region          string
	hourly, monthly float64
	currency        string
	// created is true when an earlier run already created servers.
	created bool
	// adopt is true when the nodes are servers the customer already
	// rents (--servers without a plan): nothing new is billed.
	adopt bool
}

func preflight(ctx context.Context, r *pipeline.Run) (preflightResult, error) {
	var pf preflightResult
	sp := r.Deps.Spec
	p := r.Deps.Provider
	if p == nil {
		return pf, fmt.Errorf("no provider is wired for %s", sp.Provider)
	}
	if a, ok := p.(provider.Adopter); ok && len(sp.Servers) > 0 && sp.Plan == "" {
		pf, err := adoptPreflight(ctx, r, a)
		if err == nil {
			err = checkImageFactory(ctx, r)
		}
		return pf, err
	}
	if sp.Plan == "" {
		return pf, &spec.Error{Field: "plan", Reason: fmt.Sprintf("is required; pass --plan (list them with `cto plans --provider %s --region %s --in-stock`)", sp.Provider, sp.Region)}
	}
	if err := p.Authenticate(ctx); err != nil {
		return pf, fmt.Errorf("check %s credentials: %w", sp.Provider, err)
	}
	pf.currency = p.Capabilities().Currency
	if r.Journal.FactsCopy().Region == "" {
		if err := CheckSites(ctx, p, sp.Provider, "region", []string{sp.Region}); err != nil {
			return pf, err
		}
		if err := CheckSites(ctx, p, sp.Provider, "fallbackRegions", sp.FallbackRegions); err != nil {
			return pf, err
		}
	}
	cpPlan, err := findPlan(ctx, p, sp.Provider, "plan", sp.Plan)
	if err != nil {
		return pf, err
	}
	workerPlan := cpPlan
	if sp.WorkerPlan != "" && sp.WorkerPlan != sp.Plan && sp.Workers() > 0 {
		if workerPlan, err = findPlan(ctx, p, sp.Provider, "workerPlan", sp.WorkerPlan); err != nil {
			return pf, err
		}
	}
	for _, n := range r.Journal.NodesCopy() {
		pf.created = pf.created || n.ServerID != ""
	}

	// A rerun stays where the first run put the servers.
	candidates := append([]string{sp.Region}, sp.FallbackRegions...)
	if prev := r.Journal.FactsCopy().Region; prev != "" {
		candidates = []string{prev}
	}
	if candidates[0] == "" {
		return pf, &spec.Error{Field: "region", Reason: fmt.Sprintf("is required; pass --region (list them with `cto regions --provider %s`)", sp.Provider)}
	}
	var tried []string
	for _, site := range candidates {
		site = strings.ToUpper(site)
		cpAt, ok1 := cpPlan.At(site)
		wAt, ok2 := workerPlan.At(site)
		if !ok1 || !ok2 {
			tried = append(tried, site+" (not offered)")
			continue
		}
		if !pf.created && (!cpAt.InStock || (sp.Workers() > 0 && !wAt.InStock)) {
			tried = append(tried, site)
			continue
		}
		pf.region = site
		cps, workers := float64(sp.ControlPlanes), float64(sp.Workers())
		pf.hourly = cps*cpAt.Hourly + workers*wAt.Hourly
		pf.monthly = cps*cpAt.Monthly + workers*wAt.Monthly
		if site != strings.ToUpper(sp.Region) && r.Journal.FactsCopy().Region == "" {
			r.Warn("%s is out of stock in %s; using fallback region %s", sp.Plan, strings.Join(tried, ", "), site)
		}
		r.Say("cost estimate in %s: %d x %s at %s/h (%s/month)", site, sp.ControlPlanes, cpPlan.Slug, money(cpAt.Hourly, pf.currency), money(cpAt.Monthly, pf.currency))
		if sp.Workers() > 0 {
			r.Say("cost estimate in %s: %d x %s at %s/h (%s/month)", site, sp.Workers(), workerPlan.Slug, money(wAt.Hourly, pf.currency), money(wAt.Monthly, pf.currency))
		}
		r.Say("total: %s per hour, %s per month", money(pf.hourly, pf.currency), money(pf.monthly, pf.currency))
		sayBootPath(r, cpPlan)
		if workerPlan.Slug != cpPlan.Slug && sp.Workers() > 0 {
			sayBootPath(r, workerPlan)
		}
		sayEndpoint(r)
		if sp.MaxMonthlyCost > 0 && pf.monthly > sp.MaxMonthlyCost {
			return pf, &spec.Error{Field: "maxMonthlyCost", Value: fmt.Sprintf("%.2f", sp.MaxMonthlyCost),
				Reason: fmt.Sprintf("is below the estimate of %s per month for %d node(s); raise --max-monthly-cost, or use a smaller plan or fewer nodes", money(pf.monthly, pf.currency), sp.Nodes)}
		}
		return pf, checkImageFactory(ctx, r)
	}
	return pf, fmt.Errorf("%w: %s is out of stock everywhere tried: %s; nothing was created; try another plan (`cto plans --provider %s --in-stock`) or add --fallback-regions",
		provider.ErrOutOfStock, sp.Plan, strings.Join(tried, ", "), sp.Provider)
}

// checkImageFactory makes sure, before anything is ordered, that the Image
// Factory builds the Talos version asked for with every extension the
// nodes' schematics name: either missing would otherwise show only when
// the first server boots, billed.
func checkImageFactory(ctx context.Context, r *pipeline.Run) error {
	f := imageFactory(r)
	version := talosVersion(r)
	versions, err := f.Versions(ctx)
	if err != nil {
		return err
	}
	if !slices.Contains(versions, version) {
		newest := slices.Clone(versions)
		slices.SortFunc(newest, func(a, b string) int { return compareVersions(b, a) })
		newest = newest[:min(len(newest), 5)]
		return &spec.Error{Field: "talos.version", Value: version, Reason: fmt.Sprintf(
			"is not offered by the Image Factory at %s (its newest: %s); pass --talos-version with one it offers", f.URL, strings.Join(newest, ", "))}
	}
	offered, err := f.OfficialExtensions(ctx, version)
	if err != nil {
		return err
	}
	for _, gpu := range []bool{false, true} {
		if gpu && !r.Deps.Spec.GPU {
			continue
		}
		s, err := nodeSchematic(r, gpu)
		if err != nil {
			return err
		}
		for _, ext := range s.Extensions() {
			if !slices.Contains(offered, ext) {
				return &spec.Error{Field: "talos.version", Value: version, Reason: fmt.Sprintf(
					"has no %s extension at the Image Factory, and the platform's components need it; pass --talos-version with a version that has it", ext)}
			}
		}
	}
	return nil
}

// compareVersions orders "vMAJOR.MINOR.PATCH[-pre]" by their numbers;
// what follows a "-" only breaks ties.
func compareVersions(a, b string) int {
	parse := func(v string) (n [3]int, pre string) {
		v, pre, _ = strings.Cut(strings.TrimPrefix(v, "v"), "-")
		fmt.Sscanf(v, "%d.%d.%d", &n[0], &n[1], &n[2])
		return n, pre
	}
	na, pa := parse(a)
	nb, pb := parse(b)
	if c := slices.Compare(na[:], nb[:]); c != 0 {
		return c
	}
	switch {
	case pa == pb:
		return 0
	case pa == "": // a release sorts after its pre-releases
		return 1
	case pb == "":
		return -1
	}
	return strings.Compare(pa, pb)
}

// adoptPreflight checks a deploy onto servers the customer already rents:
// the credentials work and enough of --servers can be adopted. They cost
// nothing new, whatever their plan and region.
func adoptPreflight(ctx context.Context, r *pipeline.Run, a provider.Adopter) (preflightResult, error) {
	sp := r.Deps.Spec
	p := r.Deps.Provider
	pf := preflightResult{adopt: true, currency: p.Capabilities().Currency, region: strings.ToUpper(sp.Region)}
	if err := p.Authenticate(ctx); err != nil {
		return pf, fmt.Errorf("check %s credentials: %w", sp.Provider, err)
	}
	for _, n := range r.Journal.NodesCopy() {
		pf.created = pf.created || n.ServerID != ""
	}
	n, err := a.Adoptable(ctx, sp.Name, sp.Plan, sp.Region)
	if err != nil {
		return pf, fmt.Errorf("check --servers: %w", err)
	}
	if n < sp.Nodes {
		return pf, &spec.Error{Field: "servers", Value: strings.Join(sp.Servers, ","),
			Reason: fmt.Sprintf("has %d server(s) that can be adopted (ready, not cancelled, in no other cluster), the cluster needs %d; add server numbers or lower --nodes", n, sp.Nodes)}
	}
	r.Say("adopting %d of the rented servers %s: no new cost", sp.Nodes, strings.Join(sp.Servers, ","))
	return pf, nil
}

func findPlan(ctx context.Context, p provider.Provider, providerName, field, slug string) (provider.Plan, error) {
	plans, err := p.ListPlans(ctx, provider.PlanFilter{Slug: slug})
	if err != nil && !errors.Is(err, provider.ErrNotFound) {
		return provider.Plan{}, fmt.Errorf("list plans: %w", err)
	}
	for _, pl := range plans {
		if pl.Slug == slug {
			if !pl.TalosCapable {
				return pl, &spec.Error{Field: field, Value: slug, Reason: fmt.Sprintf("cannot boot Talos Linux at %s; pick a plan marked talos=yes in `cto plans --provider %s`", providerName, providerName)}
			}
			return pl, nil
		}
	}
	return provider.Plan{}, &spec.Error{Field: field, Value: slug, Reason: fmt.Sprintf("is not a plan of %s; list them with `cto plans --provider %s`", providerName, providerName)}
}

// money formats an amount: $ for USD, the code otherwise.
func money(v float64, currency string) string {
	if currency == "" || currency == "USD" {
		return fmt.Sprintf("$%.2f", v)
	}
	return fmt.Sprintf("%.2f %s", v, currency)
}
