package fake

import (
	"net/http"
	"strings"
)

// The plans, operating systems and regions (sites) a deploy reads.

func (f *Fake) planJSON(p *Plan) map[string]any {
	byCountry := map[string][]string{}
	var countries []string
	for _, s := range Sites {
		if _, ok := p.Stock[s.Slug]; ok {
			if _, seen := byCountry[s.Country]; !seen {
				countries = append(countries, s.Country)
			}
			byCountry[s.Country] = append(byCountry[s.Country], s.Slug)
		}
	}
	regions := []any{}
	for _, c := range countries {
		inStock := []string{}
		for _, s := range byCountry[c] {
			if p.Stock[s] > 0 {
				inStock = append(inStock, s)
			}
		}
		k := countryFactor[c]
		if k == 0 {
			k = 1
		}
		hour, month := round2(p.HourUSD*k), float64(int(p.MonthUSD*k))
		instant := []string{}
		if p.IPXE && len(inStock) > 0 {
			instant = []string{"ubuntu_24_04_x64_lts"}
		}
		// The keys of the recorded region objects (cassettes
		// TestAccPlanBasic, TestAccPlanFilter): no stock_level, which the
		// OpenAPI schema lists and the live API did not send.
		regions = append(regions, map[string]any{
			"name": c, "deploys_instantly": instant,
			"locations": map[string]any{"available": byCountry[c], "in_stock": inStock},
			"pricing": map[string]any{
				"USD": map[string]any{"hour": hour, "month": month, "year": float64(int(month * 10.2))},
				"BRL": map[string]any{"hour": round2(hour * brlPerUSD), "month": float64(int(month * brlPerUSD)), "year": float64(int(month * 10.2 * brlPerUSD))},
			},
		})
	}
	drives := []any{}
	for _, d := range p.Drives {
		drives = append(drives, map[string]any{"count": d.Count, "size": d.Size, "type": d.Type})
	}
	gpu := map[string]any{}
	if p.GPUCount > 0 {
		gpu = map[string]any{"count": p.GPUCount, "type": p.GPUType, "vram_per_gpu": p.GPUVRAM, "interconnect": "PCIe"}
	}
	// The recorded plans with a single drive (c2.small, c3.small) lack raid.
	features := []string{"ssh", "user_data"}
	if drives := sumDrives(p); drives > 1 {
		features = []string{"ssh", "raid", "user_data"}
	}
	return obj(p.ID, "plans", map[string]any{
		"slug": p.Slug, "name": p.Name, "features": features,
		"specs": map[string]any{
			"cpu":    map[string]any{"type": p.CPUType, "clock": p.CPUClock, "cores": p.Cores, "count": p.CPUs},
			"memory": map[string]any{"total": p.MemoryGB},
			"drives": drives,
			"nics":   []any{map[string]any{"count": 2, "type": p.NIC}},
			"gpu":    gpu,
		},
		"regions": regions,
	})
}

func round2(v float64) float64 { return float64(int(v*100+0.5)) / 100 }

func (f *Fake) listPlans(w http.ResponseWriter, r *http.Request) {
	keep := func(p *Plan) bool {
		if s := strings.ToUpper(filter(r, "location")); s != "" {
			if left, offered := p.Stock[s]; !offered || filter(r, "in_stock") == "true" && left == 0 {
				return false
			}
		}
		if g := filter(r, "gpu"); g == "true" && p.GPUCount == 0 || g == "false" && p.GPUCount > 0 {
			return false
		}
		return matches(r, map[string]string{"slug": p.Slug, "name": p.Name})
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	// GET /plans answers every plan at once, as the live API did.
	writeJSON(w, http.StatusOK, map[string]any{"data": rowsOf(f.plans, keep, f.planJSON), "meta": map[string]any{}})
}

func (f *Fake) getPlan(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range f.plans {
		if p.ID == r.PathValue("id") || p.Slug == r.PathValue("id") {
			one(w, http.StatusOK, f.planJSON(p))
			return
		}
	}
	notFound(w)
}

func (f *Fake) listOS(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	rows := []any{}
	for _, o := range operatingSystems {
		on := []string{}
		for _, p := range f.plans {
			if !o.Custom || p.IPXE {
				on = append(on, p.Name)
			}
		}
		rows = append(rows, obj(o.ID, "operating_system", map[string]any{
			"name": o.Name, "distro": o.Distro, "slug": o.Slug, "version": o.Version, "user": o.User,
			"features":         map[string]any{"raid": !o.Custom, "rescue": !o.Custom, "ssh_keys": !o.Custom, "user_data": !o.Custom},
			"provisionable_on": on,
		}))
	}
	f.page(w, r, rows)
}

func siteJSON(s Site) map[string]any {
	return obj("loc_"+strings.ToLower(s.Slug)+"0000000", "regions", map[string]any{
		"name": s.Name, "slug": s.Slug, "facility": s.Facility,
		"country": map[string]any{"name": s.Country, "slug": s.CountrySlug}, "type": "Core"})
}

func (f *Fake) listRegions(w http.ResponseWriter, r *http.Request) {
	f.page(w, r, rowsOf(Sites, nil, siteJSON))
}

func (f *Fake) getRegion(w http.ResponseWriter, r *http.Request) {
	for _, s := range Sites {
		if siteJSON(s)["id"] == r.PathValue("id") || s.Slug == r.PathValue("id") {
			one(w, http.StatusOK, siteJSON(s))
			return
		}
	}
	notFound(w)
}
