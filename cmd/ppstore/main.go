// Command ppstore is the ppstore client: put, get, stat and ls files in a
// region, and run a whole region locally with `ppstore devnet`.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ppstore/ppstore/config"
	"github.com/ppstore/ppstore/daemon"
	"github.com/ppstore/ppstore/devnet"
	"github.com/ppstore/ppstore/progress"
	"github.com/ppstore/ppstore/user"
	"github.com/ppstore/ppstore/wire"
)

const usage = `ppstore: store, fetch and inspect files in a ppstore region.

Usage:
  ppstore put [--replicas R] [--name NAME] FILE   store FILE ("-" for stdin); prints its CID last
  ppstore get CID [-o FILE]                       fetch a file (to stdout without -o)
  ppstore stat CID [--json]                       shards of a file and the miners holding them
  ppstore ls [--json]                             files stored by this identity
  ppstore id                                      this client's peer ID
  ppstore devnet start --dir DIR [--miners N]     start a whole region on this machine
  ppstore devnet status --dir DIR [--json]        its processes
  ppstore devnet stop --dir DIR                   stop them

Every command takes --config FILE (default $PPSTORE_CONFIG, then
~/.config/ppstore/client.toml); a devnet writes DIR/client.toml.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	if path := os.Getenv("PPSTORE_CPUPROFILE"); path != "" {
		// For benchmarks: profile the whole command.
		if f, err := os.Create(path); err == nil {
			pprof.StartCPUProfile(f)
			defer pprof.StopCPUProfile()
		}
	}
	err := run(ctx, os.Args[1:])
	stop()
	pprof.StopCPUProfile()
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "ppstore:", err)
		os.Exit(1)
	}
}

// parse parses flags wherever they appear among the positional arguments.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func newFlags(name string) (*flag.FlagSet, *string, *bool) {
	fs := flag.NewFlagSet("ppstore "+name, flag.ContinueOnError)
	cfg := fs.String("config", "", "client config file (default $PPSTORE_CONFIG or ~/.config/ppstore/client.toml)")
	verbose := fs.Bool("v", false, "log details to stderr")
	return fs, cfg, verbose
}

func run(ctx context.Context, args []string) error {
	// Global --config before the command.
	var globalCfg string
	for len(args) >= 2 && (args[0] == "--config" || args[0] == "-config") {
		globalCfg, args = args[1], args[2:]
	}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Print(usage)
		return nil
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "put":
		return cmdPut(ctx, globalCfg, args)
	case "get":
		return cmdGet(ctx, globalCfg, args)
	case "stat":
		return cmdStat(ctx, globalCfg, args)
	case "ls":
		return cmdLs(ctx, globalCfg, args)
	case "id":
		return cmdID(ctx, globalCfg, args)
	case "devnet":
		return cmdDevnet(ctx, args)
	default:
		return fmt.Errorf("unknown command %q\n\n%s", cmd, usage)
	}
}

func configPath(flagVal, global string) string {
	for _, p := range []string{flagVal, global, os.Getenv("PPSTORE_CONFIG")} {
		if p != "" {
			return p
		}
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".config", "ppstore", "client.toml")
	}
	return "client.toml"
}

func openClient(ctx context.Context, path string, verbose bool) (*user.Client, error) {
	var cfg user.Config
	if err := config.Load(path, &cfg); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no client config at %s: pass --config FILE or set PPSTORE_CONFIG (a devnet writes DIR/client.toml)", path)
		}
		return nil, err
	}
	if rest, ok := strings.CutPrefix(cfg.DataDir, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			cfg.DataDir = filepath.Join(home, rest)
		}
	}
	if cfg.DataDir != "" && !filepath.IsAbs(cfg.DataDir) {
		cfg.DataDir = filepath.Join(filepath.Dir(path), cfg.DataDir)
	}
	level := "error"
	if verbose {
		level = "debug"
	}
	log, _ := daemon.NewLogger(os.Stderr, level)
	return user.New(ctx, cfg, log)
}

func cmdPut(ctx context.Context, global string, args []string) error {
	fs, cfgPath, verbose := newFlags("put")
	replicas := fs.Int("replicas", 0, "replicas per shard (default from config, 3)")
	name := fs.String("name", "", "name recorded for ls (default: the file's base name)")
	quiet := fs.Bool("q", false, "no progress bar")
	stats := fs.Bool("stats", false, "print transfer statistics to stderr")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("usage: ppstore put [--replicas R] FILE")
	}
	var (
		in   io.Reader
		size int64 = -1
	)
	if pos[0] == "-" {
		in = os.Stdin
	} else {
		f, err := os.Open(pos[0])
		if err != nil {
			return err
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return err
		}
		if st.IsDir() {
			return fmt.Errorf("%s is a directory; put takes one file", pos[0])
		}
		in, size = f, st.Size()
		if *name == "" {
			*name = filepath.Base(pos[0])
		}
	}
	c, err := openClient(ctx, configPath(*cfgPath, global), *verbose)
	if err != nil {
		return err
	}
	defer c.Close()
	bar := progress.Discard()
	if !*quiet {
		bar = progress.New(os.Stderr, "put", size)
	}
	start := time.Now()
	id, err := c.Put(ctx, in, user.PutOptions{Name: *name, Replicas: *replicas, Progress: bar.Add})
	if err != nil {
		return err
	}
	bar.Finish()
	if *stats {
		printStats(c, "put", start)
	}
	fmt.Println(id.String())
	return nil
}

func cmdGet(ctx context.Context, global string, args []string) error {
	fs, cfgPath, verbose := newFlags("get")
	out := fs.String("o", "", "write to FILE instead of stdout")
	quiet := fs.Bool("q", false, "no progress bar")
	stats := fs.Bool("stats", false, "print transfer statistics to stderr")
	id, c, err := cidAndClient(ctx, fs, args, "usage: ppstore get CID [-o FILE]", cfgPath, global, verbose)
	if err != nil {
		return err
	}
	defer c.Close()
	st, err := c.Stat(ctx, id)
	if err != nil {
		if errors.Is(err, wire.ErrNotFound) {
			return fmt.Errorf("%v is not stored in this region: %w", id, err)
		}
		return err
	}
	var w io.Writer = os.Stdout
	if fi, err := os.Stat(*out); *out != "" && err == nil && !fi.Mode().IsRegular() {
		// A device or pipe (say /dev/null): write to it directly.
		f, err := os.OpenFile(*out, os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		w, *out = f, ""
	}
	fetch := func(w io.Writer) error {
		bar := progress.Discard()
		if !*quiet {
			bar = progress.New(os.Stderr, "get", st.Size)
		}
		start := time.Now()
		res, err := c.Fetch(ctx, st, w, user.GetOptions{Progress: bar.Add})
		if err != nil {
			return err
		}
		bar.Finish()
		if *stats {
			printStats(c, "get", start)
			fmt.Fprintf(os.Stderr, "stats: pieces_from_miners=%d dropped_miners=%d\n", len(res.PiecesByMiner), len(res.DroppedMiners))
		}
		return nil
	}
	if *out != "" {
		return writeFileAtomically(*out, fetch)
	}
	return fetch(w)
}

// cidAndClient parses the one CID argument of a command and opens the client.
// The flags are read when the returned client is opened, after parsing.
func cidAndClient(ctx context.Context, fs *flag.FlagSet, args []string, usage string, cfgFlag *string, global string, verbose *bool) (cid.Cid, *user.Client, error) {
	pos, err := parse(fs, args)
	if err != nil {
		return cid.Undef, nil, err
	}
	if len(pos) != 1 {
		return cid.Undef, nil, errors.New(usage)
	}
	id, err := user.ParseFileCID(pos[0])
	if err != nil {
		return cid.Undef, nil, err
	}
	c, err := openClient(ctx, configPath(*cfgFlag, global), *verbose)
	if err != nil {
		return cid.Undef, nil, err
	}
	return id, c, nil
}

func cmdStat(ctx context.Context, global string, args []string) error {
	fs, cfgPath, verbose := newFlags("stat")
	asJSON := fs.Bool("json", false, "print JSON")
	id, c, err := cidAndClient(ctx, fs, args, "usage: ppstore stat CID [--json]", cfgPath, global, verbose)
	if err != nil {
		return err
	}
	defer c.Close()
	st, err := c.Stat(ctx, id)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(st)
	}
	fmt.Printf("cid     %s\nsize    %d (%s)\nshards  %d\n", st.CID, st.Size, progress.Size(st.Size), len(st.Shards))
	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	for i, s := range st.Shards {
		for j, r := range s.Replicas {
			if j == 0 {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", i, s.CID, r.Miner, r.Status)
			} else {
				fmt.Fprintf(tw, "\t\t%s\t%s\n", r.Miner, r.Status)
			}
		}
	}
	return tw.Flush()
}

func cmdLs(ctx context.Context, global string, args []string) error {
	fs, cfgPath, verbose := newFlags("ls")
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	c, err := openClient(ctx, configPath(*cfgPath, global), *verbose)
	if err != nil {
		return err
	}
	defer c.Close()
	files, err := c.List(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		type entry struct {
			CID     string `json:"cid"`
			Name    string `json:"name"`
			Size    uint64 `json:"size"`
			Created string `json:"created"`
		}
		out := []entry{}
		for _, f := range files {
			out = append(out, entry{f.CID.String(), f.Name, f.Size, time.Unix(int64(f.Created), 0).UTC().Format(time.RFC3339)})
		}
		return printJSON(out)
	}
	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	for _, f := range files {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", f.CID, progress.Size(int64(f.Size)), time.Unix(int64(f.Created), 0).Format("2006-01-02 15:04"), f.Name)
	}
	return tw.Flush()
}

func cmdID(ctx context.Context, global string, args []string) error {
	fs, cfgPath, verbose := newFlags("id")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	c, err := openClient(ctx, configPath(*cfgPath, global), *verbose)
	if err != nil {
		return err
	}
	defer c.Close()
	fmt.Println(c.ID())
	return nil
}

func cmdDevnet(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return errors.New("usage: ppstore devnet start|status|stop --dir DIR")
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("ppstore devnet "+sub, flag.ContinueOnError)
	dir := fs.String("dir", "", "directory holding the region's data")
	fs.String("config", "", "ignored (devnet commands take --dir)")
	switch sub {
	case "start":
		miners := fs.Int("miners", 6, "number of miners")
		bin := fs.String("bin", "", "directory of the daemon binaries (default: beside ppstore, then PATH)")
		metrics := fs.Bool("metrics", true, "give every daemon a Prometheus metrics address")
		capacity := fs.String("capacity", "8GiB", "disk offered by each miner")
		host := fs.String("host", "127.0.0.1", "address the daemons listen on (new regions only)")
		if _, err := parse(fs, args); err != nil {
			return err
		}
		capb, err := config.ParseByteSize(*capacity)
		if err != nil {
			return err
		}
		if *miners < 1 {
			return errors.New("--miners must be at least 1")
		}
		_, err = devnet.Start(ctx, devnet.Options{Dir: *dir, Miners: *miners, BinDir: *bin, Metrics: *metrics, Capacity: capb, Host: *host,
			Log: func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) }})
		if err != nil {
			return err
		}
		abs, _ := filepath.Abs(*dir)
		fmt.Fprintf(os.Stderr, "region ready; client config: %s\n  ppstore --config %s put FILE\n", filepath.Join(abs, "client.toml"), filepath.Join(abs, "client.toml"))
		return nil
	case "status":
		asJSON := fs.Bool("json", false, "print JSON")
		if _, err := parse(fs, args); err != nil {
			return err
		}
		if *dir == "" {
			return errors.New("--dir is required")
		}
		sts, err := devnet.StatusOf(*dir)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(sts) // devnet.Status carries the JSON field names
		}
		tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tROLE\tPID\tSTATE\tADDR\tPEER\tMETRICS")
		for _, s := range sts {
			state := "stopped"
			if s.Running {
				state = "running"
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", s.Name, s.Role, s.PID, state, s.Addr, s.Peer, s.Metrics)
		}
		return tw.Flush()
	case "stop":
		if _, err := parse(fs, args); err != nil {
			return err
		}
		if *dir == "" {
			return errors.New("--dir is required")
		}
		return devnet.Stop(*dir, 10*time.Second)
	default:
		return fmt.Errorf("unknown devnet command %q: want start, status or stop", sub)
	}
}

func printStats(c *user.Client, what string, start time.Time) {
	st := c.Stats()
	fmt.Fprintf(os.Stderr, "stats: op=%s elapsed_s=%.3f stream_bytes_sent=%d stream_bytes_recv=%d\n",
		what, time.Since(start).Seconds(), st.StreamBytesSent, st.StreamBytesRecv)
}

func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
