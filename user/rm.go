package user

import (
	"context"
	"fmt"

	"github.com/ipfs/go-cid"
	"github.com/ppstore/ppstore/wire"
)

// RemoveResult says what a removal freed.
type RemoveResult struct {
	// FileGone is false when another owner still lists the file: only this
	// owner's listing went, and every shard stays.
	FileGone bool
	// Shards is the number of shards no file references any more; the
	// indexer tells their miners to delete them, and their space shows up
	// as free at the bootstrap once each miner has done so.
	Shards int
}

// Remove takes file out of this client's listing (ppstore rm). Errors:
// wire.ErrNotFound when this identity does not list the file.
func (c *Client) Remove(ctx context.Context, file cid.Cid) (*RemoveResult, error) {
	var res wire.Removed
	if err := c.callIndexer(ctx, &wire.Remove{CID: file}, &res); err != nil {
		return nil, fmt.Errorf("removing %s: %w", file, err)
	}
	return &RemoveResult{FileGone: res.FileGone, Shards: int(res.Shards)}, nil
}
