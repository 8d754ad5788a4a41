package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/cto-platform/cto/internal/cache"
	"github.com/cto-platform/cto/internal/provider"
	"github.com/cto-platform/cto/internal/ranking"
	"github.com/cto-platform/cto/internal/spec"
)

// cheapestFlags are `cto plans --cheapest`'s flags besides the ones the
// listing has (--region, --min-ram, --gpu, --refresh).
type cheapestFlags struct {
	on            bool
	nodes         int
	controlPlanes int
	minCores      int
	minDisk       int
	profile       string
	continent     string
	currency      string
	rates         []string
	top           int
}

// plansCacheKind names the cached plan listings. v2: prices are "hourly"
// and "monthly" in the provider's currency; v3: and "setup", a one-off fee.
const plansCacheKind = "plans.v3"

// shownCommands is how many of the top rows print their deploy command.
const shownCommands = 3

func addCheapestFlags(fs *pflag.FlagSet, c *cheapestFlags) {
	fs.BoolVar(&c.on, "cheapest", false, "rank every provider, plan and region by what the whole cluster costs (asks each provider whose credentials are set)")
	fs.IntVar(&c.nodes, "nodes", 1, "with --cheapest: servers in the cluster, control planes included")
	fs.IntVar(&c.controlPlanes, "control-planes", 0, "with --cheapest: control planes, 1, 3 or 5 (default 1; 3 for --profile production)")
	fs.IntVar(&c.minCores, "min-cores", 0, "with --cheapest: only plans with at least this many CPU cores")
	fs.IntVar(&c.minDisk, "min-disk", 0, "with --cheapest: only plans with at least this much storage in total (GB)")
	fs.StringVar(&c.profile, "profile", "", "with --cheapest: the platform profile, whose per-node minimum plans must meet (default minimal): "+strings.Join(spec.Profiles, "|"))
	fs.StringVar(&c.continent, "continent", "", "with --cheapest: only sites on this continent: "+strings.Join(ranking.Continents, "|"))
	addCurrencyFlags(fs, c, "with --cheapest")
	fs.IntVar(&c.top, "top", 10, "with --cheapest: rows to show (0: all)")
}

// addCurrencyFlags adds --currency and --rate; when says when they count.
func addCurrencyFlags(fs *pflag.FlagSet, c *cheapestFlags, when string) {
	fs.StringVar(&c.currency, "currency", "USD", when+": the currency to compare prices in (each is also shown in its own)")
	fs.StringSliceVar(&c.rates, "rate", nil, fmt.Sprintf("%s: CUR=R, one CUR buys R of --currency (default: the rates of %s)", when, ranking.DefaultRateDate))
}

// cheapestOnly names the flags that mean something only with --cheapest.
var cheapestOnly = []string{"nodes", "control-planes", "min-cores", "min-disk", "profile", "continent", "currency", "rate", "top"}

// gpuArgs refuses positional arguments; after --gpu it says that a GPU
// model goes with an equals sign, because --gpu alone means any GPU.
func gpuArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 && cmd.Flags().Changed("gpu") {
		return badInputf("unexpected argument %q; a GPU model goes as --gpu=%s", args[0], args[0])
	}
	return cobra.NoArgs(cmd, args)
}

// gpuWanted reads --gpu: "" or "false" none asked, "any" or "true" any GPU,
// otherwise a model.
func gpuWanted(v string) (wanted bool, model string) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "false":
		return false, ""
	case "any", "true":
		return true, ""
	}
	return true, strings.TrimSpace(v)
}

