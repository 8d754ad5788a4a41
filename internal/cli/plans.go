package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/cto-platform/cto/internal/cache"
	"github.com/cto-platform/cto/internal/deploy"
	"github.com/cto-platform/cto/internal/provider"
	"github.com/cto-platform/cto/internal/spec"
)

type plansFlags struct {
	provider string
	apiURL   string
	region   string
	gpu      string
	inStock  bool
	minRAM   int
	refresh  bool
	cheapest cheapestFlags
}

func newPlansCmd(g *globals) *cobra.Command {
	f := &plansFlags{}
	cmd := &cobra.Command{
		Use:   "plans",
		Short: "List a provider's server plans with specs, stock and prices",
		Long: `List server plans: CPU, memory, disks, GPUs, whether Talos can boot on them,
the sites where they are in stock, and the price per hour and month in the
provider's currency. TALOS says "yes (iPXE)" for a plan a deploy saw boot
Talos by iPXE when ordered, and "yes (reinstall)" for one that refused it
then, whose servers are ordered with a stock system and reinstalled with
iPXE (a second deploy). -o json prints an array of objects with slug, cores,
memory_gb, gpu_count, gpu_type, talos_capable, boot_path (direct, reinstall
or absent), currency and regions (site, in_stock, hourly, monthly, setup).

--cheapest ranks every provider whose credentials are set (and Vultr, whose
price list is public, without them), every plan and every region by what
the whole cluster would cost: --nodes servers of the plan (at least the
--profile's per-node minimum and --min-cores, --min-ram, --min-disk), plus
what the deploy creates besides them (at Hetzner Cloud each server's IPv4
address and the lb11 load balancer of 3 or more control planes) and one-off
setup fees, all at the prices the providers' APIs state now. Rows are
ordered by the first month (monthly cost plus setup fees) in --currency;
each price is also shown in its own currency. Only plans in stock that boot
Talos are ranked; fitting plans left out (out of stock, Talos cannot boot
them) and providers skipped (no credentials, an API error) are listed with
the reason. The top rows print the cto deploy command that builds them; cto
deploy --provider cheapest deploys the top row. -o json prints shape,
currency, rates, rows (each with its deploy command), left_out, too_small,
skipped and without_credentials.`,
		Example: `  cto plans --provider latitude --region DAL --in-stock
  cto plans --provider latitude --gpu -o json
  cto plans --cheapest --nodes 3 --profile standard --continent europe --currency EUR
  cto plans --cheapest --nodes 2 --gpu=H100 -o json`,
		Args: gpuArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			shape, rates, profile, err := plansShape(cmd.Flags(), &f.cheapest, f)
			if err != nil {
				return err
			}
			if f.cheapest.on {
				return runCheapest(cmd, g, shape, rates, profile, f.cheapest.top, f.refresh)
			}
			if f.provider == "" {
				return badInputf("--provider is required; use one of %s", strings.Join(machineProviders(), ", "))
			}
			if f.minRAM < 0 {
				return badInputf("--min-ram %d must be 0 or more (GB)", f.minRAM)
			}
			p, err := providerForListing(cmd, f.provider, f.apiURL)
			if err != nil {
				return err
			}
			if err := deploy.CheckSites(cmd.Context(), p, f.provider, "--region", []string{f.region}); err != nil {
				return err
			}
			gpu, model := gpuWanted(f.gpu)
			filter := provider.PlanFilter{Region: strings.ToUpper(f.region), GPU: gpu, InStock: f.inStock, MinRAMGB: f.minRAM}
			plans, err := cachedPlans(cmd.Context(), g, p, f, filter)
			if err != nil {
				return err
			}
			plans = withGPUModel(plans, model)
			withBootPaths(g, f.provider, f.apiURL, plans)
			sort.Slice(plans, func(a, b int) bool { return plans[a].Slug < plans[b].Slug })
			if g.json() {
				if plans == nil {
					plans = []provider.Plan{}
				}
				return json.NewEncoder(g.streams.Out).Encode(plans)
			}
			printPlans(g, plans, strings.ToUpper(f.region))
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.provider, "provider", "", "provider: "+strings.Join(machineProviders(), "|"))
	fs.StringVar(&f.region, "region", "", "only plans offered at this site")
	fs.StringVar(&f.gpu, "gpu", "", "only plans with GPUs; --gpu=MODEL (e.g. --gpu=H100) only that model")
	fs.Lookup("gpu").NoOptDefVal = "any"
	fs.BoolVar(&f.inStock, "in-stock", false, "only plans in stock (at --region when given)")
	fs.IntVar(&f.minRAM, "min-ram", 0, "only plans with at least this much memory (GB)")
	fs.StringVar(&f.apiURL, "api-url", "", "provider API endpoint (for testing or a proxy)")
	fs.BoolVar(&f.refresh, "refresh", false, fmt.Sprintf("ask the provider now instead of answering from the last %s", cache.DefaultTTL))
	addCheapestFlags(fs, &f.cheapest)
	return cmd
}

