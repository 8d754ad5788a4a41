package cli

import (
	"strings"

	"github.com/spf13/cobra"
)

// strictArgs makes words a command does not take bad input (exit 2), on
// every command of the tree: a leaf's argument check is wrapped, and a
// command that only groups others (cto, cto license, cto completion)
// shows its help when called alone and refuses an unknown word.
func strictArgs(root *cobra.Command) {
	root.InitDefaultCompletionCmd()
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.HasSubCommands() && c.Run == nil && c.RunE == nil {
			c.Args = cobra.ArbitraryArgs
			c.RunE = func(cmd *cobra.Command, args []string) error {
				if len(args) == 0 {
					return cmd.Help()
				}
				var names []string
				for _, sub := range cmd.Commands() {
					if sub.IsAvailableCommand() {
						names = append(names, sub.Name())
					}
				}
				return badInputf("unknown command %q for %q; use one of %s (see `%s --help`)", args[0], cmd.CommandPath(), strings.Join(names, ", "), cmd.CommandPath())
			}
		} else if check := c.Args; check != nil {
			c.Args = func(cmd *cobra.Command, args []string) error {
				if err := check(cmd, args); err != nil {
					return badInputf("%v (see `%s --help`)", err, cmd.CommandPath())
				}
				return nil
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}
