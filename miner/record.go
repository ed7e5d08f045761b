package miner

import (
	"errors"
	"fmt"
	"slices"

	"github.com/ipfs/go-cid"
	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/shard"
	"github.com/ppstore/ppstore/wire"
)

// recordPlain is the record version of a shard stored as uploaded. A sealed
// replica will get its own version with the sealing parameters.
const recordPlain = 1

// keyPrefix starts every shard record key; keyEnd is the first key after them.
var (
	keyPrefix = []byte("s/")
	keyEnd    = []byte("s0")
)

// errBadRecord reports a metadata record this miner cannot read.
var errBadRecord = errors.New("miner: unreadable shard record")

// record is the metadata of one stored shard. Records are never modified in
// place: a change makes a new one, so a *record read from the store may be
// used without locks.
type record struct {
	version   uint8
	size      int64
	pieceSize int64
	stored    uint64 // unix seconds of the first upload
	pieces    []shard.Digest
	owners    []identity.PeerID
}

func recordKey(c cid.Cid) []byte { return append(slices.Clip(keyPrefix), c.Bytes()...) }

// pieceLen is the length of piece i.
func (r *record) pieceLen(i int) int64 {
	return min(r.pieceSize, r.size-int64(i)*r.pieceSize)
}

func (r *record) hasOwner(p identity.PeerID) bool { return slices.Contains(r.owners, p) }

// withOwner returns a copy of r that also lists p.
func (r *record) withOwner(p identity.PeerID) *record {
	c := *r
	c.owners = append(slices.Clip(r.owners), p)
	return &c
}

func (r *record) encode() []byte {
	e := wire.Enc{B: make([]byte, 0, 1+8+4+8+4+32*len(r.pieces)+4+40*len(r.owners))}
	e.U8(r.version)
	e.U64(uint64(r.size))
	e.U32(uint32(r.pieceSize))
	e.U64(r.stored)
	e.U32(uint32(len(r.pieces)))
	for _, d := range r.pieces {
		e.Digest(d)
	}
	e.U32(uint32(len(r.owners)))
	for _, o := range r.owners {
		e.Peer(o)
	}
	return e.B
}

func decodeRecord(b []byte) (*record, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty", errBadRecord)
	}
	if b[0] != recordPlain {
		return nil, fmt.Errorf("%w: format version %d, this miner reads %d: run a newer miner", errBadRecord, b[0], recordPlain)
	}
	d := wire.NewDec(b)
	r := &record{version: d.U8()}
	r.size = int64(d.U64())
	r.pieceSize = int64(d.U32())
	r.stored = d.U64()
	n := d.Count(32)
	r.pieces = make([]shard.Digest, n)
	for i := 0; i < n && d.Err() == nil; i++ {
		r.pieces[i] = d.Digest()
	}
	k := d.Count(4)
	r.owners = make([]identity.PeerID, k)
	for i := 0; i < k && d.Err() == nil; i++ {
		r.owners[i] = d.Peer()
	}
	if err := d.Finish(); err != nil {
		return nil, fmt.Errorf("%w: %v", errBadRecord, err)
	}
	if r.size < 1 || r.pieceSize < 1 || int64(n) != (r.size+r.pieceSize-1)/r.pieceSize {
		return nil, fmt.Errorf("%w: %d pieces of %d bytes cannot make %d bytes", errBadRecord, n, r.pieceSize, r.size)
	}
	return r, nil
}
