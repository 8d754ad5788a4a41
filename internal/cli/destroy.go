package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/cto-platform/cto/internal/destroy"
	"github.com/cto-platform/cto/internal/dns"
	"github.com/cto-platform/cto/internal/kubeconfig"
	"github.com/cto-platform/cto/internal/pipeline"
	"github.com/cto-platform/cto/internal/provider"
	"github.com/cto-platform/cto/internal/spec"
	"github.com/cto-platform/cto/internal/state"
)

type destroyFlags struct {
	name     string
	provider string
	apiURL   string
	yes      bool
	dryRun   bool
	keep     bool

	// domain and dnsProvider sweep DNS records when there is no journal.
	domain      string
	dnsProvider string
}

func newDestroyCmd(g *globals) *cobra.Command {
	f := &destroyFlags{}
	cmd := &cobra.Command{
		Use:   "destroy",
		Short: "Delete every server and network of a cluster (shows them first)",
		Long: `Destroy finds the cluster's resources in its journal AND by the cluster's tag at
the provider, so a lost or partial journal still leaves nothing billing. It
lists what it will delete, asks for confirmation on a terminal (refuses
without --yes otherwise), deletes, and can be rerun after an interruption.

Without a journal, give --provider (and its credentials) to sweep by tag.`,
		Example: `  cto destroy --name cto
  cto destroy --name cto --dry-run
  cto destroy --name cto --provider latitude --yes   # journal lost: sweep by tag`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runDestroy(cmd, g, f) },
	}
	fs := cmd.Flags()
	fs.StringVar(&f.name, "name", "cto", "cluster name")
	fs.StringVar(&f.provider, "provider", "", "provider to sweep when the cluster has no journal here")
	fs.StringVar(&f.apiURL, "api-url", "", "provider API endpoint (for testing or a proxy)")
	fs.StringVar(&f.domain, "domain", "", "with --dns-provider: also sweep the cluster's DNS records under this domain")
	fs.StringVar(&f.dnsProvider, "dns-provider", "", "DNS provider to sweep when the cluster has no journal here: cloudflare")
	fs.BoolVarP(&f.yes, "yes", "y", false, "delete without asking (required without a terminal)")
	fs.BoolVar(&f.dryRun, "dry-run", false, "list what would be deleted and stop")
	fs.BoolVar(&f.keep, "keep-state", false, "keep the cluster's state folder after a complete destroy")
	return cmd
}

