package main

import (
	"fmt"

	"github.com/ppstore/ppstore/user"
)

// proofColumns are stat's columns for the verifier's view of a replica:
// its proof state and the epoch of its last passed proof ("-": none yet).
func proofColumns(r user.ReplicaStat) string {
	if r.Proof == "" {
		return ""
	}
	last := "-"
	if r.LastPassEpoch > 0 {
		last = fmt.Sprintf("epoch %d", r.LastPassEpoch)
	}
	return fmt.Sprintf("\t%s\t%s", r.Proof, last)
}
