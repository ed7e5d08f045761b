// Command miner runs a ppstore storage miner: `miner serve`.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/ppstore/ppstore/config"
	"github.com/ppstore/ppstore/daemon"
	"github.com/ppstore/ppstore/miner"
	"github.com/prometheus/client_golang/prometheus"
)

const usage = `usage: miner <command> [flags]

commands:
  serve   store shards, replicate them along chains, serve their pieces
  help    print this help

Run 'miner serve -h' for the flags of serve.
`

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	case "serve":
		if err := serve(args[1:], stderr); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return 0
			}
			fmt.Fprintf(stderr, "miner: %v\n", err)
			return 1
		}
		return 0
	default:
		fmt.Fprintf(stderr, "miner: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}

func serve(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("miner serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	flags := daemon.NewFlags(fs)
	capacity := fs.String("capacity", "", "`bytes` offered for shards, such as 100GiB (overrides capacity)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var cfg miner.Config
	if err := flags.Load(&cfg, daemon.Common{DataDir: &cfg.DataDir, Listen: &cfg.Listen, Region: &cfg.Region,
		MetricsAddr: &cfg.MetricsAddr, LogLevel: &cfg.LogLevel, Bootstrap: &cfg.Bootstrap}); err != nil {
		return err
	}
	if *capacity != "" {
		c, err := config.ParseByteSize(*capacity)
		if err != nil {
			return fmt.Errorf("--capacity: %w", err)
		}
		cfg.Capacity = c
	}
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	return daemon.Main("miner", cfg.DataDir, cfg.MetricsAddr, cfg.LogLevel, func(log *slog.Logger, reg prometheus.Registerer) (daemon.Service, error) {
		return miner.New(cfg, log, reg)
	})
}
