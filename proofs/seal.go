package proofs

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sync"
	"unsafe"

	"github.com/ppstore/ppstore/shard"
)

// BlockSize is the unit of sealing in bytes: one 128-bit block, whose low
// 127 bits pass through the sloth permutation.
const BlockSize = 16

// Default sealing parameters (see docs/PROOFS.md for how they were chosen).
const (
	DefaultRounds          = 1
	DefaultMinSealBlocks   = 1 << 18 // 4 MiB worth of blocks: the least sequential work of any replica
	DefaultPoRepChallenges = 8
	DefaultPoStChallenges  = 8
	// MaxLayers bounds the layers of any replica, so that a forged Layers
	// value cannot make a verifier decode for ever.
	MaxLayers = 1 << 20
)

// Params are the sealing and challenge parameters a miner and a verifier
// agree on. Zero fields mean the defaults.
type Params struct {
	// Rounds is the least number of layers of sealing: each layer is one
	// sequential chain of sloth steps over every block of the replica, in
	// alternating direction.
	Rounds int `toml:"rounds"`
	// MinSealBlocks is the least total number of sloth steps (layers ×
	// blocks) of any replica, so that a small shard costs as much to seal
	// as a large one: its layer count grows instead.
	MinSealBlocks int `toml:"min_seal_blocks"`
	// PoRepChallenges is the number of pieces a proof of replication opens
	// (at most the shard's piece count).
	PoRepChallenges int `toml:"porep_challenges"`
	// PoStChallenges is the number of replica leaves opened per replica in
	// each proof-of-spacetime round.
	PoStChallenges int `toml:"post_challenges"`
}

// WithDefaults returns p with zero fields replaced by the defaults.
func (p Params) WithDefaults() Params {
	if p.Rounds == 0 {
		p.Rounds = DefaultRounds
	}
	if p.MinSealBlocks == 0 {
		p.MinSealBlocks = DefaultMinSealBlocks
	}
	if p.PoRepChallenges == 0 {
		p.PoRepChallenges = DefaultPoRepChallenges
	}
	if p.PoStChallenges == 0 {
		p.PoStChallenges = DefaultPoStChallenges
	}
	return p
}

// Validate reports whether p (with defaults) can be used. Errors wrap ErrBadParams.
func (p Params) Validate() error {
	p = p.WithDefaults()
	switch {
	case p.Rounds < 1 || p.Rounds > MaxLayers:
		return fmt.Errorf("%w: rounds %d not in [1, %d]", ErrBadParams, p.Rounds, MaxLayers)
	case p.MinSealBlocks < 1 || p.MinSealBlocks > 1<<30:
		return fmt.Errorf("%w: min seal blocks %d not in [1, 2^30]", ErrBadParams, p.MinSealBlocks)
	case p.PoRepChallenges < 1 || p.PoRepChallenges > shard.MaxPiecesPerShard:
		return fmt.Errorf("%w: PoRep challenges %d not in [1, %d]", ErrBadParams, p.PoRepChallenges, shard.MaxPiecesPerShard)
	case p.PoStChallenges < 1 || p.PoStChallenges > MaxPoStChallenges:
		return fmt.Errorf("%w: PoSt challenges %d not in [1, %d]", ErrBadParams, p.PoStChallenges, MaxPoStChallenges)
	}
	return nil
}

// Layers returns the number of sealing layers of a replica of size bytes:
// at least Rounds, and enough that layers × blocks ≥ MinSealBlocks (capped
// at MaxLayers).
func (p Params) Layers(size int64) int {
	p = p.WithDefaults()
	n := Blocks(size)
	l := p.Rounds
	if n > 0 {
		if need := (int64(p.MinSealBlocks) + n - 1) / n; need > int64(l) {
			l = int(min(need, MaxLayers))
		}
	}
	return l
}

// Blocks returns the number of BlockSize blocks of a replica of size bytes
// (the data is padded with zeros to a whole block).
func Blocks(size int64) int64 { return (size + BlockSize - 1) / BlockSize }

// ReplicaSize returns the size in bytes of the sealed replica of a shard of
// size bytes.
func ReplicaSize(size int64) int64 { return Blocks(size) * BlockSize }

// ReplicaID names one replica: the hash of the miner's peer ID, the shard's
// data root commD and the replica number. Sealing is keyed by it, so the
// replicas of one shard held by two miners (or two replica numbers) share
// nothing a miner could store once.
type ReplicaID [32]byte

// String returns id in hex.
func (id ReplicaID) String() string { return shard.Digest(id).String() }

