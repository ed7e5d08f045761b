package sidechain

import (
	"fmt"

	"github.com/ppstore/ppstore/rollup"
)

// BindFunc checks that a batch's transaction data belongs to region: the
// proof binds the data to the roots, this binds it to the region, so a
// batch proven for one region is refused by another even when both share a
// verifying key and a root (every region starts from the same empty tree).
type BindFunc func(region string, txData []byte) error

// Verifier is how the App checks a batch: Bind, then Verify.
type Verifier struct {
	Verify VerifyFunc
	Bind   BindFunc
}

// RollupVerifier is the verifier of production nodes: package rollup's
// Groth16 BN254 VerifyBatch, and the region tag in the batch data
// (rollup.BatchRegion) compared with the region's (rollup.RegionTag).
var RollupVerifier = Verifier{Verify: rollup.VerifyBatch, Bind: BindRollupRegion}

// BindRollupRegion checks that the region tag written in rollup batch data
// is region's.
func BindRollupRegion(region string, txData []byte) error {
	tag, err := rollup.BatchRegion(txData)
	if err != nil {
		return err
	}
	if want := rollup.RegionTag(region); tag != want {
		return fmt.Errorf("batch data is tagged %x, region %s is %x: it was built for another region", tag[:8], region, want[:8])
	}
	return nil
}
