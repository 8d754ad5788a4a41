package cli

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/cto-platform/cto/internal/kubeconfig"
)

func newKubeconfigCmd(g *globals) *cobra.Command {
	var name string
	var merge bool
	cmd := &cobra.Command{
		Use:   "kubeconfig",
		Short: "Print a cluster's admin kubeconfig, or merge it into ~/.kube/config",
		Long: `Print the cluster's admin kubeconfig on standard output (it holds credentials:
redirect it to a file only you can read), or with --merge add it to
$KUBECONFIG or ~/.kube/config as context cto-<name>, leaving every other
context as it was.`,
		Example: "  cto kubeconfig --name cto > cto.kubeconfig\n  cto kubeconfig --name cto --merge",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.openToRead(cmd.Context(), name)
			if err != nil {
				return err
			}
			data, err := c.ReadFile(kubeconfig.File)
			if errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("cluster %q has no kubeconfig yet: its kubernetes step has not finished (see `cto status --name %s`)", name, name)
			}
			if err != nil {
				return err
			}
			if merge {
				return mergeKubeconfig(g, name, data)
			}
			_, err = g.streams.Out.Write(data)
			return err
		},
	}
	cmd.Flags().StringVar(&name, "name", "cto", "cluster name")
	cmd.Flags().BoolVar(&merge, "merge", false, "merge into $KUBECONFIG or ~/.kube/config as context cto-<name>")
	return cmd
}

// mergeKubeconfig adds the cluster to $KUBECONFIG (first path) or
// ~/.kube/config as context cto-<cluster>, keeping every other context.
func mergeKubeconfig(g *globals, cluster string, data []byte) error {
	path, name := kubeconfig.DefaultPath(), kubeconfig.ContextName(cluster)
	if err := kubeconfig.MergeFile(path, data, name); err != nil {
		return err
	}
	fmt.Fprintf(g.streams.ErrOut, "Merged cluster %q into %s as context %s.\n", cluster, path, name)
	return nil
}