// NewReplicaID returns the ID of replica number of the shard commD held by
// the miner whose peer ID bytes are miner.
func NewReplicaID(miner []byte, commD shard.Digest, number uint32) ReplicaID {
	h := sha256.New()
	h.Write([]byte("ppstore/replica/v1"))
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(miner)))
	h.Write(n[:])
	h.Write(miner)
	h.Write(commD[:])
	binary.BigEndian.PutUint32(n[:], number)
	h.Write(n[:])
	return ReplicaID(h.Sum(nil))
}

// sealer holds the per-replica keystream cipher.
type sealer struct {
	block  cipher.Block
	n      int64 // blocks
	layers int
}

func newSealer(id ReplicaID, size int64, layers int) *sealer {
	b, err := aes.NewCipher(id[:16])
	if err != nil {
		panic(err) // a 16-byte key never fails
	}
	return &sealer{block: b, n: Blocks(size), layers: layers}
}

// mask XORs buf, which holds blocks [lo, lo+len/16) of some layer, with
// layer's keystream: AES-128-CTR under the replica ID, counter
// layer(4) ‖ 0(4) ‖ block index(8).
func (s *sealer) mask(buf []byte, layer int, lo int64) {
	var iv [16]byte
	binary.BigEndian.PutUint32(iv[0:4], uint32(layer))
	binary.BigEndian.PutUint64(iv[8:16], uint64(lo))
	cipher.NewCTR(s.block, iv[:]).XORKeyStream(buf, buf)
}

func load(b []byte) (elem, uint64) {
	lo := binary.LittleEndian.Uint64(b[0:8])
	hi := binary.LittleEndian.Uint64(b[8:16])
	return elem{lo: lo, hi: hi & mask63}, hi &^ mask63
}

func store(b []byte, x elem, top uint64) {
	binary.LittleEndian.PutUint64(b[0:8], x.lo)
	binary.LittleEndian.PutUint64(b[8:16], x.hi|top)
}

func xorBlock(dst, src []byte) {
	a := binary.LittleEndian.Uint64(dst[0:8]) ^ binary.LittleEndian.Uint64(src[0:8])
	b := binary.LittleEndian.Uint64(dst[8:16]) ^ binary.LittleEndian.Uint64(src[8:16])
	binary.LittleEndian.PutUint64(dst[0:8], a)
	binary.LittleEndian.PutUint64(dst[8:16], b)
}

// permute applies the slow permutation to one block in place: sloth on the
// low 127 bits (the one pattern that is not a field element is left as it
// is), the top bit unchanged.
func permute(b []byte) {
	x, top := load(b)
	if x != pElem {
		x = slothEncode(x)
	}
	store(b, x, top)
}

// unpermute inverts permute.
func unpermute(b []byte) {
	x, top := load(b)
	if x != pElem {
		x = slothDecode(x)
	}
	store(b, x, top)
}

// forward reports whether layer (1-based) chains from block 0 upwards.
func forward(layer int) bool { return layer%2 == 1 }

// Seal turns the shard data into its sealed replica in place. buf holds the
// shard's size bytes followed by zero padding to ReplicaSize(size); its
// length must be ReplicaSize(size). Layer ℓ = 1..layers computes, with
// L_0 the data and s_ℓ the keystream,
//
//	L_ℓ[i] = π(L_{ℓ-1}[i] ⊕ s_ℓ[i] ⊕ L_ℓ[i∓1])
//
// where π is the sloth permutation and i∓1 is the block sealed just before
// (i-1 on odd layers, i+1 on even ones; zero at the chain's start). Every
// block depends on every block sealed before it, so the work (layers ×
// blocks sloth steps of 125 squarings each) is one sequential chain.
func Seal(id ReplicaID, size int64, layers int, buf []byte) error {
	return SealContext(context.Background(), id, size, layers, buf)
}

// sealCheck is how many blocks SealContext seals between looks at ctx.
const sealCheck = 1 << 14

