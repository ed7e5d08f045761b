// Command zkstore runs a region's payment operator (see package zkstore), or
// shows a running operator's status.
//
//	zkstore --config zkstore.toml [--data-dir DIR] [--listen HOST:PORT] [--region NAME]
//	        [--bootstrap PEER@HOST:PORT,...] [--metrics HOST:PORT] [--log-level LEVEL]
//	zkstore status (--data-dir DIR | --addr PEER@HOST:PORT) [--json]
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"

	gnarklog "github.com/consensys/gnark/logger"
	"github.com/ppstore/ppstore/daemon"
	"github.com/ppstore/ppstore/sidechain"
	"github.com/ppstore/ppstore/zkstore"
	"github.com/prometheus/client_golang/prometheus"
)

func main() {
	var err error
	if len(os.Args) > 1 && os.Args[1] == "status" {
		err = zkstore.StatusCommand(os.Args[2:], os.Stdout)
	} else {
		err = run()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "zkstore:", err)
		os.Exit(1)
	}
}

func run() error {
	gnarklog.Disable() // gnark logs to stdout on its own; the daemon logs with slog
	flags := daemon.NewFlags(flag.CommandLine)
	flag.Parse()
	var cfg zkstore.Config
	return daemon.Start("zkstore", flags, &cfg, daemon.Common{DataDir: &cfg.DataDir, Listen: &cfg.Listen, Region: &cfg.Region,
		MetricsAddr: &cfg.MetricsAddr, LogLevel: &cfg.LogLevel, Bootstrap: &cfg.Bootstrap}, func(log *slog.Logger, reg prometheus.Registerer) (daemon.Service, error) {
		p, err := zkstore.New(cfg, log, reg)
		if err != nil || cfg.SidechainRPC == "" {
			return p, err
		}
		var trust *sidechain.Trust
		if cfg.SidechainGenesis != "" {
			if trust, err = sidechain.TrustFromGenesisFile(cfg.SidechainGenesis); err != nil {
				p.Close()
				return nil, err
			}
		}
		c, err := sidechain.Dial(cfg.SidechainRPC, trust)
		if err != nil {
			p.Close()
			return nil, err
		}
		p.SetChain(c)
		return p, nil
	})
}
