package main

import (
	"fmt"

	"github.com/ppstore/ppstore/user"
	"github.com/spf13/cobra"
)

func newRmCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "rm CID",
		Short: "Remove a file from this identity's listing and free its shards",
		Long: `Remove the file CID from the files this identity stored (ppstore ls). When
no other owner lists the file, its shards that no other file uses are deleted
from their miners, and their space shows as free at the region's bootstrap
once each miner has done so (a miner that is down is told when it is back).
A file another owner also stored stays for that owner.`,
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
			res, err := c.Remove(cmd.Context(), id)
			if err != nil {
				return err
			}
			switch {
			case !res.FileGone:
				fmt.Fprintf(cmd.ErrOrStderr(), "removed %s from your files; another owner still stores it\n", id)
			default:
				fmt.Fprintf(cmd.ErrOrStderr(), "removed %s; %d shards freed\n", id, res.Shards)
			}
			return nil
		},
	}
}
