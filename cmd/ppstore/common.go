package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ppstore/ppstore/config"
	"github.com/ppstore/ppstore/daemon"
	"github.com/ppstore/ppstore/devnet"
	"github.com/ppstore/ppstore/discover"
	"github.com/ppstore/ppstore/user"
	"github.com/spf13/cobra"
)

// configPath is the client config file a command uses: --config, else
// $PPSTORE_CONFIG, else ~/.config/ppstore/client.toml.
func configPath(cmd *cobra.Command) string {
	p, _ := cmd.Flags().GetString("config")
	if p == "" {
		p = os.Getenv("PPSTORE_CONFIG")
	}
	if p != "" {
		return p
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".config", "ppstore", "client.toml")
	}
	return "client.toml"
}

// openClient loads the client config of cmd and connects to the region.
func openClient(cmd *cobra.Command) (*user.Client, error) {
	path := configPath(cmd)
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
	if verbose, _ := cmd.Flags().GetBool("verbose"); verbose {
		level = "debug"
	}
	log, _ := daemon.NewLogger(cmd.ErrOrStderr(), level)
	return user.New(cmd.Context(), cfg, log)
}

// printStats writes the client's transfer counters to w, one line.
func printStats(w io.Writer, c *user.Client, what string, start time.Time) {
	st := c.Stats()
	fmt.Fprintf(w, "stats: op=%s elapsed_s=%.3f stream_bytes_sent=%d stream_bytes_recv=%d\n",
		what, time.Since(start).Seconds(), st.StreamBytesSent, st.StreamBytesRecv)
}

// printJSON writes v to w as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// noFileCompletion completes nothing (arguments such as CIDs).
func noFileCompletion(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
	return nil, cobra.ShellCompDirectiveNoFileComp
}

// noBootstrapError is a command that could not reach the region because no
// bootstrap answered. Its message says so first, names the config in use and
// how to get a region running.
type noBootstrapError struct {
	config string // the client config file in use
	devnet string // the devnet directory holding config, if it is one
	err    error  // what the client reported (wraps discover.ErrNoBootstrap)
}

func (e *noBootstrapError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "no bootstrap answered: the region of %s cannot be reached\n", e.config)
	if e.devnet != "" {
		fmt.Fprintf(&b, "  that config belongs to the devnet in %s; start it with: ppstore devnet start --dir %s\n", e.devnet, e.devnet)
	} else {
		b.WriteString("  check the bootstrap addresses in that file, or run a region on this machine:\n")
		b.WriteString("  ppstore devnet start --dir DIR, then ppstore --config DIR/client.toml ...\n")
	}
	fmt.Fprintf(&b, "  details: %v", e.err)
	return b.String()
}

func (e *noBootstrapError) Unwrap() error { return e.err }

// explain turns an error of cmd into the one the user should read: a region
// that cannot be reached becomes a noBootstrapError.
func explain(cmd *cobra.Command, err error) error {
	var nb *noBootstrapError
	if cmd == nil || !errors.Is(err, discover.ErrNoBootstrap) || errors.As(err, &nb) {
		return err
	}
	path := configPath(cmd)
	nb = &noBootstrapError{config: path, err: err}
	if abs, aerr := filepath.Abs(path); aerr == nil {
		nb.config = abs
		dir := filepath.Dir(abs)
		if _, serr := os.Stat(filepath.Join(dir, devnet.StateFile)); serr == nil {
			nb.devnet = dir
		}
	}
	return nb
}

// quoteIfNeeded returns s as it is when a terminal shows it as one line of
// plain text, and otherwise quoted with Go escapes (strconv.Quote): names
// holding newlines, tabs, escape sequences and other control or format
// characters, invalid UTF-8, or a leading double quote (so that a name shown
// bare never looks quoted) are quoted; an empty name stays empty.
func quoteIfNeeded(s string) string {
	if s == "" {
		return s
	}
	if !utf8.ValidString(s) || s[0] == '"' {
		return strconv.Quote(s)
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}
