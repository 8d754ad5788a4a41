package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/cto-platform/cto/internal/clock"
	"github.com/cto-platform/cto/internal/provider"
	"github.com/cto-platform/cto/internal/provider/latitude"
	"github.com/cto-platform/cto/internal/spec"
)

// SpeedEnv makes cto's clock run faster than the wall clock. It exists for
// the simulated datacenter (provider fakes on a simulated clock), where
// minutes of provider time pass in seconds.
const SpeedEnv = "CTO_SIMULATED_SPEED"

// runClock is the clock of a command: the wall clock, or a faster one
// under SpeedEnv.
func runClock() clock.Clock {
	if v, err := strconv.ParseFloat(os.Getenv(SpeedEnv), 64); err == nil && v > 0 && v != 1 {
		return clock.NewScaled(v)
	}
	return clock.Real{}
}

// newLatitude builds the Latitude.sh provider with the token from the
// environment; a missing token is bad input naming the variable.
func newLatitude(s spec.ClusterSpec) (provider.Provider, error) {
	cfg, err := latitude.ConfigFromEnv(s.Project, s.APIURL)
	if errors.Is(err, latitude.ErrNoToken) {
		return nil, BadInput(err)
	}
	if err != nil {
		return nil, err
	}
	cfg.Clock = runClock()
	return latitude.New(cfg)
}

// pickPlan asks for a plan on a terminal when the user described a cluster
// without one; without a terminal the missing flag is bad input.
func pickPlan(ctx context.Context, g *globals, s spec.ClusterSpec, gave, interactive bool) (spec.ClusterSpec, error) {
	if !gave || !s.NeedsMachines() || s.Plan != "" || len(s.Servers) > 0 {
		// Adopted servers (--servers) are what they are: no plan to pick.
		return s, nil
	}
	if !interactive {
		return s, badInputf("--plan is required without a terminal; list the plans with `cto plans --provider %s --region %s --in-stock`", s.Provider, orAny(s.Region))
	}
	if s.Region == "" {
		return s, badInputf("--region is required to choose a plan; list them with `cto regions --provider %s`", s.Provider)
	}
	p, err := newProvider(ctx, s)
	if err != nil {
		return s, err
	}
	plans, err := p.ListPlans(ctx, provider.PlanFilter{Region: s.Region, InStock: true, TalosReady: true, GPU: s.GPU})
	if err != nil {
		return s, err
	}
	if len(plans) == 0 {
		return s, fmt.Errorf("no Talos-capable plan is in stock in %s at %s; try another --region", s.Region, s.Provider)
	}
	price := func(pl provider.Plan) provider.PlanRegion { at, _ := pl.At(s.Region); return at }
	sort.Slice(plans, func(a, b int) bool { return price(plans[a]).Monthly < price(plans[b]).Monthly })
	out := g.streams.ErrOut
	fmt.Fprintf(out, "Plans in stock in %s that boot Talos:\n", s.Region)
	for i, pl := range plans {
		at := price(pl)
		gpu := ""
		if pl.GPUCount > 0 {
			gpu = fmt.Sprintf(", %dx %s", pl.GPUCount, pl.GPUType)
		}
		fmt.Fprintf(out, "  %2d) %-20s %3d cores, %4d GB%s  %s/h  %s/month\n", i+1, pl.Slug, pl.Cores, pl.MemoryGB, gpu,
			money(at.Hourly, pl.Currency, 2), money(at.Monthly, pl.Currency, 0))
	}
	in := bufio.NewReader(g.streams.In)
	for {
		fmt.Fprintf(out, "Plan [1-%d]: ", len(plans))
		line, err := in.ReadString('\n')
		n, perr := strconv.Atoi(strings.TrimSpace(line))
		if perr == nil && n >= 1 && n <= len(plans) {
			s.Plan = plans[n-1].Slug
			return s, nil
		}
		if err != nil {
			return s, badInputf("no plan chosen; pass --plan")
		}
	}
}

func orAny(region string) string {
	if region == "" {
		return "<region>"
	}
	return region
}