// SealContext is Seal that gives up with ctx's error when ctx is done
// (buf then holds nothing usable).
func SealContext(ctx context.Context, id ReplicaID, size int64, layers int, buf []byte) error {
	if int64(len(buf)) != ReplicaSize(size) || size < 1 {
		return fmt.Errorf("%w: seal buffer of %d bytes for a %d-byte shard (want %d)", ErrBadParams, len(buf), size, ReplicaSize(size))
	}
	if layers < 1 || layers > MaxLayers {
		return fmt.Errorf("%w: %d layers not in [1, %d]", ErrBadParams, layers, MaxLayers)
	}
	s := newSealer(id, size, layers)
	for l := 1; l <= layers; l++ {
		s.mask(buf, l, 0)
		if forward(l) {
			permute(buf[0:BlockSize])
			for off := BlockSize; off < len(buf); off += BlockSize {
				if off%(sealCheck*BlockSize) == 0 && ctx.Err() != nil {
					return ctx.Err()
				}
				xorBlock(buf[off:off+BlockSize], buf[off-BlockSize:off])
				permute(buf[off : off+BlockSize])
			}
		} else {
			last := len(buf) - BlockSize
			permute(buf[last:])
			for off := last - BlockSize; off >= 0; off -= BlockSize {
				if off%(sealCheck*BlockSize) == 0 && ctx.Err() != nil {
					return ctx.Err()
				}
				xorBlock(buf[off:off+BlockSize], buf[off+BlockSize:off+2*BlockSize])
				permute(buf[off : off+BlockSize])
			}
		}
	}
	return nil
}

// Window returns the blocks of the replica, [lo, hi), needed to unseal the
// data blocks [a, b) of a replica of n blocks and layers layers: each odd
// (forward) layer needs one block before, each even one one block after.
func Window(a, b, n int64, layers int) (lo, hi int64) {
	f := int64((layers + 1) / 2)
	bw := int64(layers / 2)
	return max(0, a-f), min(n, b+bw)
}

// Unseal decodes in place the replica blocks [lo, lo+len(buf)/16) of a
// replica of size bytes, and returns the data blocks it yields, [a, b), as
// a sub-slice of buf. Each layer's blocks are decoded independently of
// each other (one squaring each), so the cost is layers squarings per
// block and any range can be decoded alone given its Window.
func Unseal(id ReplicaID, size int64, layers int, lo int64, buf []byte) (a, b int64, data []byte, err error) {
	n := Blocks(size)
	if len(buf)%BlockSize != 0 || lo < 0 || lo+int64(len(buf)/BlockSize) > n {
		return 0, 0, nil, fmt.Errorf("%w: unseal of %d bytes at block %d of %d", ErrBadParams, len(buf), lo, n)
	}
	if layers < 1 || layers > MaxLayers {
		return 0, 0, nil, fmt.Errorf("%w: %d layers not in [1, %d]", ErrBadParams, layers, MaxLayers)
	}
	a, b = unsealLayers(newSealer(id, size, layers), layers, 1, lo, buf)
	if a >= b {
		return a, a, nil, nil
	}
	return a, b, buf[(a-lo)*BlockSize : (b-lo)*BlockSize], nil
}

// unsealLayers decodes in place the layers top down to bottom of the
// replica blocks [lo, lo+len(buf)/16), which hold L_top, and returns the
// blocks [a, b) of L_{bottom-1} they yield.
func unsealLayers(s *sealer, top, bottom int, lo int64, buf []byte) (a, b int64) {
	n := s.n
	a, b = lo, lo+int64(len(buf)/BlockSize)
	for l := top; l >= bottom && a < b; l-- {
		// buf holds L_l[i] for i in [a, b) at (i-lo)*16; compute L_{l-1}.
		w := buf[(a-lo)*BlockSize : (b-lo)*BlockSize]
		m := len(w) / BlockSize
		if forward(l) {
			// L_{l-1}[i] = π⁻¹(L_l[i]) ⊕ L_l[i-1]; block a has no
			// predecessor here unless it is the chain's start.
			decodeUp(w[BlockSize:], w)
			if a == 0 {
				unpermute(w[:BlockSize])
			} else {
				a++
			}
		} else {
			// L_{l-1}[i] = π⁻¹(L_l[i]) ⊕ L_l[i+1]
			decodeDown(w[:(m-1)*BlockSize], w)
			if b == n {
				unpermute(w[(m-1)*BlockSize:])
			} else {
				b--
			}
		}
		if a < b {
			s.mask(buf[(a-lo)*BlockSize:(b-lo)*BlockSize], l, a)
		}
	}
	return a, b
}

// windowPool recycles unsealing windows (a piece and a few blocks), so
// serving a piece allocates and zeroes nothing.
var windowPool sync.Pool

// pageSize is the alignment windowBuf keeps between a window in memory and
// its offset in the replica file.
const pageSize = 4096

