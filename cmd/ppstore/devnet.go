package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"text/tabwriter"
	"time"

	gnarklog "github.com/consensys/gnark/logger"
	"github.com/ppstore/ppstore/config"
	"github.com/ppstore/ppstore/devnet"
	"github.com/spf13/cobra"
)

// newDevnetCmd is `ppstore devnet start|status|stop`: a whole region on this
// machine. Its commands take --dir, not --config.
func newDevnetCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "devnet",
		Short: "Run a whole region on this machine",
		Long: `Run a bootstrap, an indexer and miners on this machine, their data and
configs under --dir. start writes DIR/client.toml for the other commands.`,
		Example: `  ppstore devnet start --dir /tmp/region --miners 6
  ppstore devnet status --dir /tmp/region
  ppstore devnet stop --dir /tmp/region`,
		Args: subcommandArgs,
		RunE: subcommandRunE,
		// A mistyped subcommand is the error to report, not the flags
		// meant for it.
		FParseErrWhitelist: cobra.FParseErrWhitelist{UnknownFlags: true},
	}
	cmd.AddCommand(newDevnetStartCmd(), newDevnetStatusCmd(), newDevnetStopCmd())
	return cmd
}

// dirFlag adds the --dir flag of the devnet commands to cmd.
func dirFlag(cmd *cobra.Command, dir *string) {
	cmd.Flags().StringVar(dir, "dir", "", "directory holding the region's data")
	cmd.MarkFlagDirname("dir")
}

// needDir refuses an empty --dir.
func needDir(cmd *cobra.Command, dir string) error {
	if dir == "" {
		return &usageError{cmd: cmd, err: errors.New("--dir is required")}
	}
	return nil
}

func newDevnetStartCmd() *cobra.Command {
	var (
		dir, bin, capacity, host string
		miners                   int
		metrics, noZk, zk        bool
	)
	cmd := &cobra.Command{
		Use:   "start --dir DIR [flags]",
		Short: "Start a region (create it on the first start)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := needDir(cmd, dir); err != nil {
				return err
			}
			capb, err := config.ParseByteSize(capacity)
			if err != nil {
				return &usageError{cmd: cmd, err: fmt.Errorf("--capacity: %w", err)}
			}
			if miners < 1 {
				return &usageError{cmd: cmd, err: errors.New("--miners must be at least 1")}
			}
			stderr := cmd.ErrOrStderr()
			gnarklog.Disable() // the circuit's compile and setup report through the devnet's own lines
			_, err = devnet.Start(cmd.Context(), devnet.Options{Dir: dir, Miners: miners, BinDir: bin, Metrics: metrics, Capacity: capb, Host: host, NoZkStore: noZk || !zk,
				Log: func(f string, a ...any) { fmt.Fprintf(stderr, f+"\n", a...) }})
			if err != nil {
				return err
			}
			abs, _ := filepath.Abs(dir)
			cfg := filepath.Join(abs, "client.toml")
			fmt.Fprintf(stderr, "region ready; client config: %s\n  ppstore --config %s put FILE\n", cfg, cfg)
			return nil
		},
	}
	dirFlag(cmd, &dir)
	f := cmd.Flags()
	f.IntVar(&miners, "miners", 6, "number of miners")
	f.StringVar(&bin, "bin", "", "directory of the daemon binaries (default: beside ppstore, then PATH)")
	f.BoolVar(&metrics, "metrics", true, "give every daemon a Prometheus metrics address")
	f.StringVar(&capacity, "capacity", "8GiB", "disk offered by each miner")
	f.StringVar(&host, "host", "127.0.0.1", "address the daemons listen on (new regions only)")
	f.BoolVar(&noZk, "no-zkstore", false, "leave out the zkstore operator and the one-validator sidechain (no wallets, no payments; new regions only)")
	f.BoolVar(&zk, "zkstore", true, "run the zkstore operator and a sidechain (the default now)")
	f.MarkDeprecated("zkstore", "a region runs them unless --no-zkstore")
	cmd.MarkFlagDirname("bin")
	return cmd
}

func newDevnetStatusCmd() *cobra.Command {
	var (
		dir    string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "status --dir DIR [--json]",
		Short: "Show the region's processes",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := needDir(cmd, dir); err != nil {
				return err
			}
			sts, err := devnet.StatusOf(dir)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if asJSON {
				return printJSON(w, sts) // devnet.Status carries the JSON field names
			}
			tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tROLE\tPID\tSTATE\tADDR\tPEER\tMETRICS\tHEALTH")
			for _, s := range sts {
				state := "stopped"
				if s.Running {
					state = "running"
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", s.Name, s.Role, s.PID, state, s.Addr, s.Peer, s.Metrics, s.Health)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			return printAccounts(w, sts) // devnet_accounts.go
		},
	}
	dirFlag(cmd, &dir)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newDevnetStopCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "stop --dir DIR",
		Short: "Stop the region's processes (its data stays)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := needDir(cmd, dir); err != nil {
				return err
			}
			return devnet.Stop(dir, 10*time.Second)
		},
	}
	dirFlag(cmd, &dir)
	return cmd
}
