package shard

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/ipfs/go-cid"
)

// FlagEncrypted marks a manifest whose file was encrypted before sharding.
const FlagEncrypted = 1

const (
	manifestMagic   = "PPMF"
	manifestVersion = 1
	// magic, version, flags, size, shard size, piece size, shard count
	headerLen = len(manifestMagic) + 1 + 4 + 8 + 4 + 4 + 8
)

// Manifest describes a file: its size, how it was cut, and the Merkle root
// of each shard. Its CID is the file's CID.
type Manifest struct {
	Size      int64 // file size in bytes
	ShardSize int64
	PieceSize int64
	Flags     uint32   // FlagEncrypted; other bits must be zero
	Shards    []Digest // Merkle root of each shard, in order
}

// Encode returns the manifest's encoding (see the package documentation).
// It does not validate m; DecodeManifest does.
func (m *Manifest) Encode() []byte {
	b := make([]byte, 0, headerLen+len(m.Shards)*len(Digest{}))
	b = append(b, manifestMagic...)
	b = append(b, manifestVersion)
	b = binary.BigEndian.AppendUint32(b, m.Flags)
	b = binary.BigEndian.AppendUint64(b, uint64(m.Size))
	b = binary.BigEndian.AppendUint32(b, uint32(m.ShardSize))
	b = binary.BigEndian.AppendUint32(b, uint32(m.PieceSize))
	b = binary.BigEndian.AppendUint64(b, uint64(len(m.Shards)))
	for _, r := range m.Shards {
		b = append(b, r[:]...)
	}
	return b
}

// DecodeManifest decodes and validates an encoded manifest. It accepts only
// the exact encoding Encode produces for a valid manifest. Errors wrap
// ErrBadManifest.
func DecodeManifest(b []byte) (*Manifest, error) {
	if len(b) < headerLen {
		return nil, fmt.Errorf("%w: %d bytes, shorter than the %d-byte header", ErrBadManifest, len(b), headerLen)
	}
	if string(b[:4]) != manifestMagic {
		return nil, fmt.Errorf("%w: bad magic %q", ErrBadManifest, b[:4])
	}
	if b[4] != manifestVersion {
		return nil, fmt.Errorf("%w: unknown version %d", ErrBadManifest, b[4])
	}
	be := binary.BigEndian
	flags := be.Uint32(b[5:])
	size := be.Uint64(b[9:])
	shardSize := be.Uint32(b[17:])
	pieceSize := be.Uint32(b[21:])
	count := be.Uint64(b[25:])
	if size > math.MaxInt64 {
		return nil, fmt.Errorf("%w: size %d too large", ErrBadManifest, size)
	}
	roots := b[headerLen:]
	if len(roots)%len(Digest{}) != 0 || uint64(len(roots)/len(Digest{})) != count {
		return nil, fmt.Errorf("%w: %d bytes of roots for %d shards", ErrBadManifest, len(roots), count)
	}
	m := &Manifest{
		Size:      int64(size),
		ShardSize: int64(shardSize),
		PieceSize: int64(pieceSize),
		Flags:     flags,
		Shards:    make([]Digest, count),
	}
	for i := range m.Shards {
		m.Shards[i] = Digest(roots[i*len(Digest{}):])
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	return m, nil
}

// validate checks that m is a manifest DecodeManifest would accept.
func (m *Manifest) validate() error {
	// The encoding has no way to say "default", so both sizes must be set.
	if m.ShardSize == 0 || m.PieceSize == 0 {
		return fmt.Errorf("%w: zero shard size %d or piece size %d", ErrBadManifest, m.ShardSize, m.PieceSize)
	}
	if err := m.Params().Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrBadManifest, err)
	}
	if m.Size < 0 {
		return fmt.Errorf("%w: negative size %d", ErrBadManifest, m.Size)
	}
	if m.Flags&^FlagEncrypted != 0 {
		return fmt.Errorf("%w: unknown flags %#x", ErrBadManifest, m.Flags&^FlagEncrypted)
	}
	if want := ceilDiv(m.Size, m.ShardSize); int64(len(m.Shards)) != want {
		return fmt.Errorf("%w: %d shards, but a %d-byte file cut at %d has %d",
			ErrBadManifest, len(m.Shards), m.Size, m.ShardSize, want)
	}
	return nil
}

// CID returns the manifest's CID, which is the file's CID.
func (m *Manifest) CID() cid.Cid { return ManifestCIDOf(m.Encode()) }

// Params returns the sizes the file was cut with.
func (m *Manifest) Params() Params { return Params{ShardSize: m.ShardSize, PieceSize: m.PieceSize} }

// ShardLen returns the length of shard i, or 0 if there is no such shard.
func (m *Manifest) ShardLen(i int) int64 {
	if i < 0 || i >= len(m.Shards) || m.ShardSize <= 0 {
		return 0
	}
	off := int64(i) * m.ShardSize
	return max(0, min(m.ShardSize, m.Size-off))
}

// PieceCount returns the number of pieces in shard i, or 0 if there is no
// such shard.
func (m *Manifest) PieceCount(i int) int {
	if m.PieceSize <= 0 {
		return 0
	}
	return int(ceilDiv(m.ShardLen(i), m.PieceSize))
}

// PieceLen returns the length of the given piece of the given shard, or 0
// if there is no such piece.
func (m *Manifest) PieceLen(shard, piece int) int64 {
	if piece < 0 || piece >= m.PieceCount(shard) {
		return 0
	}
	off := int64(piece) * m.PieceSize
	return min(m.PieceSize, m.ShardLen(shard)-off)
}

// ShardCID returns the CID of shard i, or cid.Undef if there is no such
// shard.
func (m *Manifest) ShardCID(i int) cid.Cid {
	if i < 0 || i >= len(m.Shards) {
		return cid.Undef
	}
	return ShardCID(m.Shards[i])
}
