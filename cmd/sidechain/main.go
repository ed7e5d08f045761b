// Command sidechain runs a validator of the ppstore sidechain (CometBFT with
// the rollup application) and prepares its home directory and the
// network's genesis. See docs/SIDECHAIN.md for joining a network.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	cmttypes "github.com/cometbft/cometbft/types"
	"github.com/ppstore/ppstore/daemon"
	"github.com/ppstore/ppstore/sidechain"
	"golang.org/x/sync/errgroup"
)

const usage = `usage: sidechain <command> [flags]

commands:
  init          create a validator's keys in --home (and install a genesis with --genesis);
                prints the validator's info line for whoever assembles genesis
  genesis       assemble genesis.json from validators' info lines and a regions file
  start         run the validator until SIGINT or SIGTERM
  show-node-id  print the node's p2p ID (peers list it as ID@host:port)
  help          print this help

Run 'sidechain <command> -h' for its flags.
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
	case "init":
		err = initCmd(args[1:], stdout, stderr)
	case "genesis":
		err = genesisCmd(args[1:], stdout, stderr)
	case "start":
		err = startCmd(args[1:], stderr)
	case "show-node-id":
		err = showNodeID(args[1:], stdout, stderr)
	default:
		fmt.Fprintf(stderr, "sidechain: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "sidechain: %v\n", err)
		return 1
	}
	return 0
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q (see -h)", fs.Args())
	}
	return nil
}

func initCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sidechain init", flag.ContinueOnError)
	fs.SetOutput(stderr)
	home := fs.String("home", "", "validator home `dir` (required)")
	moniker := fs.String("moniker", "", "validator `name` shown to peers (default: base name of --home)")
	genesis := fs.String("genesis", "", "install this genesis.json `file` (checked) into the home")
	single := fs.String("single", "", "make a one-validator chain (a devnet) with the regions of this `file`, unless the home has a genesis")
	chainID := fs.String("chain-id", "ppstore-devnet", "chain `ID` of the --single chain")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *home == "" {
		return errors.New("init: --home is required")
	}
	if *genesis != "" && *single != "" {
		return errors.New("init: give --genesis or --single, not both")
	}
	v, err := sidechain.InitHome(*home, *moniker)
	if err != nil {
		return err
	}
	if *single != "" {
		gs, err := readRegions(*single)
		if err != nil {
			return err
		}
		if err := sidechain.InitSingle(*home, *chainID, gs); err != nil {
			return err
		}
	}
	if *genesis != "" {
		doc, err := cmttypes.GenesisDocFromFile(*genesis)
		if err != nil {
			return fmt.Errorf("init: %w", err)
		}
		if _, err := sidechain.ReadGenesisState(doc); err != nil {
			return fmt.Errorf("init: %s: %w", *genesis, err)
		}
		if err := sidechain.WriteGenesis(*home, doc); err != nil {
			return err
		}
	}
	line, err := v.MarshalInfo()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s\n", line)
	return nil
}

func genesisCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sidechain genesis", flag.ContinueOnError)
	fs.SetOutput(stderr)
	chainID := fs.String("chain-id", "", "the network's chain `ID` (required)")
	vals := fs.String("validators", "", "`file` of validator info lines, one per validator, as printed by init (required)")
	regions := fs.String("regions", "", "`file` of the regions: {\"regions\": [{\"name\", \"root\" (hex), \"vk\" (base64)}]} (required)")
	out := fs.String("o", "", "write genesis.json to this `file` (default stdout)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *chainID == "" || *vals == "" || *regions == "" {
		return errors.New("genesis: --chain-id, --validators and --regions are required")
	}
	vb, err := os.ReadFile(*vals)
	if err != nil {
		return err
	}
	var gv []sidechain.GenesisValidator
	sc := bufio.NewScanner(bytes.NewReader(vb))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		v, err := sidechain.UnmarshalValidatorInfo([]byte(line))
		if err != nil {
			return fmt.Errorf("genesis: %s line %d: %w", *vals, n, err)
		}
		gv = append(gv, sidechain.GenesisValidator{Name: v.Name, PubKey: v.PubKey})
	}
	if err := sc.Err(); err != nil {
		return err
	}
	gs, err := readRegions(*regions)
	if err != nil {
		return err
	}
	doc, err := sidechain.NewGenesis(*chainID, gv, gs)
	if err != nil {
		return err
	}
	if *out == "" {
		b, err := json.MarshalIndent(doc, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "%s\n", b)
		return err
	}
	return doc.SaveAs(*out)
}

// readRegions reads a regions file: the genesis app_state.
func readRegions(path string) (sidechain.GenesisState, error) {
	var gs sidechain.GenesisState
	rb, err := os.ReadFile(path)
	if err != nil {
		return gs, err
	}
	dec := json.NewDecoder(bytes.NewReader(rb))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&gs); err != nil {
		return gs, fmt.Errorf("%s: %w", path, err)
	}
	return gs, gs.Validate()
}

func startCmd(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("sidechain start", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg sidechain.NodeConfig
	fs.StringVar(&cfg.Home, "home", "", "validator home `dir`, prepared by init (required)")
	fs.StringVar(&cfg.Moniker, "moniker", "", "validator `name` shown to peers (default: base name of --home)")
	fs.StringVar(&cfg.P2PListen, "p2p", "0.0.0.0:26656", "TCP `host:port` for peers")
	fs.StringVar(&cfg.P2PExternal, "external", "", "`host:port` peers should dial, if not --p2p")
	fs.StringVar(&cfg.RPCListen, "rpc", "127.0.0.1:26657", "TCP `host:port` of the JSON-RPC for zkstore operators and wallets (empty: none)")
	peers := fs.String("peers", "", "comma-separated persistent peers `ID@host:port` (the other validators)")
	fs.StringVar(&cfg.CometMetricsAddr, "comet-metrics", "", "`host:port` where CometBFT serves its consensus and p2p metrics")
	metrics := fs.String("metrics", "", "`host:port` of the rollup module's Prometheus endpoint")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	if err := parse(fs, args); err != nil {
		return err
	}
	for _, p := range strings.Split(*peers, ",") {
		if p = strings.TrimSpace(p); p != "" {
			cfg.Peers = append(cfg.Peers, p)
		}
	}
	log, err := daemon.NewLogger(stderr, *logLevel)
	if err != nil {
		return err
	}
	reg := daemon.NewRegistry()
	ms, err := daemon.ListenMetrics(*metrics, reg)
	if err != nil {
		return err
	}
	// cfg.Verifier stays zero: sidechain.RollupVerifier (rollup.VerifyBatch).
	node, err := sidechain.NewNode(cfg, log, reg)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	info := daemon.Info{Role: "sidechain", Peer: node.NodeID(), Addr: cfg.P2PListen, PID: os.Getpid(), Metrics: ms.Addr()}
	if err := daemon.WriteInfo(cfg.Home, info); err != nil {
		node.Close()
		return err
	}
	defer daemon.RemoveInfo(cfg.Home)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return node.Run(gctx) })
	g.Go(func() error { return ms.Run(gctx) })
	err = g.Wait()
	if cerr := node.Close(); err == nil {
		err = cerr
	}
	return err
}

func showNodeID(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sidechain show-node-id", flag.ContinueOnError)
	fs.SetOutput(stderr)
	home := fs.String("home", "", "validator home `dir` (required)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *home == "" {
		return errors.New("show-node-id: --home is required")
	}
	id, err := sidechain.ReadNodeID(*home)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, id)
	return nil
}
