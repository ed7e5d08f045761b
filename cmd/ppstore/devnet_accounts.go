package main

import (
	"fmt"
	"io"

	"github.com/ppstore/ppstore/devnet"
)

// printAccounts lists the zkStore accounts of a devnet's processes (the
// operator's faucet, the verifier's paying account, each miner's), after
// the process table of `devnet status`; nothing for a region without them.
func printAccounts(w io.Writer, sts []devnet.Status) error {
	first := true
	for _, s := range sts {
		if s.Account == "" {
			continue
		}
		if first {
			fmt.Fprintln(w, "\nzkStore accounts (ppstore wallet send ADDRESS AMOUNT pays one):")
			first = false
		}
		if _, err := fmt.Fprintf(w, "  %-10s %s\n", s.Name, s.Account); err != nil {
			return err
		}
	}
	return nil
}
