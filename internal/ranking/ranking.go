// Package ranking orders the places a cluster could run, each a provider,
// a plan and a region, by what the whole cluster costs: every server plus
// what the deploy creates besides them (a load balancer, setup fees), at
// the prices the providers' APIs state. It holds no price of its own and
// does not know how the answers were fetched.
package ranking

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/cto-platform/cto/internal/provider"
)

// Shape is the cluster to price: how many servers of which minimum size,
// and where.
type Shape struct {
	ControlPlanes int    `json:"control_planes"`
	Workers       int    `json:"workers"`
	MinCores      int    `json:"min_cores,omitempty"`
	MinRAMGB      int    `json:"min_ram_gb,omitempty"`
	MinDiskGB     int    `json:"min_disk_gb,omitempty"`
	GPU           bool   `json:"gpu,omitempty"`
	GPUModel      string `json:"gpu_model,omitempty"`
	// Region is one site (case-insensitive); Continent one continent
	// (see Continents). Both empty: anywhere.
	Region    string `json:"region,omitempty"`
	Continent string `json:"continent,omitempty"`
}

// Nodes is the number of servers.
func (s Shape) Nodes() int { return s.ControlPlanes + s.Workers }

// Minimum is a profile's least size per node.
type Minimum struct{ Cores, RAMGB, DiskGB int }

// profileMinimum is each profile's per-node minimum, from the platform's
// packaging architecture (what its components need to run).
var profileMinimum = map[string]Minimum{
	"minimal":    {Cores: 4, RAMGB: 8, DiskGB: 20},
	"standard":   {Cores: 8, RAMGB: 16, DiskGB: 50},
	"production": {Cores: 16, RAMGB: 32, DiskGB: 100},
}

// ProfileMinimum returns a profile's per-node minimum.
func ProfileMinimum(profile string) (Minimum, bool) {
	m, ok := profileMinimum[profile]
	return m, ok
}

// AtLeast raises the shape's minimums to m where they are lower.
func (s *Shape) AtLeast(m Minimum) {
	s.MinCores = max(s.MinCores, m.Cores)
	s.MinRAMGB = max(s.MinRAMGB, m.RAMGB)
	s.MinDiskGB = max(s.MinDiskGB, m.DiskGB)
}

// Offer is what one provider answered: its plans with stock and prices,
// its regions (for --continent) and the charges besides servers.
type Offer struct {
	Provider string
	Plans    []provider.Plan
	Regions  []provider.Region
	Charges  []provider.Charge
}

// Extra is one charge a row pays besides its servers.
type Extra struct {
	Kind    string  `json:"kind"`
	Count   int     `json:"count"`
	Monthly float64 `json:"monthly"` // all Count of them
}

// Money is a row's cost in one currency.
type Money struct {
	Currency string  `json:"currency"`
	Monthly  float64 `json:"monthly"`
	Setup    float64 `json:"setup"`
	// FirstMonth is Monthly plus Setup: what ranks the rows.
	FirstMonth float64 `json:"first_month"`
}

// Row is one place the cluster could run, with its whole cost in the
// provider's currency (Cost) and in the user's (Converted).
type Row struct {
	Rank     int     `json:"rank"`
	Provider string  `json:"provider"`
	Plan     string  `json:"plan"`
	Region   string  `json:"region"`
	Cores    int     `json:"cores"`
	MemoryGB int     `json:"memory_gb"`
	DiskGB   float64 `json:"disk_gb"`
	GPU      string  `json:"gpu,omitempty"`
	Servers  int     `json:"servers"`
	// ServerMonthly and ServerSetup are one server's prices.
	ServerMonthly float64 `json:"server_monthly"`
	ServerSetup   float64 `json:"server_setup,omitempty"`
	Extras        []Extra `json:"extras,omitempty"`
	Cost          Money   `json:"cost"`
	Converted     Money   `json:"converted"`
}

// LeftOut is a plan that fits the shape but is not ranked at some sites,
// and why.
type LeftOut struct {
	Provider string   `json:"provider"`
	Plan     string   `json:"plan"`
	Sites    []string `json:"sites,omitempty"`
	Reason   string   `json:"reason"`
}

// Reasons a fitting plan is left out.
const (
	ReasonOutOfStock = "out of stock"
	ReasonNoTalos    = "Talos cannot boot it"
)

// Result is the ranking and what was left out of it.
type Result struct {
	Rows    []Row     `json:"rows"`
	LeftOut []LeftOut `json:"left_out"`
	// TooSmall counts the plans below the shape's minimums (or without
	// the GPU asked for), which are not listed.
	TooSmall int `json:"too_small"`
}

