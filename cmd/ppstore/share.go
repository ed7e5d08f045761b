package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/sharecode"
	"github.com/ppstore/ppstore/user"
	"github.com/spf13/cobra"
)

// addShareCommands adds what docs/SHARING.md describes: the --identity flag,
// put's --private flag, and the share and unshare commands.
func addShareCommands(root *cobra.Command) {
	root.PersistentFlags().String("identity", "", "use the identity key in `DIR` (created on first use) instead of the config's data_dir, to act as another user")
	root.MarkPersistentFlagDirname("identity")
	if put, _, err := root.Find([]string{"put"}); err == nil && put != root {
		put.Flags().Bool("private", false, "encrypt on this machine before upload; only this identity, or the holder of a share code from it, can read the file")
	}
	root.AddCommand(newShareCmd(), newUnshareCmd())
}

// applyIdentity points cfg at the identity the command line asks for:
// --identity DIR, else the config's data_dir, else the user's config
// directory (~/.config/ppstore).
func applyIdentity(cmd *cobra.Command, cfg *user.Config) error {
	if dir, _ := cmd.Flags().GetString("identity"); dir != "" {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return fmt.Errorf("--identity %s: %w", dir, err)
		}
		cfg.DataDir = abs
		return nil
	}
	if cfg.DataDir == "" {
		dir, err := os.UserConfigDir()
		if err != nil {
			return fmt.Errorf("no data_dir in the client config and no user config directory (%v): set data_dir or pass --identity DIR", err)
		}
		cfg.DataDir = filepath.Join(dir, "ppstore")
	}
	return nil
}

// privateFlag reports put's --private.
func privateFlag(cmd *cobra.Command) bool {
	v, _ := cmd.Flags().GetBool("private")
	return v
}

func newShareCmd() *cobra.Command {
	var expires, to string
	cmd := &cobra.Command{
		Use:   "share [flags] CID",
		Short: "Print a share code that lets another identity get the file",
		Long: `Print one share code for the file CID, which this identity stored: a capability
signed by this identity naming the file, with the file's key if it is private,
an optional expiry and an optional peer that alone may use it. Anyone holding
the code can run ppstore get CODE (and play CODE); the miners check it, and
never see the key. ppstore unshare CODE revokes it.`,
		Example: `  ppstore share CID --expires 7d
  ppstore share CID --to 12D3KooW...   # only that peer (ppstore id) may use it`,
		Args:              exactArgs(1, "one CID"),
		ValidArgsFunction: noFileCompletion,
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := user.ParseFileCID(args[0])
			if err != nil {
				return err
			}
			var o user.ShareOptions
			if expires != "" {
				d, err := parseExpiry(expires)
				if err != nil {
					return &usageError{cmd: cmd, err: fmt.Errorf("--expires %s: %v", expires, err)}
				}
				o.Expires = time.Now().Add(d)
			}
			if to != "" {
				if o.To, err = identity.Parse(to); err != nil {
					return &usageError{cmd: cmd, err: fmt.Errorf("--to %s: %v (give the peer ID that ppstore id prints)", to, err)}
				}
			}
			c, err := openClient(cmd)
			if err != nil {
				return err
			}
			defer c.Close()
			code, err := c.Share(cmd.Context(), id, o)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), code.String())
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&expires, "expires", "", "the code stops working after `DURATION` (90m, 12h, 7d; default never)")
	f.StringVar(&to, "to", "", "only `PEERID` may use the code (default anyone holding it)")
	return cmd
}

func newUnshareCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "unshare CODE",
		Short: "Revoke a share code",
		Long: `Revoke a share code signed by this identity. The revocation is recorded at the
region's indexer; every miner refuses the code within 3×revocation_refresh
(30 s by default) of this command's return.`,
		Args:              exactArgs(1, "one share code"),
		ValidArgsFunction: noFileCompletion,
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := sharecode.Parse(args[0]); err != nil {
				return err
			}
			c, err := openClient(cmd)
			if err != nil {
				return err
			}
			defer c.Close()
			if err := c.Unshare(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintln(cmd.ErrOrStderr(), "revoked: the region's miners refuse this code within 30 s (3×revocation_refresh)")
			return nil
		},
	}
}

// parseExpiry reads a duration such as 90m, 12h or 7d (days are not in time.ParseDuration).
func parseExpiry(s string) (time.Duration, error) {
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseFloat(days, 64)
		if err != nil {
			return 0, fmt.Errorf("want a duration such as 90m, 12h or 7d")
		}
		d = time.Duration(n * float64(24*time.Hour))
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("want a duration such as 90m, 12h or 7d")
		}
	}
	if d <= 0 {
		return 0, fmt.Errorf("want a positive duration")
	}
	return d, nil
}
