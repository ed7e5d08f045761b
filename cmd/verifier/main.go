// Command verifier runs a region's verifier (`verifier serve`) and
// re-checks a judged round from its record alone (`verifier check`).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"

	"github.com/ppstore/ppstore/daemon"
	"github.com/ppstore/ppstore/verifier"
	"github.com/prometheus/client_golang/prometheus"
)

const usage = `usage: verifier <command> [flags]

commands:
  serve                      check proofs of replication, challenge every replica each epoch
  check FILE                 judge a recorded round again from its record alone (a rounds/<epoch>.round file)
  check --data-dir DIR EPOCH the same, for a round kept in a verifier's data directory
  help                       print this help
`

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	case "serve":
		err = serve(args[1:], stderr)
	case "check":
		err = check(args[1:], stdout, stderr)
	default:
		fmt.Fprintf(stderr, "verifier: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case err != nil:
		fmt.Fprintf(stderr, "verifier: %v\n", err)
		return 1
	}
	return 0
}

func serve(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("verifier serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	flags := daemon.NewFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	var cfg verifier.Config
	return daemon.Start("verifier", flags, &cfg, daemon.Common{DataDir: &cfg.DataDir, Listen: &cfg.Listen, Region: &cfg.Region,
		MetricsAddr: &cfg.MetricsAddr, LogLevel: &cfg.LogLevel, Bootstrap: &cfg.Bootstrap},
		func(log *slog.Logger, reg prometheus.Registerer) (daemon.Service, error) {
			v, err := verifier.New(cfg, log, reg)
			if err != nil || !cfg.Payment.ZkStore {
				return v, err
			}
			return withPayer(v, log, reg) // payment.go
		})
}

func check(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("verifier check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", "", "a verifier's data `dir` (then give an epoch, not a file)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("check: give one round file, or --data-dir DIR and one epoch")
	}
	var rec *verifier.RoundRecord
	if *dataDir != "" {
		epoch, err := strconv.ParseUint(fs.Arg(0), 10, 64)
		if err != nil {
			return fmt.Errorf("check: epoch %q is not a number", fs.Arg(0))
		}
		if rec, err = verifier.ReadRound(*dataDir, epoch); err != nil {
			return err
		}
	} else {
		b, err := os.ReadFile(fs.Arg(0))
		if err != nil {
			return err
		}
		if rec, err = verifier.ParseRoundRecord(b); err != nil {
			return err
		}
	}
	mm, err := verifier.Check(rec)
	if err != nil {
		return err
	}
	n := 0
	for _, m := range rec.Miners {
		n += len(m.Replicas)
	}
	fmt.Fprintf(stdout, "epoch %d: seed checked against anchor %x; %d miners' signed responses to verifier %s, %d replicas judged again\n", rec.Epoch, rec.Anchor[:8], len(rec.Miners), rec.Verifier.Short(), n)
	for _, m := range mm {
		fmt.Fprintln(stdout, "MISMATCH", m)
	}
	if len(mm) > 0 {
		return fmt.Errorf("%d recorded verdicts contradict the responses", len(mm))
	}
	fmt.Fprintln(stdout, "every recorded verdict agrees with the responses")
	return nil
}
