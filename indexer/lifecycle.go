package indexer

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/cockroachdb/pebble"
	"github.com/ipfs/go-cid"
	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/shard"
	"github.com/ppstore/ppstore/wire"
)

// shardRec is a shard's entry in the index, whatever files it belongs to:
// the miners holding a committed replica, the epoch each passed its PoRep
// in (0: not proven yet; told by the verifier, proven.go), and the number of
// references to it (one per shard position of each committed file; a shard
// used twice by one file counts twice). When the last reference goes, every
// holder is told to delete its replica.
//
//	h/<shard CID> → refs(4) | n(4) | miner index(4) × n | proven epoch(8) × n
//
// (Layout 1 wrote no epochs; such a record reads as none proven.)
type shardRec struct {
	refs    uint32
	holders []uint32 // miner indices
	proven  []uint64 // per holder: epoch of its passed PoRep, 0 if none
}

// add makes miner index mi a holder, not proven yet.
func (r *shardRec) add(mi uint32) {
	r.holders = append(r.holders, mi)
	r.proven = append(r.proven, 0)
}

// holder returns mi's position in holders, or -1.
func (r *shardRec) holder(mi uint32) int {
	for i, h := range r.holders {
		if h == mi {
			return i
		}
	}
	return -1
}

// provenCount is the number of holders with a passed PoRep.
func (r *shardRec) provenCount() int {
	n := 0
	for _, e := range r.proven {
		if e > 0 {
			n++
		}
	}
	return n
}

func keyShard(c cid.Cid) []byte { return append([]byte(pfxShard), c.Bytes()...) }

func keyOwnedBy(c cid.Cid, owner identity.PeerID) []byte {
	k := append([]byte(pfxOwnedBy), byte(len(c.Bytes())))
	return append(append(k, c.Bytes()...), owner.Bytes()...)
}

func ownedByPrefix(c cid.Cid) []byte {
	k := append([]byte(pfxOwnedBy), byte(len(c.Bytes())))
	return append(k, c.Bytes()...)
}

func keyDrop(mi uint32, c cid.Cid) []byte {
	return append(binary.BigEndian.AppendUint32([]byte(pfxDrop), mi), c.Bytes()...)
}

func (r *shardRec) encode() []byte {
	b := binary.BigEndian.AppendUint32(nil, r.refs)
	b = binary.BigEndian.AppendUint32(b, uint32(len(r.holders)))
	for _, h := range r.holders {
		b = binary.BigEndian.AppendUint32(b, h)
	}
	for i := range r.holders {
		var e uint64
		if i < len(r.proven) {
			e = r.proven[i]
		}
		b = binary.BigEndian.AppendUint64(b, e)
	}
	return b
}

func decodeShardRec(v []byte) (*shardRec, error) {
	if len(v) < 8 {
		return nil, fmt.Errorf("%w: shard record of %d bytes", ErrLayout, len(v))
	}
	n := uint64(binary.BigEndian.Uint32(v[4:]))
	withEpochs := uint64(len(v)) == 8+12*n
	if !withEpochs && uint64(len(v)) != 8+4*n {
		return nil, fmt.Errorf("%w: shard record of %d bytes", ErrLayout, len(v))
	}
	r := &shardRec{refs: binary.BigEndian.Uint32(v), holders: make([]uint32, 0, n), proven: make([]uint64, n)}
	for o := 8; o < 8+4*int(n); o += 4 {
		r.holders = append(r.holders, binary.BigEndian.Uint32(v[o:]))
	}
	if withEpochs {
		for i := range r.proven {
			r.proven[i] = binary.BigEndian.Uint64(v[8+4*int(n)+8*i:])
		}
	}
	return r, nil
}

// shardRecord reads a shard's record; a shard the index does not know has an
// empty one.
func (s *Store) shardRecord(c cid.Cid) (*shardRec, error) {
	v, err := s.get(keyShard(c))
	if errors.Is(err, pebble.ErrNotFound) {
		return &shardRec{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("indexer: read shard %s: %w", c, err)
	}
	return decodeShardRec(v)
}

// peersOf maps miner indices to peer IDs.
func (s *Store) peersOf(idx []uint32) []identity.PeerID {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]identity.PeerID, 0, len(idx))
	for _, i := range idx {
		if int(i) < len(s.miners) {
			out = append(out, s.miners[i].peer)
		}
	}
	return out
}

// Holders returns the miners holding a committed replica of a shard, with
// their last known addresses.
func (s *Store) Holders(c cid.Cid) ([]wire.NodeAddr, error) {
	sr, err := s.shardRecord(c)
	if err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]wire.NodeAddr, 0, len(sr.holders))
	for _, i := range sr.holders {
		if int(i) < len(s.miners) {
			out = append(out, wire.NodeAddr{Peer: s.miners[i].peer, Addr: s.miners[i].addr})
		}
	}
	return out, nil
}

// Registered reports whether p is in the miner table (seen at the bootstrap).
func (s *Store) Registered(p identity.PeerID) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ok := s.byPeer[p]
	return ok
}