// plansShape validates `cto plans --cheapest`'s flags into a shape, the
// rates to compare in and the profile the deploy commands name.
func plansShape(fs *pflag.FlagSet, c *cheapestFlags, f *plansFlags) (ranking.Shape, ranking.Rates, string, error) {
	fail := func(err error) (ranking.Shape, ranking.Rates, string, error) {
		return ranking.Shape{}, ranking.Rates{}, "", err
	}
	if !c.on {
		for _, name := range cheapestOnly {
			if fs.Changed(name) {
				return fail(badInputf("--%s needs --cheapest (it describes the cluster to price)", name))
			}
		}
		return fail(nil)
	}
	switch {
	case f.provider != "":
		return fail(badInputf("--cheapest asks every provider; drop --provider %s", f.provider))
	case f.apiURL != "":
		return fail(badInputf("--api-url names one provider's endpoint; with --cheapest set each provider's variable (%s)", strings.Join(endpointVariables(), ", ")))
	case f.inStock:
		return fail(badInputf("--cheapest ranks only plans in stock; drop --in-stock"))
	case c.minCores < 0:
		return fail(badInputf("--min-cores %d must be 0 or more", c.minCores))
	case c.minDisk < 0:
		return fail(badInputf("--min-disk %d must be 0 or more (GB)", c.minDisk))
	case c.top < 0:
		return fail(badInputf("--top %d must be 0 (all) or more", c.top))
	case f.region != "" && c.continent != "":
		return fail(badInputf("--region and --continent both narrow the sites; give one"))
	}
	// The cluster a deploy with these values would build: the profile's
	// minimum per node (minimal unless --profile says otherwise) and the
	// minimums given, whichever is higher.
	s := spec.Defaults()
	s.Provider, s.Nodes, s.ControlPlanes, s.Region = machineProviders()[0], c.nodes, c.controlPlanes, f.region
	if c.profile != "" {
		s.Profile = c.profile
	}
	shape, err := deployShape(s)
	if err != nil {
		return fail(err)
	}
	shape.MinCores = max(shape.MinCores, c.minCores)
	shape.MinRAMGB = max(shape.MinRAMGB, f.minRAM)
	shape.MinDiskGB = max(shape.MinDiskGB, c.minDisk)
	shape.GPU, shape.GPUModel = gpuWanted(f.gpu)
	if c.continent != "" {
		var ok bool
		if shape.Continent, ok = ranking.ParseContinent(c.continent); !ok {
			return fail(badInputf("--continent %q is not a continent; use one of %s", c.continent, strings.Join(ranking.Continents, ", ")))
		}
	}
	rates, err := ranking.NewRates(c.currency, c.rates)
	if err != nil {
		return fail(BadInput(err))
	}
	return shape, rates, s.Profile, nil
}

// deployShape is the shape of a cluster spec: its node counts (control
// planes completed as a deploy completes them), the profile's minimum per
// node, the GPU and the region. The spec's values are validated as a
// deploy validates them.
func deployShape(s spec.ClusterSpec) (ranking.Shape, error) {
	s.Complete()
	if err := s.Validate(); err != nil {
		return ranking.Shape{}, err
	}
	shape := ranking.Shape{ControlPlanes: s.ControlPlanes, Workers: s.Workers(), GPU: s.GPU, Region: s.Region}
	if m, ok := ranking.ProfileMinimum(s.Profile); ok {
		shape.AtLeast(m)
	}
	return shape, nil
}

func endpointVariables() []string {
	var out []string
	for _, p := range registry {
		out = append(out, p.endpointEnv)
	}
	return out
}

// Skipped is a provider the ranking could not ask, and why.
type Skipped struct {
	Provider string `json:"provider"`
	Reason   string `json:"reason"`
}

// gatherOffers asks every machine provider for its plans, regions and
// charges, side by side, each answer from the cache when it is fresh. A
// provider without credentials is asked anyway when its price list is
// public and public is set (it is then named in anonymous); otherwise it is
// skipped with the reason, as is one whose API fails.
func gatherOffers(ctx context.Context, g *globals, refresh, public bool) (offers []ranking.Offer, skipped []Skipped, anonymous []string) {
	got := make([]*ranking.Offer, len(registry))
	skips := make([]*Skipped, len(registry))
	anon := make([]bool, len(registry))
	store := &cache.Store{Dir: filepath.Join(g.stateDir, "cache")}
	var wg sync.WaitGroup
	for i, entry := range registry {
		name := entry.name
		s := spec.Defaults()
		s.Provider = name
		p, err := newProvider(ctx, s)
		if catalog := entry.publicCatalog; err != nil && IsBadInput(err) && public && catalog != nil {
			p, err = catalog(listingEndpoint(name, ""))
			anon[i] = err == nil
		}
		if err != nil {
			skips[i] = &Skipped{Provider: name, Reason: oneLine(err.Error())}
			continue
		}
		wg.Go(func() {
			o, err := offerOf(ctx, store, p, listingEndpoint(name, ""), refresh)
			if err != nil {
				skips[i] = &Skipped{Provider: name, Reason: oneLine(err.Error())}
				return
			}
			got[i] = &o
		})
	}
	wg.Wait()
	for i, entry := range registry {
		if got[i] != nil {
			offers = append(offers, *got[i])
			if anon[i] {
				anonymous = append(anonymous, entry.name)
			}
		}
		if skips[i] != nil {
			skipped = append(skipped, *skips[i])
		}
	}
	return offers, skipped, anonymous
}