func runDestroy(cmd *cobra.Command, g *globals, f *destroyFlags) (err error) {
	ctx := cmd.Context()
	s := spec.Defaults()
	s.Name = f.name
	var c *state.Cluster
	var j *state.Journal
	corrupt := false
	if err := g.pullCluster(ctx, f.name); err != nil {
		return err
	}
	c, err = state.Open(g.stateDir, f.name, false)
	switch {
	case err == nil:
		var unlock func() error
		ctx, unlock, err = g.lockCluster(ctx, c, "destroy")
		if err != nil {
			return err
		}
		defer unlockInto(&err, unlock)
		if !c.Exists() && f.provider == "" {
			// A folder without its journal says nothing about where the
			// servers are; guessing (the local default) would leave them
			// billing.
			return badInputf("cluster %q has no journal in %s; %s", f.name, c.Dir, sweepAdvice(g, f.name))
		}
		j, err = c.Load()
		if err == nil && !c.Exists() {
			// No journal on disk: a sweep by tag, with nothing to record.
			j = nil
		}
		if errors.Is(err, state.ErrCorrupt) && f.provider != "" {
			// The sweep by tag needs no journal; the broken file is left
			// for the user to look at.
			fmt.Fprintf(g.streams.ErrOut, "WARNING: %v; sweeping %s for resources tagged %q instead\n", err, f.provider, f.name)
			j, corrupt = nil, true
		} else if err != nil {
			if errors.Is(err, state.ErrCorrupt) {
				return fmt.Errorf("%w; %s", err, sweepAdvice(g, f.name))
			}
			return err
		}
		if j != nil && len(j.Spec) > 0 {
			if err := json.Unmarshal(j.Spec, &s); err != nil {
				return fmt.Errorf("%w: the journal's spec cannot be read: %v; %s", state.ErrCorrupt, err, sweepAdvice(g, f.name))
			}
		}
		if j != nil && len(j.Spec) == 0 && j.Provider != "" {
			s.Provider = j.Provider
		}
		if j != nil && j.Provider == "" && len(j.Spec) == 0 && f.provider == "" {
			return badInputf("the journal of cluster %q in %s does not name its provider; %s", f.name, c.Dir, sweepAdvice(g, f.name))
		}
	case errors.Is(err, os.ErrNotExist):
		if f.provider == "" {
			return badInputf("no cluster %q in %s; %s", f.name, g.stateDir, sweepAdvice(g, f.name))
		}
	default:
		return BadInput(err)
	}
	if f.provider != "" {
		s.Provider = f.provider
	}
	if f.apiURL != "" {
		s.APIURL = f.apiURL
	}
	if f.domain != "" {
		s.DNS = spec.DNS{Domain: f.domain, Provider: f.dnsProvider}
	}
	if !s.NeedsMachines() {
		return destroyLocal(cmd, g, f, s, c)
	}
	p, err := newProvider(ctx, s)
	if err != nil {
		return err
	}
	plan, err := destroy.Find(ctx, p, s.Name, j)
	if err != nil {
		return err
	}
	var dnsProvider dns.Provider
	if s.DNS.Domain != "" {
		if dnsProvider, err = newDNSProvider(s); err != nil {
			return err
		}
		if plan.DNSRecords, err = destroy.FindDNS(ctx, dnsProvider, s.Name, s.DNS.Domain, j); err != nil {
			return err
		}
	}
	if g.json() && f.dryRun {
		return json.NewEncoder(g.streams.Out).Encode(plan)
	}
	out := g.streams.ErrOut
	if plan.Empty() {
		fmt.Fprintf(out, "Nothing of cluster %q is left at %s.\n", s.Name, s.Provider)
	} else {
		fmt.Fprintf(out, "Cluster %q at %s: these will be deleted:\n", s.Name, s.Provider)
		tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  KIND\tID\tNAME\tSTATUS\tIP")
		for _, sv := range plan.Servers {
			fmt.Fprintf(tw, "  server\t%s\t%s\t%s\t%s\n", sv.ID, sv.Hostname, sv.RawStatus, sv.PublicIPv4)
		}
		for _, n := range plan.Networks {
			fmt.Fprintf(tw, "  network\t%s\t%s\t\t\n", n.ID, n.Name)
		}
		for _, lb := range plan.LoadBalancers {
			fmt.Fprintf(tw, "  load_balancer\t%s\t%s\t\t\n", lb.ID, lb.Name)
		}
		for _, r := range plan.DNSRecords {
			fmt.Fprintf(tw, "  dns_record\t%s\t%s\t%s\t%s\n", r.ID, r.Name, r.Type, r.Value)
		}
		tw.Flush()
	}
	if f.dryRun {
		return nil
	}
	if !plan.Empty() {
		deps := &pipeline.Deps{Yes: f.yes}
		if isTerminal(g.streams.In) && isTerminal(g.streams.ErrOut) {
			deps.Confirm = func(q string) (bool, error) { return confirm(g.streams, q) }
		}
		question := fmt.Sprintf("Delete %d server(s), %d network(s) and %d DNS record(s) of cluster %q", len(plan.Servers), len(plan.Networks), len(plan.DNSRecords), s.Name)
		if n := len(plan.LoadBalancers); n > 0 {
			question = fmt.Sprintf("Delete %d server(s), %d network(s), %d load balancer(s) and %d DNS record(s) of cluster %q", len(plan.Servers), len(plan.Networks), n, len(plan.DNSRecords), s.Name)
		}
		if err := deps.Approve(question); err != nil {
			return err
		}
		ui := newUI(g, "destroy")
		err = destroy.Execute(ctx, p, j, plan, 8, ui)
		if err == nil {
			err = destroy.ExecuteDNS(ctx, dnsProvider, s.DNS.Domain, j, plan.DNSRecords, ui)
		}
		ui.Close()
		if err != nil {
			return err
		}
	}
	if err := removeKubeContext(s.Name); err != nil {
		fmt.Fprintf(out, "WARNING: could not remove kube context cto-%s: %v\n", s.Name, err)
	}
	if corrupt {
		fmt.Fprintf(out, "The state folder %s is kept: its journal could not be read; remove it once you have looked at it.\n", c.Dir)
	} else if c != nil && !f.keep {
		if err := c.Remove(); err != nil {
			return fmt.Errorf("everything is deleted, but the state folder %s could not be removed: %w", c.Dir, err)
		}
	}
	if r, ok := p.(provider.Releaser); ok {
		fmt.Fprintf(out, "Cluster %q is destroyed at %s: %s.\n", s.Name, s.Provider, r.ReleaseNote())
		return nil
	}
	fmt.Fprintf(out, "Cluster %q is destroyed: nothing of it is billing at %s.\n", s.Name, s.Provider)
	return nil
}

