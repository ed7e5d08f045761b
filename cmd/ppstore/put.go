package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/ppstore/ppstore/progress"
	"github.com/ppstore/ppstore/user"
	"github.com/spf13/cobra"
)

func newPutCmd() *cobra.Command {
	var (
		replicas     int
		name         string
		quiet, stats bool
	)
	cmd := &cobra.Command{
		Use:   "put [flags] FILE",
		Short: "Store a file and print its CID",
		Long: `Store FILE ("-" for standard input) in the region: it is split into shards,
each uploaded to --replicas miners. Progress goes to stderr; the file's CID
is the last line of stdout.`,
		Example: `  ppstore put --replicas 3 video.mp4
  tar c photos | ppstore put --name photos.tar -`,
		Args: exactArgs(1, `one FILE ("-" for stdin)`),
		RunE: func(cmd *cobra.Command, args []string) error {
			var (
				in   io.Reader
				size int64 = -1
			)
			if args[0] == "-" {
				in = cmd.InOrStdin()
			} else {
				f, err := os.Open(args[0])
				if err != nil {
					return err
				}
				defer f.Close()
				st, err := f.Stat()
				if err != nil {
					return err
				}
				if st.IsDir() {
					return fmt.Errorf("%s is a directory; put takes one file", args[0])
				}
				in, size = f, st.Size()
				if name == "" {
					name = filepath.Base(args[0])
				}
			}
			c, err := openClient(cmd)
			if err != nil {
				return err
			}
			defer c.Close()
			bar := progress.Discard()
			if !quiet {
				bar = progress.New(cmd.ErrOrStderr(), "put", size)
			}
			defer bar.Close()
			start := time.Now()
			id, err := c.Put(cmd.Context(), in, user.PutOptions{Name: name, Replicas: replicas, Progress: bar.Add})
			if err != nil {
				return err
			}
			bar.Finish()
			if stats {
				printStats(cmd.ErrOrStderr(), c, "put", start)
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), id.String())
			return err
		},
	}
	f := cmd.Flags()
	f.IntVar(&replicas, "replicas", 0, "replicas per shard (default from the config, 3)")
	f.StringVar(&name, "name", "", "name recorded for ls (default: the file's base name)")
	f.BoolVarP(&quiet, "quiet", "q", false, "no progress bar")
	f.BoolVar(&stats, "stats", false, "print transfer statistics to stderr")
	return cmd
}