// Remove takes file c out of owner's listing. When no owner lists it any
// more the file goes, and every shard it was the last reference of is queued
// for deletion at its holders (PendingDrops). Everything happens in one
// synced batch. Errors: CodeNotFound when owner does not list c.
func (s *Store) Remove(owner identity.PeerID, c cid.Cid) (*wire.Removed, error) {
	if err := checkFileCID(c); err != nil {
		return nil, err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if _, err := s.get(keyOwner(owner, c)); errors.Is(err, pebble.ErrNotFound) {
		return nil, wire.Errorf(wire.CodeNotFound, "you have no file %s in this region; `ppstore ls` lists yours", c)
	} else if err != nil {
		return nil, fmt.Errorf("indexer: read listing of %s: %w", c, err)
	}
	b := s.db.NewBatch()
	defer b.Close()
	b.Delete(keyOwner(owner, c), nil)
	b.Delete(keyOwnedBy(c, owner), nil)

	// Another owner keeps the file alive.
	pfx := ownedByPrefix(c)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: pfx, UpperBound: prefixEnd(pfx)})
	if err != nil {
		return nil, err
	}
	others := false
	for it.First(); it.Valid(); it.Next() {
		if !bytes.Equal(it.Key(), keyOwnedBy(c, owner)) {
			others = true
			break
		}
	}
	if err := it.Close(); err != nil {
		return nil, fmt.Errorf("indexer: owners of %s: %w", c, err)
	}
	res := &wire.Removed{}
	files, shards, records := s.files.Load(), s.shards.Load(), s.records.Load()
	if !others {
		fv, err := s.get(keyFile(c))
		if err != nil {
			return nil, fmt.Errorf("indexer: read file %s: %w", c, err)
		}
		if len(fv) < 12 {
			return nil, fmt.Errorf("%w: file record of %s is %d bytes", ErrLayout, c, len(fv))
		}
		m, err := shard.DecodeManifest(fv[12:])
		if err != nil {
			return nil, fmt.Errorf("%w: manifest of %s: %v", ErrLayout, c, err)
		}
		if bv, err := s.get(keyBitmap(c)); err == nil {
			bm := roaring64.New()
			if err := bm.UnmarshalBinary(bv); err == nil {
				records -= min(records, bm.GetCardinality())
			}
		}
		b.Delete(keyFile(c), nil)
		b.Delete(keyBitmap(c), nil)
		b.Delete(keyProven(c), nil)
		files--
		shards -= min(shards, uint64(len(m.Shards)))
		srecs := map[string]*shardRec{}
		var order []cid.Cid
		for i := range m.Shards {
			sc := m.ShardCID(i)
			sr, ok := srecs[sc.KeyString()]
			if !ok {
				if sr, err = s.shardRecord(sc); err != nil {
					return nil, err
				}
				srecs[sc.KeyString()] = sr
				order = append(order, sc)
			}
			if sr.refs > 0 {
				sr.refs--
			}
		}
		for _, sc := range order {
			b.Delete(keyFileOf(sc, c), nil)
			sr := srecs[sc.KeyString()]
			if sr.refs > 0 {
				b.Set(keyShard(sc), sr.encode(), nil)
				continue
			}
			b.Delete(keyShard(sc), nil)
			for _, mi := range sr.holders {
				b.Set(keyDrop(mi, sc), nil, nil)
			}
			res.Shards++
		}
		res.FileGone = true
	}
	st := binary.BigEndian.AppendUint64(nil, files)
	st = binary.BigEndian.AppendUint64(st, shards)
	b.Set(keyStats, binary.BigEndian.AppendUint64(st, records), nil)
	if err := s.db.Commit(b, pebble.Sync); err != nil {
		return nil, fmt.Errorf("indexer: write removal of %s: %w", c, err)
	}
	s.files.Store(files)
	s.shards.Store(shards)
	s.records.Store(records)
	return res, nil
}

// Drops are the replicas one miner is to delete.
type Drops struct {
	Miner  wire.NodeAddr
	Shards []cid.Cid
}

// PendingDrops returns the queued deletions, per miner, at most
// wire.MaxLeaseBatch shards per entry.
func (s *Store) PendingDrops() ([]Drops, error) {
	pfx := []byte(pfxDrop)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: pfx, UpperBound: prefixEnd(pfx)})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []Drops
	last := uint32(1<<32 - 1)
	for it.First(); it.Valid(); it.Next() {
		k := it.Key()
		if len(k) < len(pfx)+4 {
			return nil, fmt.Errorf("%w: drop key %x", ErrLayout, k)
		}
		mi := binary.BigEndian.Uint32(k[len(pfx):])
		c, err := cid.Cast(k[len(pfx)+4:])
		if err != nil {
			return nil, fmt.Errorf("%w: drop key %x: %v", ErrLayout, k, err)
		}
		if mi != last || len(out[len(out)-1].Shards) >= wire.MaxLeaseBatch {
			s.mu.RLock()
			var a wire.NodeAddr
			if int(mi) < len(s.miners) {
				a = wire.NodeAddr{Peer: s.miners[mi].peer, Addr: s.miners[mi].addr}
			}
			s.mu.RUnlock()
			out = append(out, Drops{Miner: a})
			last = mi
		}
		out[len(out)-1].Shards = append(out[len(out)-1].Shards, c)
	}
	return out, it.Error()
}

// DoneDrops takes deletions a miner confirmed off the queue.
func (s *Store) DoneDrops(miner identity.PeerID, shards []cid.Cid) error {
	s.mu.RLock()
	mi, ok := s.byPeer[miner]
	s.mu.RUnlock()
	if !ok {
		return nil
	}
	b := s.db.NewBatch()
	defer b.Close()
	for _, c := range shards {
		b.Delete(keyDrop(mi, c), nil)
	}
	return s.db.Commit(b, pebble.Sync)
}

// Committed reports whether miner holds a committed replica of shard c.
func (s *Store) Committed(c cid.Cid, miner identity.PeerID) (bool, error) {
	sr, err := s.shardRecord(c)
	if err != nil {
		return false, err
	}
	s.mu.RLock()
	mi, ok := s.byPeer[miner]
	s.mu.RUnlock()
	if !ok {
		return false, nil
	}
	for _, h := range sr.holders {
		if h == mi {
			return true, nil
		}
	}
	return false, nil
}
