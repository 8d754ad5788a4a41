package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/cto-platform/cto/internal/deploy"
	"github.com/cto-platform/cto/internal/state"
)

func newStatusCmd(g *globals) *cobra.Command {
	var name string
	var all, showCreds bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show a cluster's steps, nodes and resources from its journal",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if all {
				names, err := g.listClusters(cmd.Context())
				if err != nil {
					return err
				}
				if g.json() {
					return json.NewEncoder(g.streams.Out).Encode(names)
				}
				for _, n := range names {
					fmt.Fprintln(g.streams.Out, n)
				}
				return nil
			}
			c, err := g.openToRead(cmd.Context(), name)
			if err != nil {
				return err
			}
			j, err := c.Load()
			if err != nil {
				return err
			}
			var creds json.RawMessage
			if showCreds {
				if creds, err = readCredentials(c); err != nil {
					return err
				}
			}
			comps := componentStatus(cmd.Context(), c, j)
			if g.json() {
				var out []byte
				j.View(func(j *state.Journal) {
					v := statusView(j)
					v.Platform, v.Credentials = comps, creds
					out, err = json.Marshal(v)
				})
				if err != nil {
					return err
				}
				_, err = fmt.Fprintln(g.streams.Out, string(out))
				return err
			}
			printStatus(g, c, j)
			printComponents(g, comps)
			if creds != nil {
				fmt.Fprintf(g.streams.Out, "\nCredentials (%s):\n%s\n", c.Path(deploy.CredentialsFile), strings.TrimSpace(string(creds)))
			} else if _, err := os.Stat(c.Path(deploy.CredentialsFile)); err == nil {
				fmt.Fprintf(g.streams.Out, "\nPasswords are in %s; show them with --show-credentials.\n", c.Path(deploy.CredentialsFile))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "cto", "cluster name")
	cmd.Flags().BoolVar(&all, "all", false, "list every cluster in the state folder")
	cmd.Flags().BoolVar(&showCreds, "show-credentials", false, "also print credentials.json (passwords included)")
	return cmd
}

type statusJSON struct {
	Cluster string `json:"cluster"`
	// Operation is the day-2 command under way, "" when none is.
	Operation string                       `json:"operation,omitempty"`
	Provider  string                       `json:"provider"`
	Steps     map[string]*state.StepRecord `json:"steps"`
	Nodes     []*state.Node                `json:"nodes"`
	Resources []*state.Resource            `json:"resources"`
	// CostMonthly is the estimate shown before the servers were ordered,
	// in Currency.
	CostMonthly string `json:"cost_monthly,omitempty"`
	Currency    string `json:"currency,omitempty"`
	// Platform is the components' health, when the cluster answers.
	Platform *platformView `json:"platform,omitempty"`
	// Credentials is credentials.json, only with --show-credentials.
	Credentials json.RawMessage `json:"credentials,omitempty"`
}

func statusView(j *state.Journal) statusJSON {
	return statusJSON{Cluster: j.Cluster, Operation: j.Facts.Operation, Provider: j.Provider, Steps: j.Steps, Nodes: j.Nodes, Resources: j.Resources,
		CostMonthly: j.Facts.CostMonthly, Currency: j.Facts.Currency}
}

func printStatus(g *globals, c *state.Cluster, j *state.Journal) {
	out := g.streams.Out
	j.View(func(j *state.Journal) {
		fmt.Fprintf(out, "Cluster %s (provider %s), state in %s\n", j.Cluster, j.Provider, c.Dir)
		if monthly := j.Facts.CostMonthly; monthly != "" {
			fmt.Fprintf(out, "Estimated cost: %s %s per month\n", monthly, j.Facts.Currency)
		}
		if op := j.Facts.Operation; op != "" {
			fmt.Fprintf(out, "In progress: %s (%s); rerun it to finish\n", op, operationProgress(j, op))
		}
		fmt.Fprintln(out)
		tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "STEP\tSTATUS\tFINISHED\tERROR")
		// Steps run in order: one without a record before a finished
		// one was skipped (dns without a domain).
		lastDone := -1
		for i, s := range deploy.StepNames {
			if rec := j.Steps[s]; rec != nil && rec.Status == state.StepDone {
				lastDone = i
			}
		}
		for i, s := range deploy.StepNames {
			rec := j.Steps[s]
			if rec == nil {
				status := "pending"
				if i < lastDone {
					status = "skipped"
				}
				fmt.Fprintf(tw, "%s\t%s\t\t\n", s, status)
				continue
			}
			fin := ""
			if !rec.FinishedAt.IsZero() {
				fin = rec.FinishedAt.Format("2006-01-02 15:04:05")
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s, rec.Status, fin, rec.Error)
		}
		tw.Flush()
		if len(j.Nodes) > 0 {
			fmt.Fprintln(out)
			tw = tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NODE\tROLE\tSERVER\tSTATUS\tPUBLIC IP\tPRIVATE IP\tTALOS\tKUBERNETES")
			for _, n := range j.Nodes {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", n.Name, n.Role, n.ServerID, n.Status, n.PublicIP, n.PrivateIP, n.TalosVersion, n.KubernetesVersion)
			}
			tw.Flush()
		}
		var live []*state.Resource
		for _, r := range j.Resources {
			if r.DeletedAt.IsZero() {
				live = append(live, r)
			}
		}
		if len(live) > 0 {
			fmt.Fprintln(out)
			tw = tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "RESOURCE\tID\tNAME\tSTATUS")
			for _, r := range live {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Kind, r.ID, r.Name, r.Status)
			}
			tw.Flush()
		}
	})
}

// operationProgress counts the nodes an upgrade finished: those whose
// journaled version is its target.
func operationProgress(j *state.Journal, op string) string {
	f := strings.Fields(op)
	if len(f) != 3 || f[0] != "upgrade" {
		return "see the steps below"
	}
	done := 0
	for _, n := range j.Nodes {
		if (f[1] == "talos" && n.TalosVersion == f[2]) || (f[1] == "kubernetes" && n.KubernetesVersion == f[2]) {
			done++
		}
	}
	return fmt.Sprintf("%d of %d nodes done", done, len(j.Nodes))
}