// cachedPlans answers from the state folder's cache when the same provider,
// endpoint and filter were asked within cache.DefaultTTL, and asks the
// provider (storing the answer) otherwise or with --refresh. Stock changes,
// so the cache stays short; a broken cache only costs a round trip.
func cachedPlans(ctx context.Context, g *globals, p provider.Provider, f *plansFlags, filter provider.PlanFilter) ([]provider.Plan, error) {
	store := &cache.Store{Dir: filepath.Join(g.stateDir, "cache")}
	key := cache.Key{Kind: plansCacheKind, Provider: f.provider, Endpoint: listingEndpoint(f.provider, f.apiURL), Query: filter}
	var plans []provider.Plan
	if !f.refresh && store.Get(key, &plans) {
		return plans, nil
	}
	plans, err := p.ListPlans(ctx, filter)
	if err != nil {
		return nil, err
	}
	if err := store.Put(key, plans); err != nil && g.verbose > 0 {
		fmt.Fprintf(g.streams.ErrOut, "plans not cached: %v\n", err)
	}
	return plans, nil
}

// listingEndpoint is the API a listing goes to: --api-url, else the
// provider's variable, else "" (its public API).
func listingEndpoint(providerName, apiURL string) string {
	if apiURL != "" {
		return apiURL
	}
	if p, ok := rented(providerName); ok && p.endpointEnv != "" {
		return envOr(p.endpointEnv)
	}
	return ""
}

func providerForListing(cmd *cobra.Command, name, apiURL string) (provider.Provider, error) {
	s := spec.Defaults()
	s.Provider = name
	s.APIURL = apiURL
	if !contains(machineProviders(), name) {
		return nil, badInputf("--provider %q has no plans; use one of %s", name, strings.Join(machineProviders(), ", "))
	}
	return newProvider(cmd.Context(), s)
}

func printPlans(g *globals, plans []provider.Plan, region string) {
	tw := tabwriter.NewWriter(g.streams.Out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PLAN\tCPU\tRAM\tDISK\tGPU\tTALOS\tIN STOCK\t/HOUR\t/MONTH")
	for _, p := range plans {
		var sites []string
		var hour, month float64
		for _, r := range p.Regions {
			if r.InStock {
				sites = append(sites, r.Site)
			}
			if (region == "" || strings.EqualFold(r.Site, region)) && (hour == 0 || r.Hourly < hour) {
				hour, month = r.Hourly, r.Monthly
			}
		}
		gpu := "-"
		if p.GPUCount > 0 {
			gpu = fmt.Sprintf("%dx %s", p.GPUCount, p.GPUType)
		}
		talos := "no"
		switch {
		case p.TalosCapable && p.BootPath == provider.BootPathDirect:
			talos = "yes (iPXE)"
		case p.TalosCapable && p.BootPath == provider.BootPathReinstall:
			talos = "yes (reinstall)"
		case p.TalosCapable:
			talos = "yes"
		}
		stock := strings.Join(sites, ",")
		if stock == "" {
			stock = "none"
		}
		fmt.Fprintf(tw, "%s\t%d cores\t%d GB\t%s\t%s\t%s\t%s\t%s\t%s\n", p.Slug, p.Cores, p.MemoryGB, drives(p.Drives), gpu, talos, stock,
			money(hour, p.Currency, 2), money(month, p.Currency, 0))
	}
	tw.Flush()
}

func drives(ds []provider.Drive) string {
	var parts []string
	for _, d := range ds {
		size := fmt.Sprintf("%.0f GB", d.SizeGB)
		if d.SizeGB >= 1000 {
			size = fmt.Sprintf("%.1f TB", d.SizeGB/1000)
		}
		parts = append(parts, fmt.Sprintf("%dx %s %s", d.Count, size, d.Type))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " + ")
}

// money formats an amount in a currency: $ for USD, the code otherwise.
func money(v float64, currency string, decimals int) string {
	if currency == "" || currency == "USD" {
		return fmt.Sprintf("$%.*f", decimals, v)
	}
	return fmt.Sprintf("%.*f %s", decimals, v, currency)
}

func newRegionsCmd(g *globals) *cobra.Command {
	var name, apiURL string
	cmd := &cobra.Command{
		Use:     "regions",
		Short:   "List a provider's regions (sites)",
		Long:    "List the sites a provider can create servers in. -o json prints an array of objects with slug, name and country.",
		Example: "  cto regions --provider latitude",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if name == "" {
				return badInputf("--provider is required; use one of %s", strings.Join(machineProviders(), ", "))
			}
			p, err := providerForListing(cmd, name, apiURL)
			if err != nil {
				return err
			}
			regions, err := p.ListRegions(cmd.Context())
			if err != nil {
				return err
			}
			sort.Slice(regions, func(a, b int) bool { return regions[a].Slug < regions[b].Slug })
			if g.json() {
				if regions == nil {
					regions = []provider.Region{}
				}
				return json.NewEncoder(g.streams.Out).Encode(regions)
			}
			tw := tabwriter.NewWriter(g.streams.Out, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "REGION\tNAME\tCOUNTRY")
			for _, r := range regions {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Slug, r.Name, r.Country)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&name, "provider", "", "provider: "+strings.Join(machineProviders(), "|"))
	cmd.Flags().StringVar(&apiURL, "api-url", "", "provider API endpoint (for testing or a proxy)")
	return cmd
}
