package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/ppstore/ppstore/progress"
	"github.com/ppstore/ppstore/wire"
	"github.com/spf13/cobra"
)

func newLsCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "ls [flags]",
		Short: "List the files stored by this identity",
		Long: `List the files stored by this identity, one line each: CID, size, time
stored and name. A name holding characters a terminal would not show as
typed (newlines, tabs, control or format characters) is printed quoted with
Go escapes, "like\nthis"; --json prints names as they are.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := openClient(cmd)
			if err != nil {
				return err
			}
			defer c.Close()
			files, err := c.List(cmd.Context())
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if asJSON {
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
				return printJSON(w, out)
			}
			return printListing(w, files)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// printListing writes one line per file to w, whatever its name holds
// (quoteIfNeeded): CID, size, time stored (local), name.
func printListing(w io.Writer, files []wire.FileEntry) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	for _, f := range files {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", f.CID, progress.Size(int64(f.Size)), time.Unix(int64(f.Created), 0).Format("2006-01-02 15:04"), quoteIfNeeded(f.Name))
	}
	return tw.Flush()
}
