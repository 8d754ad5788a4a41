package cli

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/cto-platform/cto/internal/license"
	"github.com/cto-platform/cto/internal/spec"
)

func newLicenseCmd(g *globals) *cobra.Command {
	var ref string
	cmd := &cobra.Command{
		Use:   "license",
		Short: "Show or verify a cto license (offline)",
		Long: `A license is verified offline against the public key built into cto. Without
one, cto runs as the Free tier: local clusters of up to 3 nodes. Starter covers
1 node, Team 3, Business 10 (and GPU nodes), Enterprise any number, at every
bare-metal provider; control planes count as nodes. A license issued with its
own max_nodes covers that many instead, whatever its tier.`,
		Example: `  cto license verify --license ./license.txt
  CTO_LICENSE=./license.txt cto license show -o json`,
		Args: cobra.NoArgs,
	}
	cmd.PersistentFlags().StringVar(&ref, "license", "", "license file or token (env CTO_LICENSE)")
	load := func() (*license.License, error) {
		if ref == "" {
			ref = envOr("CTO_LICENSE")
		}
		if ref == "" {
			return nil, badInputf("no license given: pass --license FILE or set CTO_LICENSE (without one cto runs as the Free tier: local clusters of up to 3 nodes)")
		}
		v, err := license.Trusted()
		if err != nil {
			return nil, err
		}
		return license.Load(ref, v)
	}
	// show and verify load the license alike and differ in what they print.
	sub := func(use, short string, print func(*globals, *license.License, time.Time) error) *cobra.Command {
		return &cobra.Command{
			Use:   use,
			Short: short,
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, args []string) error {
				l, err := load()
				if err != nil {
					return err
				}
				return print(g, l, time.Now())
			},
		}
	}
	cmd.AddCommand(
		sub("show", "Print a license's customer, tier, limits and expiry", showLicense),
		sub("verify", "Check a license's signature and expiry; exit 2 when it cannot be used", verifyLicense),
	)
	return cmd
}

// licenseView is the JSON form of show and verify.
type licenseView struct {
	*license.License
	Status         string   `json:"status"`
	NodeLimit      int      `json:"node_limit"` // 0: unlimited
	KeyID          string   `json:"key_id"`
	DevelopmentKey bool     `json:"development_key,omitempty"`
	Warnings       []string `json:"warnings,omitempty"`
}

func viewOf(l *license.License, now time.Time) (licenseView, error) {
	// Expiry is the only rule independent of what a deploy asks for.
	warnings, err := license.Check(l, license.Request{Provider: spec.ProviderExisting}, now)
	status := "valid"
	switch l.PhaseAt(now) {
	case license.Expiring30, license.Expiring14, license.Expiring7:
		status = "expiring"
	case license.InGrace:
		status = "in-grace"
	case license.Expired:
		status = "expired"
	}
	return licenseView{License: l, Status: status, NodeLimit: l.NodeLimit(), KeyID: l.KeyID, DevelopmentKey: license.UsesDevelopmentKey(), Warnings: warnings}, err
}

func showLicense(g *globals, l *license.License, now time.Time) error {
	v, refused := viewOf(l, now)
	if refused != nil {
		v.Warnings = append(v.Warnings, refused.Error())
	}
	if g.json() {
		return json.NewEncoder(g.streams.Out).Encode(v)
	}
	nodes := "unlimited"
	if v.NodeLimit > 0 {
		nodes = fmt.Sprint(v.NodeLimit)
	}
	tw := tabwriter.NewWriter(g.streams.Out, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "License\t%s\n", l.ID)
	fmt.Fprintf(tw, "Customer\t%s\n", l.Customer)
	fmt.Fprintf(tw, "Tier\t%s\n", l.Tier.Title())
	fmt.Fprintf(tw, "Nodes\t%s\n", nodes)
	fmt.Fprintf(tw, "Agents\t%d\n", l.MaxAgents)
	fmt.Fprintf(tw, "Features\t%s\n", strings.Join(l.Features, ", "))
	fmt.Fprintf(tw, "Issued\t%s\n", l.IssuedAt.UTC().Format("2006-01-02"))
	fmt.Fprintf(tw, "Expires\t%s\n", l.ExpiresAt.UTC().Format("2006-01-02"))
	fmt.Fprintf(tw, "Status\t%s\n", v.Status)
	fmt.Fprintf(tw, "Signed by\t%s\n", signer(v))
	tw.Flush()
	for _, w := range v.Warnings {
		fmt.Fprintln(g.streams.ErrOut, "WARNING: "+w)
	}
	return nil
}

func verifyLicense(g *globals, l *license.License, now time.Time) error {
	v, err := viewOf(l, now)
	if err != nil {
		return err
	}
	if g.json() {
		return json.NewEncoder(g.streams.Out).Encode(v)
	}
	nodes := "any number of nodes"
	switch {
	case v.NodeLimit == 1:
		nodes = "1 node"
	case v.NodeLimit > 1:
		nodes = fmt.Sprintf("up to %d nodes", v.NodeLimit)
	}
	fmt.Fprintf(g.streams.Out, "valid: %s license %s for %s, %s, expires %s (%s)\n",
		l.Tier.Title(), l.ID, l.Customer, nodes, l.ExpiresAt.UTC().Format("2006-01-02"), signer(v))
	for _, w := range v.Warnings {
		fmt.Fprintln(g.streams.ErrOut, "WARNING: "+w)
	}
	return nil
}

func signer(v licenseView) string {
	if v.DevelopmentKey {
		return "development key " + v.KeyID
	}
	return "key " + v.KeyID
}