// destroyLocal removes a local or existing cluster's traces.
func destroyLocal(cmd *cobra.Command, g *globals, f *destroyFlags, s spec.ClusterSpec, c *state.Cluster) error {
	if f.dryRun {
		fmt.Fprintf(g.streams.ErrOut, "Would remove the state of cluster %q (provider %s) and its kube context.\n", s.Name, s.Provider)
		if s.Source() == spec.Local {
			fmt.Fprintf(g.streams.ErrOut, "Would delete local cluster cto-%s and its containers.\n", s.Name)
		}
		return nil
	}
	deps := &pipeline.Deps{Yes: f.yes}
	if isTerminal(g.streams.In) && isTerminal(g.streams.ErrOut) {
		deps.Confirm = func(q string) (bool, error) { return confirm(g.streams, q) }
	}
	if err := deps.Approve(fmt.Sprintf("Remove cluster %q (provider %s)", s.Name, s.Provider)); err != nil {
		return err
	}
	if s.Source() == spec.Local {
		if err := deleteLocalCluster(cmd.Context(), g, s.Name); err != nil {
			return err
		}
	}
	if err := removeKubeContext(s.Name); err != nil {
		fmt.Fprintf(g.streams.ErrOut, "WARNING: could not remove kube context cto-%s: %v\n", s.Name, err)
	}
	if c != nil && !f.keep {
		return c.Remove()
	}
	return nil
}

// removeKubeContext takes context cto-<cluster> out of the user's
// kubeconfig; other contexts stay as they are.
func removeKubeContext(cluster string) error {
	return kubeconfig.RemoveFromFile(kubeconfig.DefaultPath(), kubeconfig.ContextName(cluster))
}

// providersWithCredentials lists the providers whose credentials are set
// in the environment, in the registry's order.
func providersWithCredentials() []string {
	var out []string
	for _, p := range registry {
		for _, group := range p.credentials {
			all := true
			for _, v := range group {
				all = all && envOr(v) != ""
			}
			if all {
				out = append(out, p.name)
				break
			}
		}
	}
	return out
}

// sweepAdvice tells how to delete a cluster whose journal is missing or
// unreadable: the sweep by tag, and which providers it could run against
// now.
func sweepAdvice(g *globals, name string) string {
	cmd := destroyCommand(g, name) + " --provider <p>"
	have := providersWithCredentials()
	if len(have) == 0 {
		return fmt.Sprintf("`%s` sweeps a provider for resources tagged %q without a journal; no provider's credentials are set (%s)", cmd, name, credentialVars())
	}
	return fmt.Sprintf("`%s` sweeps a provider for resources tagged %q without a journal; credentials are set for %s", cmd, name, strings.Join(have, ", "))
}

// credentialVars names every provider's credential variables, for a user
// who has set none.
func credentialVars() string {
	var parts []string
	for _, p := range registry {
		var groups []string
		for _, group := range p.credentials {
			groups = append(groups, strings.Join(group, "+"))
		}
		parts = append(parts, p.name+": "+strings.Join(groups, " or "))
	}
	return strings.Join(parts, "; ")
}
