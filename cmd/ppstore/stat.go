package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/ppstore/ppstore/progress"
	"github.com/ppstore/ppstore/user"
	"github.com/spf13/cobra"
)

func newStatCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "stat [flags] CID",
		Short: "Show the shards of a file and the miners holding them",
		Long: `Show the shards of the file CID and, for each replica, the miner holding it,
the indexer's status of the replica (stored, proven, failing) and whether the
miner is live at the region's bootstrap: "live" when it holds a current record
of the miner, "unreachable" when it holds none (the miner stopped at least its
record TTL ago, a minute by default), "unknown" when the bootstrap did not
answer. --json prints the same with "live": true or false per replica.
Between the two, the verifier's state of the replica (stored, proven, failing,
repairing) and the epoch of its last passed proof of spacetime; --json adds
"proof", "last_pass_epoch" and "proven_epoch" (the epoch of its PoRep).`,
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
				return err
			}
			if err := c.CheckLive(cmd.Context(), st); err != nil {
				// The indexer answered; say what is missing and show the rest.
				fmt.Fprintf(cmd.ErrOrStderr(), "ppstore: miner liveness unknown: %v\n", err)
			}
			if err := c.CheckProofs(cmd.Context(), st); err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "ppstore: proof state unknown: %v\n", err)
			}
			w := cmd.OutOrStdout()
			if asJSON {
				return printJSON(w, st)
			}
			fmt.Fprintf(w, "cid     %s\nsize    %d (%s)\nshards  %d\n", st.CID, st.Size, progress.Size(int64(st.Size)), len(st.Shards))
			tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
			for i, s := range st.Shards {
				for j, r := range s.Replicas {
					if j == 0 {
						fmt.Fprintf(tw, "%d\t%s\t%s\t%s%s\t%s\n", i, s.CID, r.Miner, r.Status, proofColumns(r), r.Liveness())
					} else {
						fmt.Fprintf(tw, "\t\t%s\t%s%s\t%s\n", r.Miner, r.Status, proofColumns(r), r.Liveness())
					}
				}
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