// Rank prices shape at every (provider, plan, region) of offers that is in
// stock and boots Talos, and orders them by the first month's cost in the
// rates' currency, cheapest first (ties: monthly cost, then provider, plan
// and region by name).
func Rank(offers []Offer, shape Shape, rates Rates) Result {
	res := Result{Rows: []Row{}, LeftOut: []LeftOut{}}
	for _, o := range offers {
		where := siteFilter(o, shape)
		for _, pl := range o.Plans {
			if !fits(pl, shape) {
				res.TooSmall++
				continue
			}
			left := map[string][]string{}
			for _, at := range pl.Regions {
				if !where(at.Site) {
					continue
				}
				switch {
				case !pl.TalosCapable:
					left[ReasonNoTalos] = append(left[ReasonNoTalos], at.Site)
				case !at.InStock:
					left[ReasonOutOfStock] = append(left[ReasonOutOfStock], at.Site)
				default:
					row, reason := price(o, pl, at, shape, rates)
					if reason != "" {
						left[reason] = append(left[reason], at.Site)
						continue
					}
					res.Rows = append(res.Rows, row)
				}
			}
			if len(pl.Regions) == 0 && shape.Region == "" && shape.Continent == "" {
				// Listed nowhere: an API that drops sold-out sites.
				left[ReasonOutOfStock] = nil
				if !pl.TalosCapable {
					left = map[string][]string{ReasonNoTalos: nil}
				}
			}
			for reason, sites := range left {
				slices.Sort(sites)
				res.LeftOut = append(res.LeftOut, LeftOut{Provider: o.Provider, Plan: pl.Slug, Sites: sites, Reason: reason})
			}
		}
	}
	slices.SortFunc(res.Rows, func(a, b Row) int {
		return cmp.Or(cmp.Compare(a.Converted.FirstMonth, b.Converted.FirstMonth), cmp.Compare(a.Converted.Monthly, b.Converted.Monthly),
			cmp.Compare(a.Provider, b.Provider), cmp.Compare(a.Plan, b.Plan), cmp.Compare(a.Region, b.Region))
	})
	for i := range res.Rows {
		res.Rows[i].Rank = i + 1
	}
	slices.SortFunc(res.LeftOut, func(a, b LeftOut) int {
		return cmp.Or(cmp.Compare(a.Provider, b.Provider), cmp.Compare(a.Plan, b.Plan), cmp.Compare(a.Reason, b.Reason))
	})
	return res
}

// fits reports whether a plan is big enough for the shape.
func fits(pl provider.Plan, s Shape) bool {
	switch {
	case pl.Cores < s.MinCores, pl.MemoryGB < s.MinRAMGB, DiskGB(pl) < float64(s.MinDiskGB):
		return false
	case s.GPU && pl.GPUCount == 0:
		return false
	case s.GPUModel != "" && !GPUMatches(pl.GPUType, s.GPUModel):
		return false
	}
	return true
}

// DiskGB is a plan's total storage.
func DiskGB(pl provider.Plan) float64 {
	var total float64
	for _, d := range pl.Drives {
		total += float64(d.Count) * d.SizeGB
	}
	return total
}

// GPUMatches reports whether a plan's GPU type is the model asked for:
// "H100" matches "NVIDIA_H100" and "nvidia h100".
func GPUMatches(gpuType, model string) bool {
	return gpuType != "" && strings.Contains(squash(gpuType), squash(model))
}

// squash lower-cases s and drops everything but letters and digits, so
// "H100", "nvidia_h100" and "NVIDIA H100" compare alike.
func squash(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return -1
	}, s)
}

// siteFilter says which of the offer's sites the shape allows.
func siteFilter(o Offer, s Shape) func(site string) bool {
	switch {
	case s.Region != "":
		return func(site string) bool { return strings.EqualFold(site, s.Region) }
	case s.Continent != "":
		on := map[string]bool{}
		for _, r := range o.Regions {
			if ContinentOf(r.Country) == s.Continent {
				on[strings.ToUpper(r.Slug)] = true
			}
		}
		return func(site string) bool { return on[strings.ToUpper(site)] }
	}
	return func(string) bool { return true }
}

// price is the row of plan pl at one site, or why it cannot be priced.
func price(o Offer, pl provider.Plan, at provider.PlanRegion, s Shape, rates Rates) (Row, string) {
	n := s.Nodes()
	row := Row{
		Provider: o.Provider, Plan: pl.Slug, Region: at.Site, Cores: pl.Cores, MemoryGB: pl.MemoryGB, DiskGB: DiskGB(pl),
		Servers: n, ServerMonthly: at.Monthly, ServerSetup: at.Setup,
		Cost: Money{Currency: pl.Currency, Monthly: at.Monthly * float64(n), Setup: at.Setup * float64(n)},
	}
	if pl.GPUCount > 0 {
		row.GPU = fmt.Sprintf("%dx %s", pl.GPUCount, pl.GPUType)
	}
	// Every kind of charge the deploy creates with this many control
	// planes must have a price here, or the row's cost is unknown.
	kinds := map[string]bool{}
	for _, c := range o.Charges {
		if s.ControlPlanes >= c.MinControlPlanes {
			kinds[c.Kind] = true
		}
	}
	for _, kind := range slices.Sorted(maps.Keys(kinds)) {
		i := slices.IndexFunc(o.Charges, func(c provider.Charge) bool {
			return c.Kind == kind && (c.Site == "" || strings.EqualFold(c.Site, at.Site))
		})
		if i < 0 {
			return Row{}, "no price for the " + kind + " there"
		}
		c := o.Charges[i]
		count := 1
		if c.PerServer {
			count = n
		}
		row.Extras = append(row.Extras, Extra{Kind: kind, Count: count, Monthly: c.Monthly * float64(count)})
		row.Cost.Monthly += c.Monthly * float64(count)
	}
	row.Cost.FirstMonth = row.Cost.Monthly + row.Cost.Setup
	rate, ok := rates.Rate(pl.Currency)
	if !ok {
		return Row{}, fmt.Sprintf("no rate from %s to %s (set --rate %s=R)", pl.Currency, rates.To, pl.Currency)
	}
	row.Converted = Money{Currency: rates.To, Monthly: row.Cost.Monthly * rate, Setup: row.Cost.Setup * rate, FirstMonth: row.Cost.FirstMonth * rate}
	return row, ""
}
