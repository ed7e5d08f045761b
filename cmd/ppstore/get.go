package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/ppstore/ppstore/progress"
	"github.com/ppstore/ppstore/user"
	"github.com/ppstore/ppstore/wire"
	"github.com/spf13/cobra"
)

func newGetCmd() *cobra.Command {
	var (
		out          string
		quiet, stats bool
	)
	cmd := &cobra.Command{
		Use:   "get [flags] CID",
		Short: "Fetch a file",
		Long: `Fetch the file CID from the miners holding its shards, checking every byte.
Without -o the data goes to stdout; with -o it is written to a temporary
file beside FILE and renamed over it only once complete.`,
		Example: `  ppstore get CID -o copy.mp4
  ppstore get -q CID | tar x`,
		Args:              exactArgs(1, "one CID"),
		ValidArgsFunction: noFileCompletion,
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := user.ParseFileCID(args[0])
			if err != nil {
				return err
			}
			c, err := openClient(cmd)
			if err != nil {
				return err
			}
			defer c.Close()
			st, err := c.Stat(cmd.Context(), id)
			if err != nil {
				if errors.Is(err, wire.ErrNotFound) {
					return fmt.Errorf("%v is not stored in this region: %w", id, err)
				}
				return err
			}
			w := cmd.OutOrStdout()
			if fi, err := os.Stat(out); out != "" && err == nil && !fi.Mode().IsRegular() {
				// A device or pipe (say /dev/null): write to it directly.
				f, err := os.OpenFile(out, os.O_WRONLY, 0)
				if err != nil {
					return err
				}
				defer f.Close()
				w, out = f, ""
			}
			fetch := func(w io.Writer) error {
				bar := progress.Discard()
				if !quiet {
					bar = progress.New(cmd.ErrOrStderr(), "get", st.Size)
				}
				defer bar.Close()
				start := time.Now()
				res, err := c.Fetch(cmd.Context(), st, w, user.GetOptions{Progress: bar.Add})
				if err != nil {
					return err
				}
				bar.Finish()
				if stats {
					printStats(cmd.ErrOrStderr(), c, "get", start)
					fmt.Fprintf(cmd.ErrOrStderr(), "stats: pieces_from_miners=%d dropped_miners=%d\n", len(res.PiecesByMiner), len(res.DroppedMiners))
				}
				return nil
			}
			if out != "" {
				return writeFileAtomically(out, fetch)
			}
			return fetch(w)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&out, "output", "o", "", "write to `FILE` instead of stdout")
	f.BoolVarP(&quiet, "quiet", "q", false, "no progress bar")
	f.BoolVar(&stats, "stats", false, "print transfer statistics to stderr")
	return cmd
}
