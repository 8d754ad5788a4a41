package ranking_test

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/cto-platform/cto/internal/provider"
	"github.com/cto-platform/cto/internal/ranking"
)

func plan(slug, currency string, cores, ram int, talos bool, regions ...provider.PlanRegion) provider.Plan {
	return provider.Plan{Slug: slug, Currency: currency, Cores: cores, MemoryGB: ram, TalosCapable: talos,
		Drives: []provider.Drive{{Count: 2, SizeGB: 500}}, Regions: regions}
}

func at(site string, stock bool, monthly, setup float64) provider.PlanRegion {
	return provider.PlanRegion{Site: site, InStock: stock, Monthly: monthly, Setup: setup}
}

// The totals below are worked out by hand: 3 servers, 1 EUR = 1.10 USD.
func TestRankByTheWholeClustersFirstMonth(t *testing.T) {
	offers := []ranking.Offer{
		{Provider: "a", Plans: []provider.Plan{
			plan("small", "USD", 4, 8, true, at("X", true, 100, 0), at("Y", false, 90, 0)),
			plan("arm", "USD", 8, 16, false, at("X", true, 10, 0)),
			plan("tiny", "USD", 2, 4, true, at("X", true, 1, 0)),
		}},
		{Provider: "b", Plans: []provider.Plan{
			plan("cx", "EUR", 8, 16, true, at("fsn1", true, 80, 0), at("ash", true, 85, 0)),
		}, Charges: []provider.Charge{
			{Kind: "load balancer lb11", Site: "fsn1", Monthly: 10, MinControlPlanes: 3},
			{Kind: "ipv4", Monthly: 1, PerServer: true},
		}},
		{Provider: "c", Plans: []provider.Plan{
			plan("ax", "EUR", 8, 64, true, at("FSN1", true, 60, 79)),
		}},
	}
	rates, err := ranking.NewRates("usd", []string{"EUR=1.10"})
	if err != nil {
		t.Fatal(err)
	}
	shape := ranking.Shape{ControlPlanes: 3, MinCores: 4, MinRAMGB: 8}
	res := ranking.Rank(offers, shape, rates)
	type got struct {
		provider, plan, region string
		firstMonth             float64
	}
	var rows []got
	for _, r := range res.Rows {
		rows = append(rows, got{r.Provider, r.Plan, r.Region, round(r.Converted.FirstMonth)})
	}
	want := []got{
		{"b", "cx", "fsn1", 278.3}, // (3 x 80 + 10 lb + 3 x 1 ip) x 1.10
		{"a", "small", "X", 300},   // 3 x 100
		{"c", "ax", "FSN1", 458.7}, // (3 x 60 + 3 x 79 setup) x 1.10
	}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("rows = %+v\nwant %+v", rows, want)
	}
	wantLeft := []ranking.LeftOut{
		{Provider: "a", Plan: "arm", Sites: []string{"X"}, Reason: ranking.ReasonNoTalos},
		{Provider: "a", Plan: "small", Sites: []string{"Y"}, Reason: ranking.ReasonOutOfStock},
		{Provider: "b", Plan: "cx", Sites: []string{"ash"}, Reason: "no price for the load balancer lb11 there"},
	}
	if !reflect.DeepEqual(res.LeftOut, wantLeft) || res.TooSmall != 1 {
		t.Errorf("left out = %+v (too small %d)\nwant %+v (too small 1)", res.LeftOut, res.TooSmall, wantLeft)
	}
	// One control plane: no load balancer, so ash is priced too.
	shape.ControlPlanes, shape.Workers = 1, 2
	res = ranking.Rank(offers, shape, rates)
	if len(res.Rows) != 4 || res.Rows[0].Provider != "b" || round(res.Rows[0].Converted.FirstMonth) != 267.3 {
		t.Errorf("with one control plane: %+v, want b cx fsn1 first at (3 x 81) x 1.10", res.Rows)
	}
}

func round(v float64) float64 { return float64(int64(v*100+0.5)) / 100 }

func TestShapeFilters(t *testing.T) {
	gpu := plan("g", "USD", 32, 256, true, at("DAL", true, 1000, 0), at("FRA", true, 900, 0))
	gpu.GPUCount, gpu.GPUType = 8, "NVIDIA_H100"
	offers := []ranking.Offer{{Provider: "p", Plans: []provider.Plan{gpu, plan("cpu", "USD", 32, 256, true, at("DAL", true, 10, 0))},
		Regions: []provider.Region{{Slug: "DAL", Country: "United States"}, {Slug: "FRA", Country: "DE"}}}}
	rates, _ := ranking.NewRates("USD", nil)
	for _, tc := range []struct {
		name  string
		shape ranking.Shape
		want  []string
	}{
		{"any GPU", ranking.Shape{ControlPlanes: 1, GPU: true}, []string{"g@FRA", "g@DAL"}},
		{"GPU model", ranking.Shape{ControlPlanes: 1, GPUModel: "h100"}, []string{"g@FRA", "g@DAL"}},
		{"other GPU model", ranking.Shape{ControlPlanes: 1, GPUModel: "A100"}, nil},
		{"continent", ranking.Shape{ControlPlanes: 1, Continent: "north-america"}, []string{"cpu@DAL", "g@DAL"}},
		{"region", ranking.Shape{ControlPlanes: 1, Region: "fra"}, []string{"g@FRA"}},
		{"disk", ranking.Shape{ControlPlanes: 1, MinDiskGB: 1001}, nil},
	} {
		var got []string
		for _, r := range ranking.Rank(offers, tc.shape, rates).Rows {
			got = append(got, r.Plan+"@"+r.Region)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestRates(t *testing.T) {
	r, _ := ranking.NewRates("EUR", nil)
	if q, ok := r.Quote("USD"); !ok || q.Source != "default rate of "+ranking.DefaultRateDate || q.Rate <= 0 || q.Rate >= 1 {
		t.Errorf("default USD to EUR = %+v", q)
	}
	if _, ok := r.Quote("BRL"); ok {
		t.Errorf("a currency without a rate converted")
	}
	for _, bad := range []string{"EUR", "EUR=x", "EUR=-1", "E=1"} {
		if _, err := ranking.NewRates("USD", []string{bad}); err == nil {
			t.Errorf("--rate %q accepted", bad)
		}
	}
	if _, err := ranking.NewRates("dollars", nil); err == nil {
		t.Errorf("--currency dollars accepted")
	}
}

// BenchmarkRank ranks 4 providers of 100 plans at 30 sites each (12,000
// places), far more than any provider lists today.
func BenchmarkRank(b *testing.B) {
	var offers []ranking.Offer
	for p := range 4 {
		o := ranking.Offer{Provider: fmt.Sprintf("p%d", p), Charges: []provider.Charge{{Kind: "lb", Monthly: 5, MinControlPlanes: 3}}}
		for i := range 100 {
			pl := plan(fmt.Sprintf("plan-%d", i), []string{"USD", "EUR"}[p%2], 4+i%32, 8+i%256, i%7 != 0)
			for s := range 30 {
				pl.Regions = append(pl.Regions, at(fmt.Sprintf("S%d", s), s%5 != 0, float64(50+(i*31+s*17)%900), 0))
			}
			o.Plans = append(o.Plans, pl)
		}
		offers = append(offers, o)
	}
	rates, _ := ranking.NewRates("USD", nil)
	shape := ranking.Shape{ControlPlanes: 3, Workers: 2, MinCores: 8, MinRAMGB: 16}
	for b.Loop() {
		if len(ranking.Rank(offers, shape, rates).Rows) == 0 {
			b.Fatal("nothing ranked")
		}
	}
}