// offerOf is one provider's answer. Plans share their cache entry with
// `cto plans --provider P`.
func offerOf(ctx context.Context, store *cache.Store, p provider.Provider, endpoint string, refresh bool) (ranking.Offer, error) {
	o := ranking.Offer{Provider: p.Name()}
	key := func(kind string, query any) cache.Key {
		return cache.Key{Kind: kind, Provider: p.Name(), Endpoint: endpoint, Query: query}
	}
	var err error
	if o.Plans, err = cached(store, key(plansCacheKind, provider.PlanFilter{}), refresh, func() ([]provider.Plan, error) {
		return p.ListPlans(ctx, provider.PlanFilter{})
	}); err != nil {
		return o, err
	}
	if o.Regions, err = cached(store, key("regions.v1", nil), refresh, func() ([]provider.Region, error) {
		return p.ListRegions(ctx)
	}); err != nil {
		return o, err
	}
	if c, ok := p.(provider.Charger); ok {
		if o.Charges, err = cached(store, key("charges.v1", nil), refresh, func() ([]provider.Charge, error) {
			return c.Charges(ctx)
		}); err != nil {
			return o, err
		}
	}
	return o, nil
}

// cached answers from a fresh cache entry of key, or fetches and stores.
// A cache that cannot be written only costs the next call a round trip.
func cached[T any](store *cache.Store, key cache.Key, refresh bool, fetch func() (T, error)) (T, error) {
	var v T
	if !refresh && store.Get(key, &v) {
		return v, nil
	}
	v, err := fetch()
	if err != nil {
		return v, err
	}
	_ = store.Put(key, v)
	return v, nil
}

// Cheapest is `cto plans --cheapest -o json`.
type Cheapest struct {
	Shape    ranking.Shape     `json:"shape"`
	Currency string            `json:"currency"`
	Rates    []ranking.Rate    `json:"rates"`
	Rows     []CheapestRow     `json:"rows"`
	LeftOut  []ranking.LeftOut `json:"left_out"`
	TooSmall int               `json:"too_small"`
	Skipped  []Skipped         `json:"skipped"`
	// Anonymous are providers asked without credentials (their price
	// list is public); deploying there needs them.
	Anonymous []string `json:"without_credentials"`
}

// CheapestRow is a ranked row with the command that deploys it.
type CheapestRow struct {
	ranking.Row
	Deploy string `json:"deploy"`
}

// rankCheapest asks the providers and ranks their offers for shape; public
// also asks the public price lists of providers without credentials.
func rankCheapest(ctx context.Context, g *globals, shape ranking.Shape, rates ranking.Rates, profile string, refresh, public bool) (Cheapest, error) {
	offers, skipped, anonymous := gatherOffers(ctx, g, refresh, public)
	if len(offers) == 0 {
		var why []string
		for _, s := range skipped {
			why = append(why, s.Provider+": "+s.Reason)
		}
		return Cheapest{}, badInputf("no provider could be asked (%s); set the credentials of at least one", strings.Join(why, "; "))
	}
	res := ranking.Rank(offers, shape, rates)
	out := Cheapest{Shape: shape, Currency: rates.To, Rates: rates.Used(res.Rows), LeftOut: res.LeftOut, TooSmall: res.TooSmall,
		Skipped: skipped, Anonymous: anonymous, Rows: make([]CheapestRow, len(res.Rows))}
	if out.Anonymous == nil {
		out.Anonymous = []string{}
	}
	if out.Skipped == nil {
		out.Skipped = []Skipped{}
	}
	if out.Rates == nil {
		out.Rates = []ranking.Rate{}
	}
	for i, r := range res.Rows {
		out.Rows[i] = CheapestRow{Row: r, Deploy: deployCommand(r, shape, profile)}
	}
	return out, nil
}

// deployCommand is the exact `cto deploy` of a row.
func deployCommand(r ranking.Row, shape ranking.Shape, profile string) string {
	args := []string{"cto deploy", "--provider", r.Provider, "--plan", r.Plan, "--nodes", fmt.Sprint(shape.Nodes()),
		"--control-planes", fmt.Sprint(shape.ControlPlanes), "--region", r.Region}
	if profile != "" {
		args = append(args, "--profile", profile)
	}
	if shape.GPU || shape.GPUModel != "" {
		args = append(args, "--gpu")
	}
	if p, _ := rented(r.Provider); p.ordersOnRequest {
		args = append(args, "--order")
	}
	return strings.Join(args, " ")
}

func runCheapest(cmd *cobra.Command, g *globals, shape ranking.Shape, rates ranking.Rates, profile string, top int, refresh bool) error {
	res, err := rankCheapest(cmd.Context(), g, shape, rates, profile, refresh, true)
	if err != nil {
		return err
	}
	if g.json() {
		return json.NewEncoder(g.streams.Out).Encode(res)
	}
	printCheapest(g.streams.Out, res, top)
	return nil
}

