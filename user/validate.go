package user

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sync"
	"unicode/utf8"

	"github.com/ppstore/ppstore/config"
	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/shard"
	"github.com/ppstore/ppstore/wire"
)

// MaxReplicas is the most replicas a put may ask for per shard: an upload
// reaches its first miner and at most wire.MaxChain more (the miner refuses
// longer chains), within the indexer's wire.MaxReplicas.
const MaxReplicas = min(wire.MaxReplicas, wire.MaxChain+1)

// ErrInput is matched (errors.Is) by every error CheckPut returns: the put
// would be refused by the indexer or a miner, so it was refused before the
// first byte was sent, and nothing was stored.
var ErrInput = errors.New("put refused before upload")

// InputError is one input of a put that the region would refuse. Field names
// it in PutOptions' and Config's terms ("name", "replicas", "size").
type InputError struct {
	Field  string
	Reason string
}

func (e *InputError) Error() string { return e.Field + ": " + e.Reason }

// Is makes every InputError match ErrInput.
func (e *InputError) Is(target error) bool { return target == ErrInput }

// ValidateName reports a file name that the indexer would refuse at commit:
// one that is not valid UTF-8 or longer than wire.MaxNameLen bytes. Any
// valid UTF-8 is accepted, control characters included (`ppstore ls`
// escapes them).
func ValidateName(name string) error {
	if !utf8.ValidString(name) {
		return &InputError{"name", fmt.Sprintf("%q is not valid UTF-8; the indexer records only UTF-8 names", name)}
	}
	if len(name) > wire.MaxNameLen {
		return &InputError{"name", fmt.Sprintf("%d bytes long; the indexer records names of at most %d bytes", len(name), wire.MaxNameLen)}
	}
	return nil
}

// ValidateReplicas reports a replica count that a put cannot reach: below 1
// or above MaxReplicas.
func ValidateReplicas(n int) error {
	if n < 1 || n > MaxReplicas {
		return &InputError{"replicas", fmt.Sprintf("%d, want 1..%d (an upload reaches at most %d miners)", n, MaxReplicas, MaxReplicas)}
	}
	return nil
}

// CheckPut reports, before anything is sent, every input of a put of r with
// opts that the indexer or a miner would refuse: the name (ValidateName), the
// replica count (opts.Replicas, 0 meaning the config's; ValidateReplicas),
// and, when r's size is known (a regular *os.File, or a reader with Len such
// as *bytes.Reader), a file too large for one commit message
// (wire.LimitFor(wire.TypeCommit)) with this config's shard size and that
// many replicas. The shard and piece sizes were checked against the shard
// package's and miners' limits when the client was made (Config.Validate).
// Every error matches ErrInput; several are joined.
func (c *Client) CheckPut(r io.Reader, opts PutOptions) error {
	var errs []error
	if err := ValidateName(opts.Name); err != nil {
		errs = append(errs, err)
	}
	replicas := opts.Replicas
	if replicas == 0 {
		replicas = c.cfg.Replicas
	}
	if err := ValidateReplicas(replicas); err != nil {
		errs = append(errs, err)
	} else if size, ok := sizeOf(r); ok {
		if err := checkCommitFits(size, int64(c.cfg.ShardSize), replicas, len(opts.Name)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// sizeOf returns the bytes left in r when they can be known without reading.
func sizeOf(r io.Reader) (int64, bool) {
	switch v := r.(type) {
	case interface{ Len() int }:
		return int64(v.Len()), true
	case *os.File:
		st, err := v.Stat()
		if err != nil || !st.Mode().IsRegular() {
			return 0, false // a pipe, a FIFO, a terminal: unknown
		}
		off, err := v.Seek(0, io.SeekCurrent)
		if err != nil {
			off = 0
		}
		return max(st.Size()-off, 0), true
	}
	return 0, false
}

// commitCost is the encoded size of a Commit as a linear function of its
// shards, replicas and name: fixed + name + shards*(perShard +
// (replicas-1)*perReceipt). The encoding has fixed-width fields only, so
// measuring small commits gives it exactly.
type commitCost struct{ fixed, perShard, perReceipt int64 }

var measureCommit = sync.OnceValue(func() commitCost {
	key := identity.FromSeed(make([]byte, 32))
	rec := wire.Receipt{Shard: shard.ShardCID(shard.Digest{}), Size: shard.MaxShardSize, Owner: key.ID(), Stored: math.MaxUint32}
	rec.Sign(key)
	size := func(shards, replicas int) int64 {
		m := shard.Manifest{Size: 1, ShardSize: shard.DefaultShardSize, PieceSize: shard.DefaultPieceSize, Shards: make([]shard.Digest, shards)}
		c := wire.Commit{Manifest: m.Encode()}
		for range shards {
			rs := make([]wire.Receipt, replicas)
			for j := range rs {
				rs[j] = rec
			}
			c.Receipts = append(c.Receipts, rs)
		}
		return int64(len(c.Append(nil)))
	}
	fixed := size(0, 0)
	perReceipt := size(1, 2) - size(1, 1)
	return commitCost{fixed: fixed, perShard: size(1, 1) - fixed, perReceipt: perReceipt}
})

// commitLen is the encoded size of the commit of a file of size bytes cut
// into shards of shardSize, with replicas receipts per shard and a name of
// nameLen bytes.
func commitLen(size, shardSize int64, replicas, nameLen int) int64 {
	shards := max((size+shardSize-1)/shardSize, 1)
	k := measureCommit()
	return k.fixed + int64(nameLen) + shards*(k.perShard+int64(replicas-1)*k.perReceipt)
}

// checkCommitFits refuses a file whose commit would exceed the largest
// message the indexer accepts, saying what to change.
func checkCommitFits(size, shardSize int64, replicas, nameLen int) error {
	limit := int64(wire.LimitFor(wire.TypeCommit, 0))
	n := commitLen(size, shardSize, replicas, nameLen)
	if n <= limit {
		return nil
	}
	shards := (size + shardSize - 1) / shardSize
	reason := fmt.Sprintf("%d bytes (%v) make %d shards of %v; recording them with %d replicas takes a %v message, over the indexer's limit of %v",
		size, config.ByteSize(size), shards, config.ByteSize(shardSize), replicas, config.ByteSize(n), config.ByteSize(limit))
	if shardSize < shard.MaxShardSize {
		reason += fmt.Sprintf("; raise shard_size in the client config (up to %v)", config.ByteSize(shard.MaxShardSize))
	}
	if replicas > 1 {
		reason += " or ask for fewer replicas"
	}
	return &InputError{"size", reason}
}
