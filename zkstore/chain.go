package zkstore

import (
	"context"
	"errors"
)

// Chain is the sidechain as the operator sees it: where batches go and which
// root it holds for a region. The sidechain's client implements it; the
// operator runs without one (proving, not submitting) until one is set.
type Chain interface {
	// SubmitBatch submits a proven batch for region and returns the height
	// of the block that accepted it.
	SubmitBatch(ctx context.Context, region string, prevRoot, newRoot [32]byte, txData, proof []byte) (height int64, err error)
	// Root returns the region's current root and the height it was read at.
	Root(ctx context.Context, region string) (root [32]byte, height int64, err error)
}

// ErrChainDiverged: the chain holds a root for the region that is neither the
// previous nor the new root of the operator's next batch. The operator stops
// submitting; an operator must find out why (another operator for the region,
// a lost database).
var ErrChainDiverged = errors.New("zkstore: the sidechain's root for the region is not the operator's")
