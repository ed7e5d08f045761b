package miner

import (
	"math/bits"
	"sync"

	"github.com/ppstore/ppstore/shard"
)

// Piece buffers are pooled by size class: powers of two from 4 KiB up to
// shard.MaxPieceSize.
const (
	minBufShift = 12
	maxBufShift = 20
)

var bufPools [maxBufShift - minBufShift + 1]sync.Pool

func bufClass(n int) int {
	if n <= 1<<minBufShift {
		return 0
	}
	return bits.Len(uint(n-1)) - minBufShift
}

// getBuf returns a buffer of length n (at most shard.MaxPieceSize).
func getBuf(n int) []byte {
	if n > shard.MaxPieceSize {
		return make([]byte, n)
	}
	c := bufClass(n)
	if b, ok := bufPools[c].Get().(*[]byte); ok {
		return (*b)[:n]
	}
	return make([]byte, n, 1<<(c+minBufShift))
}

// putBuf returns a buffer from getBuf to its pool.
func putBuf(b []byte) {
	if cap(b) > shard.MaxPieceSize || cap(b) < 1<<minBufShift || cap(b)&(cap(b)-1) != 0 {
		return
	}
	c := bufClass(cap(b))
	b = b[:0]
	bufPools[c].Put(&b)
}
