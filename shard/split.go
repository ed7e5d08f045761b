package shard

import (
	"io"
	"runtime"
	"sync"

	"github.com/ipfs/go-cid"
)

// Shard is one first-level shard of a file, with its piece digests.
type Shard struct {
	Index  int
	Offset int64    // byte offset of the shard in the file
	Data   []byte   // the shard's bytes (len ≤ ShardSize)
	Pieces []Digest // digest of each piece
	Root   Digest   // Merkle root over Pieces
}

// CID returns the shard's CID.
func (s *Shard) CID() cid.Cid { return ShardCID(s.Root) }

// Piece returns piece i of the shard cut at pieceSize, sharing s.Data, or
// nil if there is no such piece.
func (s *Shard) Piece(i int, pieceSize int64) []byte {
	if pieceSize < 1 || i < 0 || int64(i) >= ceilDiv(int64(len(s.Data)), pieceSize) {
		return nil
	}
	lo := int64(i) * pieceSize
	hi := min(lo+pieceSize, int64(len(s.Data)))
	return s.Data[lo:hi:hi]
}

// Splitter cuts a stream into shards, holding no more than the shard being
// cut in memory.
type Splitter struct {
	r     io.Reader
	p     Params
	next  int      // index of the next shard
	size  int64    // bytes read so far
	roots []Digest // root of every shard so far
	last  bool     // the previous shard was short: no more to read
	err   error    // sticky: io.EOF once done, or a read error
	m     *Manifest
}

// NewSplitter returns a Splitter reading r and cutting it with p (zero
// fields meaning the defaults).
func NewSplitter(r io.Reader, p Params) (*Splitter, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &Splitter{r: r, p: p.WithDefaults()}, nil
}

// Next reads and returns the next shard. It returns io.EOF after the last
// one. Each shard has its own freshly allocated Data, which the caller may
// keep. A read error is returned as is, and again by every later call.
func (s *Splitter) Next() (*Shard, error) {
	if s.err != nil {
		return nil, s.err
	}
	if s.last {
		return nil, s.finish()
	}
	// Read the shard a piece at a time, hashing each piece in the
	// background while the next one is read.
	data := make([]byte, s.p.ShardSize)
	h := newHasher(len(data), s.p.PieceSize)
	n := 0
	var err error
	for n < len(data) && err == nil {
		var m int
		m, err = io.ReadFull(s.r, data[n:n+int(s.p.PieceSize)])
		if m > 0 {
			h.add(data[n : n+m])
			n += m
		}
	}
	pieces := h.wait()
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		s.err = err
		return nil, err
	}
	if n == 0 {
		return nil, s.finish()
	}
	if n < len(data) {
		// A short shard is the last one. Give it a buffer of its own size
		// so that keeping it does not pin a whole shard's worth of memory.
		data = append(make([]byte, 0, n), data[:n]...)
		s.last = true
	}
	sh := &Shard{
		Index:  s.next,
		Offset: s.size,
		Data:   data,
		Pieces: pieces,
		Root:   MerkleRoot(pieces),
	}
	s.next++
	s.size += int64(n)
	s.roots = append(s.roots, sh.Root)
	return sh, nil
}

func (s *Splitter) finish() error {
	s.err = io.EOF
	s.m = &Manifest{
		Size:      s.size,
		ShardSize: s.p.ShardSize,
		PieceSize: s.p.PieceSize,
		Shards:    s.roots,
	}
	return s.err
}

// Manifest returns the manifest of the stream once Next has returned
// io.EOF, and nil before then. Flags are left zero for the caller to set.
func (s *Splitter) Manifest() *Manifest { return s.m }

// Split reads all of r, cutting it with p, calls fn (unless nil) for each
// shard in order and returns the file's manifest. An error from fn stops the
// split and is returned as is.
func Split(r io.Reader, p Params, fn func(*Shard) error) (*Manifest, error) {
	s, err := NewSplitter(r, p)
	if err != nil {
		return nil, err
	}
	for {
		sh, err := s.Next()
		if err == io.EOF {
			return s.Manifest(), nil
		}
		if err != nil {
			return nil, err
		}
		if fn != nil {
			if err := fn(sh); err != nil {
				return nil, err
			}
		}
	}
}

// parallelMin is the least amount of data worth hashing on more than one
// goroutine.
const parallelMin = 512 << 10

// A hasher computes the digests of a shard's pieces, in the background on
// up to GOMAXPROCS goroutines when the shard is big enough for that to pay.
type hasher struct {
	digests []Digest // one per possible piece; workers write their own entries
	n       int      // pieces added
	work    chan pieceJob
	wg      sync.WaitGroup
}

type pieceJob struct {
	i    int
	data []byte
}

// newHasher returns a hasher for the pieces of a shard of up to shardLen
// bytes.
func newHasher(shardLen int, pieceSize int64) *hasher {
	maxPieces := int(ceilDiv(int64(shardLen), pieceSize))
	h := &hasher{digests: make([]Digest, maxPieces)}
	workers := min(runtime.GOMAXPROCS(0), maxPieces)
	if workers < 2 || shardLen < parallelMin {
		return h
	}
	h.work = make(chan pieceJob, maxPieces) // adding never blocks
	for range workers {
		h.wg.Go(func() {
			for job := range h.work {
				h.digests[job.i] = PieceDigest(job.data)
			}
		})
	}
	return h
}

// add hashes the next piece, or queues it to be hashed.
func (h *hasher) add(piece []byte) {
	if h.work == nil {
		h.digests[h.n] = PieceDigest(piece)
	} else {
		h.work <- pieceJob{h.n, piece}
	}
	h.n++
}

// wait returns the digests of the pieces added once they are all hashed.
func (h *hasher) wait() []Digest {
	if h.work != nil {
		close(h.work)
		h.wg.Wait()
	}
	return h.digests[:h.n:h.n]
}

// hashPieces returns the digest of each pieceSize piece of data.
func hashPieces(data []byte, pieceSize int64) []Digest {
	h := newHasher(len(data), pieceSize)
	for lo := int64(0); lo < int64(len(data)); lo += pieceSize {
		h.add(data[lo:min(lo+pieceSize, int64(len(data)))])
	}
	return h.wait()
}

func ceilDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 {
		q++
	}
	return q
}
