// Command miner runs a ppstore storage miner: `miner serve`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/ppstore/ppstore/config"
	"github.com/ppstore/ppstore/daemon"
	"github.com/ppstore/ppstore/miner"
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
	var (
		cfgFile  = fs.String("config", "", "TOML config `file`")
		dataDir  = fs.String("data-dir", "", "data `dir`ectory (overrides data_dir)")
		listen   = fs.String("listen", "", "UDP `host:port` to listen on (overrides listen)")
		region   = fs.String("region", "", "region `name` (overrides region)")
		boot     = fs.String("bootstrap", "", "comma-separated `peerID@host:port` of bootstraps (overrides bootstrap)")
		metrics  = fs.String("metrics", "", "`host:port` of the prometheus endpoint (overrides metrics_addr)")
		logLevel = fs.String("log-level", "", "debug, info, warn or error (overrides log_level)")
		capacity = fs.String("capacity", "", "`bytes` offered for shards, such as 100GiB (overrides capacity)")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var cfg miner.Config
	if *cfgFile != "" {
		if err := config.Load(*cfgFile, &cfg); err != nil {
			return err
		}
	}
	var err error
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "data-dir":
			cfg.DataDir = *dataDir
		case "listen":
			cfg.Listen = *listen
		case "region":
			cfg.Region = *region
		case "bootstrap":
			cfg.Bootstrap = nil
			for _, b := range strings.Split(*boot, ",") {
				if b = strings.TrimSpace(b); b != "" {
					cfg.Bootstrap = append(cfg.Bootstrap, b)
				}
			}
		case "metrics":
			cfg.MetricsAddr = *metrics
		case "log-level":
			cfg.LogLevel = *logLevel
		case "capacity":
			if cfg.Capacity, err = config.ParseByteSize(*capacity); err != nil {
				err = fmt.Errorf("--capacity: %w", err)
			}
		}
	})
	if err != nil {
		return err
	}
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	log, err := daemon.NewLogger(os.Stderr, cfg.LogLevel)
	if err != nil {
		return err
	}
	reg := daemon.NewRegistry()
	ms, err := daemon.ListenMetrics(cfg.MetricsAddr, reg)
	if err != nil {
		return err
	}
	peer, err := miner.New(cfg, log, reg)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return daemon.Serve(ctx, "miner", cfg.DataDir, ms, peer, log)
}
