package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newIDCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "id",
		Short: "Print this client's peer ID",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := openClient(cmd)
			if err != nil {
				return err
			}
			defer c.Close()
			_, err = fmt.Fprintln(cmd.OutOrStdout(), c.ID())
			return err
		},
	}
}