// describeShape says in words what was priced.
func describeShape(s ranking.Shape) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s, %s)", plural(s.Nodes(), "server"), plural(s.ControlPlanes, "control plane"), plural(s.Workers, "worker"))
	var min []string
	if s.MinCores > 0 {
		min = append(min, fmt.Sprintf("%d cores", s.MinCores))
	}
	if s.MinRAMGB > 0 {
		min = append(min, fmt.Sprintf("%d GB RAM", s.MinRAMGB))
	}
	if s.MinDiskGB > 0 {
		min = append(min, fmt.Sprintf("%d GB disk", s.MinDiskGB))
	}
	if len(min) > 0 {
		b.WriteString(" of at least " + strings.Join(min, ", "))
	}
	switch {
	case s.GPUModel != "":
		b.WriteString(" with a " + s.GPUModel + " GPU")
	case s.GPU:
		b.WriteString(" with a GPU")
	}
	switch {
	case s.Region != "":
		b.WriteString(" at " + s.Region)
	case s.Continent != "":
		b.WriteString(" in " + s.Continent)
	}
	return b.String()
}

func describeRates(res Cheapest) string {
	if len(res.Rates) == 0 {
		return "Every price is in " + res.Currency + "."
	}
	var parts []string
	for _, r := range res.Rates {
		source := r.Source
		if source != "--rate" {
			source += "; --rate " + r.From + "=R sets another"
		}
		parts = append(parts, fmt.Sprintf("1 %s = %.4g %s (%s)", r.From, r.Rate, r.To, source))
	}
	return "Compared in " + res.Currency + ": " + strings.Join(parts, ", ") + "."
}

func printCheapest(out io.Writer, res Cheapest, top int) {
	fmt.Fprintf(out, "Cheapest places for %s.\n%s\n\n", describeShape(res.Shape), describeRates(res))
	rows := res.Rows
	if top > 0 && len(rows) > top {
		rows = rows[:top]
	}
	if len(rows) == 0 {
		fmt.Fprintln(out, "No plan in stock that boots Talos fits; lower the minimums or widen --region/--continent.")
	} else {
		tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "#\tPROVIDER\tPLAN\tREGION\tCPU\tRAM\tSERVER/MONTH\tBESIDES SERVERS\tSETUP\tCLUSTER/MONTH\tFIRST MONTH (%s)\n", res.Currency)
		for _, r := range rows {
			extras := "-"
			if len(r.Extras) > 0 {
				var parts []string
				for _, e := range r.Extras {
					parts = append(parts, fmt.Sprintf("%s %s", e.Kind, money(e.Monthly, r.Cost.Currency, 2)))
				}
				extras = strings.Join(parts, ", ")
			}
			setup := "-"
			if r.Cost.Setup > 0 {
				setup = money(r.Cost.Setup, r.Cost.Currency, 2)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d cores\t%d GB\t%d x %s\t%s\t%s\t%s\t%s\n", r.Rank, r.Provider, r.Plan, r.Region, r.Cores, r.MemoryGB,
				r.Servers, money(r.ServerMonthly, r.Cost.Currency, 2), extras, setup, money(r.Cost.Monthly, r.Cost.Currency, 2),
				money(r.Converted.FirstMonth, r.Converted.Currency, 2))
		}
		tw.Flush()
		if len(res.Rows) > len(rows) {
			fmt.Fprintf(out, "(%d more; --top 0 shows all)\n", len(res.Rows)-len(rows))
		}
		fmt.Fprintln(out, "\nDeploy one:")
		for _, r := range rows[:min(shownCommands, len(rows))] {
			fmt.Fprintf(out, "  %s\n", r.Deploy)
		}
	}
	if len(res.LeftOut) > 0 {
		fmt.Fprintln(out, "\nLeft out (they fit, but):")
		for _, l := range res.LeftOut {
			where := ""
			if len(l.Sites) > 0 {
				where = " at " + strings.Join(l.Sites, ", ")
			}
			fmt.Fprintf(out, "  %s %s: %s%s\n", l.Provider, l.Plan, l.Reason, where)
		}
	}
	if res.TooSmall > 0 {
		fmt.Fprintf(out, "\nNot shown: %s smaller than the shape (or without the GPU asked for).\n", plural(res.TooSmall, "plan"))
	}
	for _, name := range res.Anonymous {
		fmt.Fprintf(out, "\n%s was asked without credentials (its price list is public); deploying there needs them.\n", name)
	}
	if len(res.Skipped) > 0 {
		fmt.Fprintln(out, "\nSkipped providers:")
		for _, s := range res.Skipped {
			fmt.Fprintf(out, "  %s: %s\n", s.Provider, s.Reason)
		}
	}
}

// withGPUModel keeps the plans whose GPU is model ("" keeps all).
func withGPUModel(plans []provider.Plan, model string) []provider.Plan {
	if model == "" {
		return plans
	}
	return slices.DeleteFunc(plans, func(p provider.Plan) bool {
		return !ranking.GPUMatches(p.GPUType, model)
	})
}
