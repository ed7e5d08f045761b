package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// newRootCmd builds the ppstore command tree. Each command group lives in a
// file of its own and is registered here with one line.
func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "ppstore",
		Short: "Store, fetch and inspect files in a ppstore region",
		Long: `ppstore stores, fetches and inspects files in a ppstore region.

Every command reads the client config from --config FILE, else
$PPSTORE_CONFIG, else ~/.config/ppstore/client.toml; a devnet writes
DIR/client.toml. Progress and diagnostics go to stderr, results to stdout.`,
		Example: `  ppstore devnet start --dir /tmp/region --miners 6
  export PPSTORE_CONFIG=/tmp/region/client.toml
  ppstore put --replicas 3 video.mp4     # the file's CID is the last line of stdout
  ppstore get CID -o copy.mp4`,
		Version: versionString(),
		Args:    subcommandArgs,
		RunE:    subcommandRunE,
		// A mistyped subcommand is the error to report, not the flags
		// meant for it.
		FParseErrWhitelist: cobra.FParseErrWhitelist{UnknownFlags: true},
		SilenceErrors:      true, // run prints them, with the exit status
		SilenceUsage:       true, // a failed command is not a usage error
	}
	root.SetVersionTemplate("ppstore {{.Version}}\n")
	root.SetFlagErrorFunc(flagError)
	root.SetHelpCommand(newHelpCmd())
	pf := root.PersistentFlags()
	pf.String("config", "", "client config file (default $PPSTORE_CONFIG, then ~/.config/ppstore/client.toml)")
	pf.BoolP("verbose", "v", false, "log details to stderr")
	root.MarkPersistentFlagFilename("config", "toml")

	root.AddCommand(newPutCmd())
	root.AddCommand(newGetCmd())
	root.AddCommand(newStatCmd())
	root.AddCommand(newLsCmd())
	root.AddCommand(newIDCmd())
	root.AddCommand(newDevnetCmd())
	root.AddCommand(newVersionCmd())
	return root
}

// usageError is a wrong command line: run prints it with a pointer to the
// command's help and exits with status 2. A nil err means the usage was
// already printed.
type usageError struct {
	cmd *cobra.Command
	err error
}

func (e *usageError) Error() string {
	if e.err == nil {
		return "usage error"
	}
	return e.err.Error()
}

func (e *usageError) Unwrap() error { return e.err }

// flagError makes a flag parsing error a usage error.
func flagError(cmd *cobra.Command, err error) error {
	return &usageError{cmd: cmd, err: err}
}

// subcommandArgs refuses words that name no subcommand of a command that
// only groups others (ppstore, ppstore devnet).
func subcommandArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2
	}
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += "; did you mean " + strings.Join(s, " or ") + "?"
	}
	return &usageError{cmd: cmd, err: fmt.Errorf("%s", msg)}
}

// subcommandRunE runs a command that only groups others when no subcommand
// was named: it prints the usage to stderr and fails with status 2.
func subcommandRunE(cmd *cobra.Command, args []string) error {
	cmd.SetOut(cmd.ErrOrStderr())
	cmd.Usage()
	return &usageError{cmd: cmd}
}

// exactArgs wants n positional arguments, described by what in the error.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == n {
			return nil
		}
		return &usageError{cmd: cmd, err: fmt.Errorf("%s takes %s, got %d argument(s)\nUsage: %s", commandName(cmd), what, len(args), cmd.UseLine())}
	}
}

// noArgs wants no positional argument.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	return &usageError{cmd: cmd, err: fmt.Errorf("%s takes no arguments, got %q", commandName(cmd), args)}
}

// commandName is the command's path without the program's name ("devnet
// start"), for messages that "ppstore:" already begins.
func commandName(cmd *cobra.Command) string {
	if !cmd.HasParent() {
		return cmd.Name()
	}
	return strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" ")
}

// newHelpCmd is `ppstore help [command...]`: the help of the named command,
// with its flags. Unlike cobra's default it fails (status 2) on a topic that
// names no command.
func newHelpCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "help [command]",
		Short: "Help about any command",
		Long:  "Help prints the description, usage and flags of a command: ppstore help put.",
		ValidArgsFunction: func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			target, rest, err := cmd.Root().Find(args)
			if err != nil || len(rest) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var out []cobra.Completion
			for _, sub := range target.Commands() {
				if sub.IsAvailableCommand() && strings.HasPrefix(sub.Name(), toComplete) {
					out = append(out, cobra.CompletionWithDesc(sub.Name(), sub.Short))
				}
			}
			return out, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			target, rest, err := cmd.Root().Find(args)
			if err != nil || len(rest) > 0 {
				return &usageError{cmd: cmd.Root(), err: fmt.Errorf("no help topic %q: not a ppstore command", strings.Join(args, " "))}
			}
			target.InitDefaultHelpFlag()
			target.InitDefaultVersionFlag()
			return target.Help()
		},
	}
}
