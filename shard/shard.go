package shard

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
)

const (
	DefaultShardSize  = 4 << 20   // default first-level shard size
	DefaultPieceSize  = 256 << 10 // default second-level piece size
	MaxPieceSize      = 1 << 20   // largest allowed piece
	MaxPiecesPerShard = 1024      // most pieces a shard may hold
	MaxShardSize      = 64 << 20  // largest allowed shard (the unit a miner stores and proves)

	ShardCodec    = 0x300001 // multicodec (private-use range) of a shard CID
	ManifestCodec = 0x300002 // multicodec (private-use range) of a manifest (file) CID
)

var (
	// ErrCorrupt reports data that does not match the hash it should have.
	ErrCorrupt = errors.New("shard: data does not match its hash")
	// ErrBadParams reports sizes, indices or CIDs that cannot be used.
	ErrBadParams = errors.New("shard: bad parameters")
	// ErrBadManifest reports a manifest that is not well formed.
	ErrBadManifest = errors.New("shard: malformed manifest")
)

// Digest is a SHA-256 digest.
type Digest [32]byte

// String returns d in lower-case hex.
func (d Digest) String() string { return hex.EncodeToString(d[:]) }

// Params are the sizes a file is cut with. Zero fields mean the defaults.
type Params struct {
	ShardSize int64
	PieceSize int64
}

// WithDefaults returns p with zero fields replaced by the defaults.
func (p Params) WithDefaults() Params {
	if p.ShardSize == 0 {
		p.ShardSize = DefaultShardSize
	}
	if p.PieceSize == 0 {
		p.PieceSize = DefaultPieceSize
	}
	return p
}

// Validate reports whether p, with defaults applied, can be used: PieceSize
// must be in [1, MaxPieceSize] and ShardSize a positive multiple of PieceSize
// of at most MaxPiecesPerShard pieces and MaxShardSize bytes. Errors wrap ErrBadParams.
func (p Params) Validate() error {
	p = p.WithDefaults()
	switch {
	case p.PieceSize < 1 || p.PieceSize > MaxPieceSize:
		return fmt.Errorf("%w: piece size %d not in [1, %d]", ErrBadParams, p.PieceSize, MaxPieceSize)
	case p.ShardSize > MaxShardSize:
		return fmt.Errorf("%w: shard size %d is more than %d", ErrBadParams, p.ShardSize, MaxShardSize)
	case p.ShardSize < 1 || p.ShardSize%p.PieceSize != 0:
		return fmt.Errorf("%w: shard size %d is not a positive multiple of piece size %d", ErrBadParams, p.ShardSize, p.PieceSize)
	case p.ShardSize/p.PieceSize > MaxPiecesPerShard:
		return fmt.Errorf("%w: shard size %d holds %d pieces of %d bytes, more than %d",
			ErrBadParams, p.ShardSize, p.ShardSize/p.PieceSize, p.PieceSize, MaxPiecesPerShard)
	}
	return nil
}

// PieceDigest returns the SHA-256 digest of a piece's bytes.
func PieceDigest(data []byte) Digest { return sha256.Sum256(data) }

// PieceCID returns the CID of the piece whose digest is d.
func PieceCID(d Digest) cid.Cid { return newCID(cid.Raw, d) }

// ShardCID returns the CID of the shard whose Merkle root is root.
func ShardCID(root Digest) cid.Cid { return newCID(ShardCodec, root) }

// ManifestCIDOf returns the CID of an encoded manifest, which is also the
// CID of the file it describes.
func ManifestCIDOf(encoded []byte) cid.Cid { return newCID(ManifestCodec, sha256.Sum256(encoded)) }

func newCID(codec uint64, d Digest) cid.Cid {
	mh, _ := multihash.Encode(d[:], multihash.SHA2_256) // the error is always nil
	return cid.NewCidV1(codec, mh)
}

// DigestOf returns the SHA-256 digest held by c after checking that c is a
// CIDv1 with the given codec and a full-length sha2-256 multihash. Errors
// wrap ErrBadParams.
func DigestOf(c cid.Cid, codec uint64) (Digest, error) {
	if !c.Defined() {
		return Digest{}, fmt.Errorf("%w: undefined cid", ErrBadParams)
	}
	if v := c.Version(); v != 1 {
		return Digest{}, fmt.Errorf("%w: cid %s has version %d, want 1", ErrBadParams, c, v)
	}
	if t := c.Type(); t != codec {
		return Digest{}, fmt.Errorf("%w: cid %s has codec %#x, want %#x", ErrBadParams, c, t, codec)
	}
	dm, err := multihash.Decode(c.Hash())
	if err != nil {
		return Digest{}, fmt.Errorf("%w: cid %s: %v", ErrBadParams, c, err)
	}
	if dm.Code != multihash.SHA2_256 || len(dm.Digest) != len(Digest{}) {
		return Digest{}, fmt.Errorf("%w: cid %s: multihash code %#x with %d-byte digest, want sha2-256 (0x12) with 32",
			ErrBadParams, c, dm.Code, len(dm.Digest))
	}
	return Digest(dm.Digest), nil
}
