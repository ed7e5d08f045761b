package proofs

import (
	"encoding/binary"
	"fmt"

	"github.com/ppstore/ppstore/shard"
)

// Encoding limits: bounds a parser checks before it allocates.
const (
	maxPath      = 64                        // digests in one path or range proof
	maxLeafBytes = shard.MaxShardSize + 4096 // replica bytes in one PoRep opening
	// MaxPoStProofs bounds the replica proofs in one encoded PoSt response.
	MaxPoStProofs = 1 << 16
)

type reader struct {
	b   []byte
	err error
}

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || len(r.b) < n {
		r.err = fmt.Errorf("%w: %d bytes wanted, %d left", ErrMalformed, n, len(r.b))
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) u8() int {
	b := r.take(1)
	if b == nil {
		return 0
	}
	return int(b[0])
}

func (r *reader) u16() int {
	b := r.take(2)
	if b == nil {
		return 0
	}
	return int(binary.BigEndian.Uint16(b))
}

func (r *reader) u32() uint32 {
	b := r.take(4)
	if b == nil {
		return 0
	}
	return binary.BigEndian.Uint32(b)
}

func (r *reader) u64() uint64 {
	b := r.take(8)
	if b == nil {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

func (r *reader) digests() []shard.Digest {
	n := r.u8()
	if n > maxPath {
		r.err = fmt.Errorf("%w: path of %d digests, at most %d", ErrMalformed, n, maxPath)
		return nil
	}
	b := r.take(32 * n)
	if b == nil {
		return nil
	}
	out := make([]shard.Digest, n)
	for i := range out {
		copy(out[i][:], b[32*i:])
	}
	return out
}

func appendDigests(b []byte, ds []shard.Digest) []byte {
	b = append(b, byte(len(ds)))
	for _, d := range ds {
		b = append(b, d[:]...)
	}
	return b
}

// Append appends p's encoding:
//
//	count(2) ‖ count × [ piece(4) ‖ leafLo(8) ‖ len(4) ‖ leaves ‖ n(1) ‖ n × range digest(32) ‖ m(1) ‖ m × path digest(32) ]
//
// All integers are big-endian. The encoding is canonical: ParsePoRepProof
// accepts nothing else, so Append(Parse(b)) == b.
func (p *PoRepProof) Append(b []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(p.Openings)))
	for _, o := range p.Openings {
		b = binary.BigEndian.AppendUint32(b, o.Piece)
		b = binary.BigEndian.AppendUint64(b, uint64(o.LeafLo))
		b = binary.BigEndian.AppendUint32(b, uint32(len(o.Leaves)))
		b = append(b, o.Leaves...)
		b = appendDigests(b, o.Range)
		b = appendDigests(b, o.Path)
	}
	return b
}

// ParsePoRepProof decodes Append's output. Errors wrap ErrMalformed.
func ParsePoRepProof(b []byte) (*PoRepProof, error) {
	r := &reader{b: b}
	n := r.u16()
	if n > shard.MaxPiecesPerShard {
		return nil, fmt.Errorf("%w: %d openings, at most %d", ErrMalformed, n, shard.MaxPiecesPerShard)
	}
	p := &PoRepProof{Openings: make([]PoRepOpening, 0, min(n, 64))}
	for i := 0; i < n && r.err == nil; i++ {
		var o PoRepOpening
		o.Piece = r.u32()
		lo := r.u64()
		if lo > 1<<32 {
			return nil, fmt.Errorf("%w: leaf %d", ErrMalformed, lo)
		}
		o.LeafLo = int64(lo)
		ln := r.u32()
		if ln > maxLeafBytes {
			return nil, fmt.Errorf("%w: opening of %d bytes, at most %d", ErrMalformed, ln, maxLeafBytes)
		}
		o.Leaves = r.take(int(ln))
		o.Range = r.digests()
		o.Path = r.digests()
		p.Openings = append(p.Openings, o)
	}
	if r.err != nil {
		return nil, r.err
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(r.b))
	}
	return p, nil
}

// Append appends resp's encoding:
//
//	epoch(8) ‖ count(4) ‖ count × [ replica ID(32) ‖ k(1) ‖ k × [ len(2) ‖ leaf ‖ m(1) ‖ m × digest(32) ] ]
//
// All integers are big-endian; the encoding is canonical.
func (resp *PoStResponse) Append(b []byte) []byte {
	b = binary.BigEndian.AppendUint64(b, resp.Epoch)
	b = binary.BigEndian.AppendUint32(b, uint32(len(resp.Proofs)))
	for _, pr := range resp.Proofs {
		b = append(b, pr.Replica[:]...)
		b = append(b, byte(len(pr.Openings)))
		for _, o := range pr.Openings {
			b = binary.BigEndian.AppendUint16(b, uint16(len(o.Leaf)))
			b = append(b, o.Leaf...)
			b = appendDigests(b, o.Path)
		}
	}
	return b
}

// ParsePoStResponse decodes Append's output. Errors wrap ErrMalformed.
func ParsePoStResponse(b []byte) (*PoStResponse, error) {
	r := &reader{b: b}
	resp := &PoStResponse{Epoch: r.u64()}
	n := r.u32()
	if n > MaxPoStProofs {
		return nil, fmt.Errorf("%w: %d replica proofs, at most %d", ErrMalformed, n, MaxPoStProofs)
	}
	resp.Proofs = make([]PoStProof, 0, min(int(n), 1024))
	for i := 0; i < int(n) && r.err == nil; i++ {
		var pr PoStProof
		copy(pr.Replica[:], r.take(32))
		k := r.u8()
		if k > MaxPoStChallenges {
			return nil, fmt.Errorf("%w: %d openings, at most %d", ErrMalformed, k, MaxPoStChallenges)
		}
		pr.Openings = make([]PoStOpening, 0, k)
		for j := 0; j < k && r.err == nil; j++ {
			ln := r.u16()
			if ln > LeafSize {
				return nil, fmt.Errorf("%w: leaf of %d bytes, at most %d", ErrMalformed, ln, LeafSize)
			}
			o := PoStOpening{Leaf: r.take(ln)}
			o.Path = r.digests()
			pr.Openings = append(pr.Openings, o)
		}
		resp.Proofs = append(resp.Proofs, pr)
	}
	if r.err != nil {
		return nil, r.err
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(r.b))
	}
	return resp, nil
}
