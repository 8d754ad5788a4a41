package cli

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/cto-platform/cto/internal/state"
)

// globals are the flags every command has.
type globals struct {
	output   string
	stateDir string
	verbose  int
	quiet    bool
	streams  Streams

	// --state: clusters in an object store (nil without it).
	stateURL, stateKey string
	lockTTL            time.Duration
	remote             *remoteState
}

func (g *globals) json() bool { return g.output == "json" }

func newRootCmd(streams Streams) *cobra.Command {
	g := &globals{streams: streams}
	root := &cobra.Command{
		Use:   "cto",
		Short: "Turn a bare-metal provider account into a running CTO Platform",
		Long: `cto provisions servers at a bare-metal provider, installs Talos Linux on them,
bootstraps Kubernetes, deploys the CTO Platform for a profile, optionally sets
DNS records, and hands you working credentials. It shows the cost before it
spends anything, journals every resource it creates, and resumes where it
stopped when you run it again.`,
		Example: `  cto plans --provider latitude --region DAL
  cto deploy --provider latitude --plan c2-small-x86 --nodes 3 --region DAL --profile standard
  cto status --name cto
  cto destroy --name cto`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if g.output != "table" && g.output != "json" {
				return badInputf("--output %q is not a format; use table or json", g.output)
			}
			if g.quiet && g.verbose > 0 {
				return badInputf("--quiet and --verbose ask for opposite things; use one")
			}
			return g.openRemote(cmd)
		},
	}
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return BadInput(fmt.Errorf("%v (see `%s --help`)", err, cmd.CommandPath()))
	})
	pf := root.PersistentFlags()
	pf.StringVarP(&g.output, "output", "o", "table", "output format: table (for people) or json (stable, for scripts)")
	pf.StringVar(&g.stateDir, "state-dir", state.DefaultDir(), "folder holding each cluster's journal, secrets and credentials (env CTO_HOME)")
	pf.StringVar(&g.stateURL, "state", envOr("CTO_STATE"), "keep clusters in S3-compatible object storage, shared and locked across machines: s3://BUCKET/PREFIX, plus ?endpoint=http://host:port&region=R&use_path_style=true for non-AWS stores (env CTO_STATE; AWS credentials from the standard variables and profiles)")
	pf.StringVar(&g.stateKey, "state-key", envOr("CTO_STATE_KEY"), "age identity file (as age-keygen or `cto state keygen` writes it) that encrypts the secrets kept in --state (env CTO_STATE_KEY)")
	pf.DurationVar(&g.lockTTL, "state-lock-ttl", 2*time.Minute, "how long a --state lock outlives a holder that stopped renewing it (killed, or cut off from the store)")
	pf.CountVarP(&g.verbose, "verbose", "v", "more detail in progress output (repeat for more)")
	pf.BoolVarP(&g.quiet, "quiet", "q", false, "progress output shows only warnings and failures; results and questions are still printed")

	root.AddCommand(
		newDeployCmd(g),
		newDestroyCmd(g),
		newStatusCmd(g),
		newUpgradeCmd(g),
		newScaleCmd(g), newReplaceCmd(g),
		newPlansCmd(g),
		newRegionsCmd(g),
		newKubeconfigCmd(g),
		newInitCmd(g),
		newVersionCmd(g),
		newLicenseCmd(g),
		newStateCmd(g),
	)
	root.CompletionOptions.HiddenDefaultCmd = false
	strictArgs(root)
	for _, c := range root.Commands() {
		c.Flags().SortFlags = false
	}
	return root
}

// envOr returns the first non-empty environment variable of names.
func envOr(names ...string) string {
	for _, n := range names {
		if v := strings.TrimSpace(os.Getenv(n)); v != "" {
			return v
		}
	}
	return ""
}

// changed reports whether the user set a flag.
func changed(fs *pflag.FlagSet, name string) bool {
	f := fs.Lookup(name)
	return f != nil && f.Changed
}
