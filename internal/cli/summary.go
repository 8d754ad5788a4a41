package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/cto-platform/cto/internal/kubeconfig"
	"github.com/cto-platform/cto/internal/pipeline"
)

// Files a deploy leaves in the cluster's folder, shown in the summary.
var summaryFiles = []string{kubeconfig.File, "talosconfig", "credentials.json", "cto-config.json"}

// printSummary ends a deploy: cluster, nodes, cost, where the credentials
// are, and how long it took.
func printSummary(g *globals, run *pipeline.Run, f *deployFlags, took time.Duration) {
	j := run.Journal
	files := map[string]string{}
	for _, name := range summaryFiles {
		if _, err := os.Stat(run.Cluster.Path(name)); err == nil {
			files[name] = run.Cluster.Path(name)
		}
	}
	nodes := j.NodesCopy()
	monthly, currency := j.FactsCopy().CostMonthly, j.FactsCopy().Currency
	urls := map[string]string{}
	if data, err := run.Cluster.ReadFile("credentials.json"); err == nil {
		var creds struct {
			URLs map[string]string `json:"urls"`
		}
		if json.Unmarshal(data, &creds) == nil {
			urls = creds.URLs
		}
	}
	if g.json() {
		json.NewEncoder(g.streams.Out).Encode(map[string]any{
			"event": "summary", "time": time.Now().UTC(), "cluster": run.Cluster.Name, "nodes": nodes,
			"cost_monthly": monthly, "currency": currency, "files": files, "urls": urls,
			"elapsed_seconds": took.Seconds(), "dry_run": f.dryRun, "until": f.until,
		})
		return
	}
	out := g.streams.ErrOut
	fmt.Fprintln(out)
	switch {
	case f.dryRun:
		fmt.Fprintf(out, "Dry run of cluster %q finished in %s; nothing was created.\n", run.Cluster.Name, took.Round(time.Millisecond))
	case f.until != "":
		fmt.Fprintf(out, "Cluster %q: stopped after step %s in %s. Run the same command without --until to continue.\n", run.Cluster.Name, f.until, took.Round(time.Second))
	default:
		fmt.Fprintf(out, "Cluster %q is ready in %s.\n", run.Cluster.Name, took.Round(time.Second))
	}
	if len(nodes) > 0 {
		tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  NODE\tROLE\tPUBLIC IP\tPRIVATE IP\tSERVER")
		for _, n := range nodes {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", n.Name, n.Role, n.PublicIP, n.PrivateIP, n.ServerID)
		}
		tw.Flush()
	}
	if monthly != "" {
		fmt.Fprintf(out, "  Cost: %s %s per month\n", monthly, currency)
	}
	if api := j.FactsCopy().DNSAPIName; api != "" {
		fmt.Fprintf(out, "  Kubernetes API name: %s (kubeconfig uses a control plane's address)\n", api)
	}
	// Sorted, so the summary reads the same every time.
	names := make([]string, 0, len(urls))
	for k := range urls {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		fmt.Fprintf(out, "  %s: %s\n", k, urls[k])
	}
	for _, name := range summaryFiles {
		if p, ok := files[name]; ok {
			fmt.Fprintf(out, "  %s: %s\n", name, p)
		}
	}
}
