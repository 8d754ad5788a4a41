package cli

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/cto-platform/cto/internal/spec"
)

func newInitCmd(g *globals) *cobra.Command {
	var file string
	var force bool
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Write a commented cluster.yaml starter",
		Long: `Write a cluster.yaml with every key and a comment on each, ready to edit and
deploy with: cto deploy -f cluster.yaml. Use --file - to print it instead.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if file == "-" {
				_, err := fmt.Fprint(g.streams.Out, spec.Starter)
				return err
			}
			flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
			if force {
				flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
			}
			f, err := os.OpenFile(file, flags, 0o644)
			if errors.Is(err, os.ErrExist) {
				return badInputf("%s already exists; use --force to overwrite it or --file to pick another name", file)
			}
			if errors.Is(err, os.ErrNotExist) {
				return badInputf("%s cannot be written: its folder does not exist; create it or pass another --file", file)
			}
			if err != nil {
				return err
			}
			if _, err := f.WriteString(spec.Starter); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			fmt.Fprintf(g.streams.ErrOut, "Wrote %s. Edit it, then run: cto deploy -f %s\n", file, file)
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "cluster.yaml", "where to write the starter (- for standard output)")
	cmd.Flags().BoolVar(&force, "force", false, "overwrite an existing file")
	return cmd
}
