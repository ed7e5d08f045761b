package user

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ppstore/ppstore/sharecode"
	"github.com/ppstore/ppstore/wire"
)

// Access is how a client reads a file it may not own: what a share code
// gave it. A nil *Access reads as today: public files by CID, private files
// as their owner.
type Access struct {
	File cid.Cid
	// Key is the file key of a private file, from the code; nil for a
	// public file. It never leaves this client.
	Key []byte
	// Grant is the code's signed capability without the key
	// (sharecode.Grant's encoding): what miners are shown.
	Grant []byte
	// Code is the parsed share code.
	Code *sharecode.Code
}

// PieceRequest returns the request for pieces index .. index+count-1 of a
// shard: a GetSharedPiece carrying the grant when a holds one, else a
// GetPiece. A nil a gives a GetPiece.
func (a *Access) PieceRequest(shard cid.Cid, index, count uint32) wire.Message {
	gp := wire.GetPiece{Shard: shard, Index: index, Count: count}
	if a == nil || a.Grant == nil {
		return &gp
	}
	return &wire.GetSharedPiece{Grant: a.Grant, GetPiece: gp}
}

// Resolve reads what a user typed: a file CID (access nil: public, or
// private and owned by this identity) or a share code. A code is checked
// here as far as a client can (checksum, signature, expiry, the peer it was
// issued to); miners check it again, with the owner and revocations.
// Errors: ErrBadCID, sharecode.ErrMalformed, sharecode.ErrChecksum,
// wire.ErrShareForged, wire.ErrShareExpired, wire.ErrShareDenied.
func (c *Client) Resolve(ctx context.Context, codeOrCID string) (cid.Cid, *Access, error) {
	s := strings.TrimSpace(codeOrCID)
	if !sharecode.IsCode(s) {
		f, err := ParseFileCID(s)
		return f, nil, err
	}
	code, err := sharecode.Parse(s)
	if err != nil {
		return cid.Undef, nil, err
	}
	if err := code.Check(time.Now(), c.ID()); err != nil {
		return cid.Undef, nil, err
	}
	return code.File, &Access{File: code.File, Key: code.Key, Grant: code.Grant.Encode(), Code: code}, nil
}

// ShareOptions are the options of a new share code.
type ShareOptions = sharecode.Options

// Share signs a share code for a file this identity owns. For a private
// file the code carries its key, derived from this identity and the file's
// header (read from a miner).
func (c *Client) Share(ctx context.Context, file cid.Cid, o ShareOptions) (*sharecode.Code, error) {
	if !o.Expires.IsZero() && !o.Expires.After(time.Now()) {
		return nil, fmt.Errorf("share: expiry %v is in the past", o.Expires)
	}
	st, err := c.Stat(ctx, file)
	if err != nil {
		return nil, err
	}
	var key []byte
	if st.Private() {
		h, err := c.ReadHeader(ctx, st, nil)
		if err != nil {
			return nil, fmt.Errorf("share %v: %w", file, err)
		}
		if key, err = c.KeyFor(nil)(h); err != nil {
			return nil, err
		}
	}
	return sharecode.New(c.node.Key(), file, key, o)
}

// Unshare revokes a share code this identity signed: the indexer records
// the signed revocation and the region's miners refuse the code once they
// have pulled it (within 3×revocation_refresh, 30 s by default).
func (c *Client) Unshare(ctx context.Context, code string) error {
	sc, err := sharecode.Parse(code)
	if err != nil {
		return err
	}
	r, err := sharecode.Revoke(c.node.Key(), &sc.Grant)
	if err != nil {
		return err
	}
	var done wire.Revoked
	if err := c.callIndexer(ctx, &wire.Revoke{Revocation: r.Encode()}, &done); err != nil {
		return fmt.Errorf("recording the revocation: %w", err)
	}
	return nil
}

// refusedAccess reports a miner's refusal of a share code or of a read of a
// private file: no other replica would answer otherwise.
func refusedAccess(err error) bool {
	for _, s := range []error{wire.ErrShareExpired, wire.ErrShareForged, wire.ErrShareRevoked, wire.ErrShareDenied} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}
