package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/pflag"

	"github.com/cto-platform/cto/internal/pipeline"
	"github.com/cto-platform/cto/internal/ranking"
	"github.com/cto-platform/cto/internal/state"
)

// cheapestProvider is the --provider value that lets the ranking choose.
const cheapestProvider = "cheapest"

// cheapestChoice is the row a deploy took, as the journal records it.
type cheapestChoice struct {
	Provider string          `json:"provider"`
	Plan     string          `json:"plan"`
	Region   string          `json:"region"`
	Of       int             `json:"of"` // rows ranked
	Cost     ranking.Money   `json:"cost"`
	In       ranking.Money   `json:"converted"`
	Rates    []ranking.Rate  `json:"rates,omitempty"`
	Skipped  []Skipped       `json:"skipped,omitempty"`
	Extras   []ranking.Extra `json:"extras,omitempty"`
	At       time.Time       `json:"chosen_at"`
}

func (c *cheapestChoice) record(j *state.Journal) error {
	raw, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return j.SetFacts(func(f *state.Facts) { f.CheapestChoice = string(raw) })
}

// chooseCheapest resolves --provider cheapest before the deploy builds its
// spec: it ranks every provider for the cluster's shape, shows the
// ranking, asks (or takes --yes), and sets --provider, --plan and
// --region (and --order for dedicated servers) to the top row. A cluster
// whose journal already records a choice resumes on it. Anything else
// returns nil.
func chooseCheapest(ctx context.Context, g *globals, f *deployFlags, fs *pflag.FlagSet) (*cheapestChoice, error) {
	if f.file != "" && !fs.Changed("provider") {
		// provider: cheapest in cluster.yaml counts like the flag (a file
		// that cannot be read is reported by buildSpec).
		if fromFile, err := f.fileSpec(ctx); err == nil && fromFile.Provider == cheapestProvider {
			if err := fs.Set("provider", cheapestProvider); err != nil {
				return nil, err
			}
		}
	}
	if f.s.Provider != cheapestProvider {
		for _, name := range []string{"currency", "rate"} {
			if fs.Changed(name) {
				return nil, badInputf("--%s needs --provider cheapest", name)
			}
		}
		return nil, nil
	}
	for _, name := range []string{"plan", "worker-plan", "api-url", "servers", "fallback-regions", "project"} {
		if fs.Changed(name) {
			return nil, badInputf("--%s belongs to one provider; with --provider cheapest the ranking picks provider, plan and region (see `cto plans --cheapest`)", name)
		}
	}
	rates, err := ranking.NewRates(f.cheapest.currency, f.cheapest.rates)
	if err != nil {
		return nil, BadInput(err)
	}
	// Validate everything else as a deploy at any provider would.
	f.s.Provider = machineProviders()[0]
	s, err := buildSpec(ctx, f, fs)
	f.s.Provider = cheapestProvider
	if err != nil {
		return nil, err
	}
	if prev := recordedChoice(g.stateDir, s.Name); prev != nil {
		fmt.Fprintf(g.streams.ErrOut, "Resuming %s on the recorded choice: %s %s at %s (ranked cheapest on %s).\n",
			s.Name, prev.Provider, prev.Plan, prev.Region, prev.At.Format(time.DateOnly))
		return prev, takeRow(fs, prev.Provider, prev.Plan, prev.Region)
	}
	shape, err := deployShape(s)
	if err != nil {
		return nil, err
	}
	// Only providers a deploy can use: those with credentials.
	res, err := rankCheapest(ctx, g, shape, rates, s.Profile, false, false)
	if err != nil {
		return nil, err
	}
	printCheapest(g.streams.ErrOut, res, 5)
	if len(res.Rows) == 0 {
		return nil, fmt.Errorf("no provider has a plan in stock that boots Talos and fits %s; nothing was created", describeShape(shape))
	}
	top := res.Rows[0]
	if !f.yes && !f.dryRun {
		if !isTerminal(g.streams.In) || !isTerminal(g.streams.ErrOut) {
			return nil, badInputf("no terminal to confirm the cheapest choice (%s %s at %s) on; pass --yes to deploy it", top.Provider, top.Plan, top.Region)
		}
		ok, err := confirm(g.streams, fmt.Sprintf("Deploy on %s %s at %s for %s a month (%s setup)?", top.Provider, top.Plan, top.Region,
			money(top.Cost.Monthly, top.Cost.Currency, 2), money(top.Cost.Setup, top.Cost.Currency, 2)))
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, pipeline.ErrDeclined
		}
	}
	fmt.Fprintf(g.streams.ErrOut, "Deploying on the cheapest: %s\n", top.Deploy)
	return &cheapestChoice{Provider: top.Provider, Plan: top.Plan, Region: top.Region, Of: len(res.Rows), Cost: top.Cost,
		In: top.Converted, Rates: res.Rates, Skipped: res.Skipped, Extras: top.Extras, At: time.Now().UTC()}, takeRow(fs, top.Provider, top.Plan, top.Region)
}

// takeRow sets the deploy's flags to a ranked row, as if the user had
// typed them.
func takeRow(fs *pflag.FlagSet, providerName, plan, region string) error {
	set := [][2]string{{"provider", providerName}, {"plan", plan}, {"region", region}}
	if p, _ := rented(providerName); p.ordersOnRequest {
		set = append(set, [2]string{"order", "true"})
	}
	for _, kv := range set {
		if err := fs.Set(kv[0], kv[1]); err != nil {
			return err
		}
	}
	return nil
}

// recordedChoice is the choice an earlier --provider cheapest recorded in
// the cluster's journal, or nil.
func recordedChoice(root, name string) *cheapestChoice {
	j, err := readJournal(root, name)
	if err != nil {
		return nil
	}
	var prev cheapestChoice
	if raw := j.FactsCopy().CheapestChoice; raw == "" || json.Unmarshal([]byte(raw), &prev) != nil || prev.Provider == "" {
		return nil
	}
	return &prev
}