// windowBuf returns a pooled buffer of n bytes whose address has the same
// remainder modulo the page size as roff, the replica offset it will be
// read from, and the pooled slice to put back. A window starts a block or
// two before a piece, so a buffer aligned to the page would take the file's
// bytes at 16 bytes before a page boundary: the kernel's copy from the
// page cache then ran 7-8 times slower on the development machine
// (BenchmarkReplicaRead: 1.0-1.8 GB/s against 7.5-13.8 GB/s), on every
// piece served from a sealed replica.
func windowBuf(n int, roff int64) ([]byte, *[]byte) {
	bp, _ := windowPool.Get().(*[]byte)
	if bp == nil || cap(*bp) < n+pageSize {
		nb := make([]byte, n+pageSize)
		bp = &nb
	}
	b := (*bp)[:cap(*bp)]
	addr := int(uintptr(unsafe.Pointer(&b[0])) % pageSize)
	start := (int(roff%pageSize) - addr + pageSize) % pageSize
	return b[start : start+n], bp
}

// UnsealInto fills dst with the shard's data bytes [off, off+len(dst))
// read from a sealed replica, like UnsealRange but without allocating.
func UnsealInto(dst []byte, id ReplicaID, size int64, layers int, off int64, read func(p []byte, roff int64) error) error {
	length := int64(len(dst))
	if off < 0 || off+length > size {
		return fmt.Errorf("%w: range [%d, %d) of a %d-byte shard", ErrBadParams, off, off+length, size)
	}
	if length == 0 {
		return nil
	}
	a, b := off/BlockSize, (off+length+BlockSize-1)/BlockSize
	lo, hi := Window(a, b, Blocks(size), layers)
	buf, bp := windowBuf(int((hi-lo)*BlockSize), lo*BlockSize)
	defer windowPool.Put(bp)
	if err := read(buf, lo*BlockSize); err != nil {
		return err
	}
	if off%BlockSize != 0 || length%BlockSize != 0 {
		// A range that is not whole blocks (the end of a shard whose size
		// is not a multiple of 16): decode in the window, then copy.
		ga, gb, data, err := Unseal(id, size, layers, lo, buf)
		if err != nil {
			return err
		}
		if ga > a || gb < b {
			return fmt.Errorf("%w: window [%d, %d) yielded blocks [%d, %d), want [%d, %d)", ErrBadParams, lo, hi, ga, gb, a, b)
		}
		start := (a-ga)*BlockSize + off%BlockSize
		copy(dst, data[start:start+length])
		return nil
	}
	// Whole blocks: decode layers down to L_1 in the window, then the
	// last layer (forward) straight into dst, with no copy.
	s := newSealer(id, size, layers)
	ga, gb := lo, hi
	if layers > 1 {
		ga, gb = unsealLayers(s, layers, 2, lo, buf)
	}
	if gb < b || ga > max(a-1, 0) {
		return fmt.Errorf("%w: window [%d, %d) yielded blocks [%d, %d), want [%d, %d)", ErrBadParams, lo, hi, ga, gb, max(a-1, 0), b)
	}
	l1 := buf[(max(a-1, 0)-lo)*BlockSize : (b-lo)*BlockSize] // L_1[a-1 or 0 .. b)
	if a == 0 {
		// The chain's first block has no predecessor: L_0[0] = π⁻¹(L_1[0]).
		copy(dst[:BlockSize], l1[:BlockSize])
		unpermute(dst[:BlockSize])
		decodeUp(dst[BlockSize:], l1)
	} else {
		decodeUp(dst, l1)
	}
	s.mask(dst, 1, a)
	return nil
}

// UnsealRange returns the shard's data bytes [off, off+length) read from a
// sealed replica. read must fill p with the replica bytes at offset roff
// (an io.ReaderAt's ReadAt). The caller checks the bytes against commD.
func UnsealRange(id ReplicaID, size int64, layers int, off, length int64, read func(p []byte, roff int64) error) ([]byte, error) {
	if off < 0 || length < 0 || off+length > size {
		return nil, fmt.Errorf("%w: range [%d, %d) of a %d-byte shard", ErrBadParams, off, off+length, size)
	}
	if length == 0 {
		return []byte{}, nil
	}
	a, b := off/BlockSize, (off+length+BlockSize-1)/BlockSize
	lo, hi := Window(a, b, Blocks(size), layers)
	buf := make([]byte, (hi-lo)*BlockSize)
	if err := read(buf, lo*BlockSize); err != nil {
		return nil, err
	}
	ga, gb, data, err := Unseal(id, size, layers, lo, buf)
	if err != nil {
		return nil, err
	}
	if ga > a || gb < b {
		return nil, fmt.Errorf("%w: window [%d, %d) yielded blocks [%d, %d), want [%d, %d)", ErrBadParams, lo, hi, ga, gb, a, b)
	}
	start := (a-ga)*BlockSize + off%BlockSize
	return data[start : start+length], nil
}
