package indexer

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/cockroachdb/pebble"
	"github.com/ipfs/go-cid"
	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/shard"
	"github.com/ppstore/ppstore/wire"
)

// Proof status and repair (issue 6). A replica is recorded "stored" at
// commit; the region's verifier tells the indexer when it passes its PoRep
// (ReplicaProven) and when a repair's new replica replaces a failing one
// (ReplicaReplace). Keys added by layout 2:
//
//	"q/" cid                               roaring64 bitmap: the file's proven replicas (bits as in "b/");
//	                                       empty when every replica of the file is proven
//	"r/" u8 len | shard cid | file cid     u32 position × k: where the shard sits in the file
//
// and the proven epoch of each holder in "h/" (shardRec). "r/" lets a
// change to a shard's holders reach every file that lists the shard;
// Locate reads "q/" beside "f/" and "b/".

func keyProven(c cid.Cid) []byte { return append([]byte(pfxProven), c.Bytes()...) }

func fileOfPrefix(sc cid.Cid) []byte {
	k := append([]byte(pfxFileOf), byte(len(sc.Bytes())))
	return append(k, sc.Bytes()...)
}

func keyFileOf(sc, file cid.Cid) []byte { return append(fileOfPrefix(sc), file.Bytes()...) }

func encodePositions(pos []uint32) []byte {
	b := make([]byte, 0, 4*len(pos))
	for _, p := range pos {
		b = binary.BigEndian.AppendUint32(b, p)
	}
	return b
}

func setBitmap(b *pebble.Batch, key []byte, bm *roaring64.Bitmap) error {
	enc, err := bm.MarshalBinary()
	if err != nil {
		return fmt.Errorf("indexer: encode bitmap: %w", err)
	}
	return b.Set(key, enc, nil)
}

// readBitmap reads the bitmap at key; an absent key is an empty bitmap.
func (s *Store) readBitmap(key []byte) (*roaring64.Bitmap, error) {
	bm := roaring64.New()
	v, err := s.get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return bm, nil
	}
	if err != nil {
		return nil, err
	}
	if err := bm.UnmarshalBinary(v); err != nil {
		return nil, fmt.Errorf("%w: bitmap at %q: %v", ErrLayout, key, err)
	}
	return bm, nil
}

// provenBitmap reads a file's proven bitmap (empty when none is proven).
func (s *Store) provenBitmap(c cid.Cid) (*roaring64.Bitmap, error) {
	v, err := s.get(keyProven(c))
	switch {
	case errors.Is(err, pebble.ErrNotFound):
		return roaring64.New(), nil
	case err != nil:
		return nil, err
	case len(v) == 0: // all proven
		return s.readBitmap(keyBitmap(c))
	}
	q := roaring64.New()
	if err := q.UnmarshalBinary(v); err != nil {
		return nil, fmt.Errorf("%w: proven bitmap of %s: %v", ErrLayout, c, err)
	}
	return q, nil
}

// replicaBitmaps reads a file's bitmap of committed replicas and its proven
// bitmap, reading the first once when the second says "all proven".
func (s *Store) replicaBitmaps(c cid.Cid) (bm, q *roaring64.Bitmap, err error) {
	if bm, err = s.readBitmap(keyBitmap(c)); err != nil {
		return nil, nil, err
	}
	v, err := s.get(keyProven(c))
	switch {
	case errors.Is(err, pebble.ErrNotFound):
		return bm, roaring64.New(), nil
	case err != nil:
		return nil, nil, err
	case len(v) == 0: // all proven
		return bm, bm.Clone(), nil
	}
	q = roaring64.New()
	if err := q.UnmarshalBinary(v); err != nil {
		return nil, nil, fmt.Errorf("%w: proven bitmap of %s: %v", ErrLayout, c, err)
	}
	return bm, q, nil
}

// setProven writes a file's proven bitmap q (a subset of its bitmap bm):
// an empty value when q is all of bm, so that Locate of a file whose
// replicas are all proven, the steady state, decodes no second bitmap.
func setProven(b *pebble.Batch, c cid.Cid, q, bm *roaring64.Bitmap) error {
	if q.GetCardinality() == bm.GetCardinality() && q.Equals(bm) {
		return b.Set(keyProven(c), nil, nil)
	}
	return setBitmap(b, keyProven(c), q)
}

// fileRef is one file listing a shard, at the given positions.
type fileRef struct {
	file cid.Cid
	pos  []uint32
}

// filesOf returns the committed files that list shard sc.
func (s *Store) filesOf(sc cid.Cid) ([]fileRef, error) {
	pfx := fileOfPrefix(sc)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: pfx, UpperBound: prefixEnd(pfx)})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []fileRef
	for it.First(); it.Valid(); it.Next() {
		f, err := cid.Cast(it.Key()[len(pfx):])
		v := it.Value()
		if err != nil || len(v)%4 != 0 {
			return nil, fmt.Errorf("%w: file-of key %x", ErrLayout, it.Key())
		}
		ref := fileRef{file: f}
		for o := 0; o < len(v); o += 4 {
			ref.pos = append(ref.pos, binary.BigEndian.Uint32(v[o:]))
		}
		out = append(out, ref)
	}
	return out, it.Error()
}

// migrate brings a layout 1 index to layout 2: it writes the "r/" entries
// of every file (shard records without epochs read as none proven) and the
// new version, in one synced batch.
func (s *Store) migrate() error {
	b := s.db.NewBatch()
	defer b.Close()
	pfx := []byte(pfxFile)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: pfx, UpperBound: prefixEnd(pfx)})
	if err != nil {
		return err
	}
	for it.First(); it.Valid(); it.Next() {
		f, err := cid.Cast(it.Key()[len(pfx):])
		v := it.Value()
		if err != nil || len(v) < 12 {
			it.Close()
			return fmt.Errorf("%w: file key %x", ErrLayout, it.Key())
		}
		m, err := shard.DecodeManifest(v[12:])
		if err != nil {
			it.Close()
			return fmt.Errorf("%w: manifest of %s: %v", ErrLayout, f, err)
		}
		pos := map[string][]uint32{}
		for i := range m.Shards {
			k := string(keyFileOf(m.ShardCID(i), f))
			pos[k] = append(pos[k], uint32(i))
		}
		for k, p := range pos {
			b.Set([]byte(k), encodePositions(p), nil)
		}
	}
	if err := it.Close(); err != nil {
		return err
	}
	b.Set(keyVersion, binary.BigEndian.AppendUint32(nil, layoutVersion), nil)
	return s.db.Commit(b, pebble.Sync)
}

// committedShard reads the record of a shard some committed file holds;
// CodeNotCommitted otherwise.
func (s *Store) committedShard(c cid.Cid) (*shardRec, error) {
	if _, err := shard.DigestOf(c, shard.ShardCodec); err != nil {
		return nil, wire.Errorf(wire.CodeBadRequest, "not a shard CID: %v", err)
	}
	sr, err := s.shardRecord(c)
	if err != nil {
		return nil, err
	}
	if sr.refs == 0 {
		return nil, wire.Errorf(wire.CodeNotCommitted, "no committed file holds shard %v", c)
	}
	return sr, nil
}

func (s *Store) minerIndex(p identity.PeerID) (uint32, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	i, ok := s.byPeer[p]
	return i, ok
}

// MarkProven records that miner's replica of shard c passed its PoRep in
// epoch: the shard's record keeps the epoch and every file listing the
// replica shows it proven. Errors: CodeNotCommitted when no committed file
// holds c, CodeNotHolder when miner is not one of its holders.
func (s *Store) MarkProven(c cid.Cid, miner identity.PeerID, epoch uint64) (*wire.IndexUpdated, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	sr, err := s.committedShard(c)
	if err != nil {
		return nil, err
	}
	mi, ok := s.minerIndex(miner)
	h := -1
	if ok {
		h = sr.holder(mi)
	}
	if h < 0 {
		return nil, wire.Errorf(wire.CodeNotHolder, "miner %v holds no committed replica of shard %v", miner, c)
	}
	if epoch == 0 {
		return nil, wire.Errorf(wire.CodeBadRequest, "proven in epoch 0: epochs start at 1")
	}
	sr.proven[h] = epoch
	files, err := s.filesOf(c)
	if err != nil {
		return nil, err
	}
	b := s.db.NewBatch()
	defer b.Close()
	for _, f := range files {
		bm, q, err := s.replicaBitmaps(f.file)
		if err != nil {
			return nil, err
		}
		for _, si := range f.pos {
			if bit := replicaBit(int(si), mi); bm.Contains(bit) {
				q.Add(bit)
			}
		}
		if err := setProven(b, f.file, q, bm); err != nil {
			return nil, err
		}
	}
	b.Set(keyShard(c), sr.encode(), nil)
	if err := s.db.Commit(b, pebble.Sync); err != nil {
		return nil, fmt.Errorf("indexer: record the proof of %v: %w", c, err)
	}
	return &wire.IndexUpdated{Replicas: uint32(len(sr.holders)), Proven: uint32(sr.provenCount())}, nil
}

// ReplaceHolder makes miner repl a holder of shard c, proven in epoch, in
// place of failing, in one synced batch: the shard record, every file that
// listed failing's replica (its bit moves to repl's, proven), and a drop
// queued for failing's replica (DropReplicas tells it when it is back).
// The shard keeps its number of replicas. Errors: CodeNotCommitted (no
// committed file holds c), CodeNotHolder (failing does not hold it),
// CodeReplicaCount (repl holds it already), CodeUnauthorized (repl is not
// a miner this index has seen registered).
func (s *Store) ReplaceHolder(c cid.Cid, failing, repl identity.PeerID, epoch uint64) (*wire.IndexUpdated, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	sr, err := s.committedShard(c)
	if err != nil {
		return nil, err
	}
	if epoch == 0 {
		return nil, wire.Errorf(wire.CodeBadRequest, "proven in epoch 0: epochs start at 1")
	}
	fi, ok := s.minerIndex(failing)
	h := -1
	if ok {
		h = sr.holder(fi)
	}
	if h < 0 {
		return nil, wire.Errorf(wire.CodeNotHolder, "miner %v holds no committed replica of shard %v to replace", failing, c)
	}
	ni, ok := s.minerIndex(repl)
	if !ok {
		return nil, wire.Errorf(wire.CodeUnauthorized, "replace: %v is not a miner registered in this region", repl)
	}
	if sr.holder(ni) >= 0 {
		return nil, wire.Errorf(wire.CodeReplicaCount, "miner %v holds shard %v already: replacing %v by it would leave the shard one replica short", repl, c, failing)
	}
	sr.holders[h], sr.proven[h] = ni, epoch
	files, err := s.filesOf(c)
	if err != nil {
		return nil, err
	}
	b := s.db.NewBatch()
	defer b.Close()
	records := s.records.Load()
	for _, f := range files {
		bm, q, err := s.replicaBitmaps(f.file)
		if err != nil {
			return nil, err
		}
		changed := false
		for _, si := range f.pos {
			old, now := replicaBit(int(si), fi), replicaBit(int(si), ni)
			if !bm.CheckedRemove(old) {
				continue // this file did not list the failing replica
			}
			changed = true
			q.Remove(old)
			if !bm.CheckedAdd(now) {
				records--
			}
			q.Add(now)
		}
		if !changed {
			continue
		}
		if err := setBitmap(b, keyBitmap(f.file), bm); err != nil {
			return nil, err
		}
		if err := setProven(b, f.file, q, bm); err != nil {
			return nil, err
		}
	}
	b.Set(keyShard(c), sr.encode(), nil)
	b.Set(keyDrop(fi, c), nil, nil)
	b.Delete(keyDrop(ni, c), nil)
	if records != s.records.Load() {
		st := binary.BigEndian.AppendUint64(nil, s.files.Load())
		st = binary.BigEndian.AppendUint64(st, s.shards.Load())
		b.Set(keyStats, binary.BigEndian.AppendUint64(st, records), nil)
	}
	if err := s.db.Commit(b, pebble.Sync); err != nil {
		return nil, fmt.Errorf("indexer: replace a holder of %v: %w", c, err)
	}
	s.records.Store(records)
	return &wire.IndexUpdated{Replicas: uint32(len(sr.holders)), Proven: uint32(sr.provenCount())}, nil
}

// ProvenEpoch returns the epoch miner's replica of shard c passed its
// PoRep in (0: not proven, or not a holder).
func (s *Store) ProvenEpoch(c cid.Cid, miner identity.PeerID) (uint64, error) {
	sr, err := s.shardRecord(c)
	if err != nil {
		return 0, err
	}
	mi, ok := s.minerIndex(miner)
	if !ok {
		return 0, nil
	}
	if h := sr.holder(mi); h >= 0 {
		return sr.proven[h], nil
	}
	return 0, nil
}

// verifierAsk is the least time between two extra pulls of the verifiers
// on a miss, so that a stranger's reports do not turn into requests to the
// bootstrap.
const verifierAsk = time.Second

// fromVerifier checks that peer is the region's verifier, as the bootstrap
// lists it (refreshed with the miners; asked again on a miss, at most once
// per verifierAsk, so a verifier that just registered is not refused).
func (p *Peer) fromVerifier(ctx context.Context, peer identity.PeerID) error {
	p.verifierMu.Lock()
	ok := p.verifiers[peer]
	ask := !ok && time.Since(p.verifierAsked) >= verifierAsk
	if ask {
		p.verifierAsked = time.Now()
	}
	p.verifierMu.Unlock()
	if ok {
		return nil
	}
	if ask && p.client != nil {
		if err := p.RefreshVerifiers(ctx); err != nil {
			p.log.Info("cannot list the region's verifiers", "err", err)
		}
		p.verifierMu.Lock()
		ok = p.verifiers[peer]
		p.verifierMu.Unlock()
	}
	if !ok {
		return wire.Errorf(wire.CodeUnauthorized, "indexer: %v is not the region's verifier (as registered at the bootstrap); only it reports proofs", peer.Short())
	}
	return nil
}

// UpdateVerifiers installs the verifiers' records (from the bootstrap):
// only they may report proofs and repairs.
func (p *Peer) UpdateVerifiers(recs []wire.NodeRecord) {
	set := map[identity.PeerID]bool{}
	for _, r := range recs {
		if r.Role == wire.RoleVerifier && (p.cfg.Region == "" || r.Region == "" || r.Region == p.cfg.Region) {
			set[r.Peer] = true
		}
	}
	p.verifierMu.Lock()
	p.verifiers = set
	p.verifierMu.Unlock()
}

// RefreshVerifiers pulls the region's verifiers from the bootstrap once.
func (p *Peer) RefreshVerifiers(ctx context.Context) error {
	if p.client == nil {
		return nil
	}
	recs, err := p.client.List(ctx, wire.RoleVerifier)
	if err != nil {
		return fmt.Errorf("indexer: list verifiers: %w", err)
	}
	p.UpdateVerifiers(recs)
	return nil
}

// handleReplicaProven records a passed PoRep the verifier reports.
func (p *Peer) handleReplicaProven(ctx context.Context, peer identity.PeerID, req *wire.ReplicaProven) (wire.Message, error) {
	if err := p.fromVerifier(ctx, peer); err != nil {
		p.metrics.proofReports.WithLabelValues("proven", "refused").Inc()
		return nil, err
	}
	up, err := p.store.MarkProven(req.Shard, req.Miner, req.Epoch)
	if err != nil {
		p.metrics.proofReports.WithLabelValues("proven", "refused").Inc()
		p.log.Info("proof report refused", "shard", req.Shard, "miner", req.Miner.Short(), "err", err)
		return nil, err
	}
	p.metrics.proofReports.WithLabelValues("proven", "ok").Inc()
	p.log.Debug("replica proven", "shard", req.Shard, "miner", req.Miner.Short(), "epoch", req.Epoch)
	return up, nil
}

// handleReplicaReplace records a repaired replica in place of a failing
// one. Under the leases' lock, so that a lease check of the new replica
// sees it either reclaimed (and the replacement is refused) or committed.
func (p *Peer) handleReplicaReplace(ctx context.Context, peer identity.PeerID, req *wire.ReplicaReplace) (wire.Message, error) {
	if err := p.fromVerifier(ctx, peer); err != nil {
		p.metrics.proofReports.WithLabelValues("replace", "refused").Inc()
		return nil, err
	}
	l := p.leases
	l.mu.Lock()
	defer l.mu.Unlock()
	if t, ok := l.tombs[tombKey{req.Shard.KeyString(), req.New}]; ok {
		p.metrics.proofReports.WithLabelValues("replace", "refused").Inc()
		return nil, wire.Errorf(wire.CodeReclaimed, "replace: miner %v reclaimed its copy of %v at %v (its lease ended before the repair was proven); repair again", req.New.Short(), req.Shard, t.UTC().Format("15:04:05"))
	}
	up, err := p.store.ReplaceHolder(req.Shard, req.Failing, req.New, req.Epoch)
	if err != nil {
		p.metrics.proofReports.WithLabelValues("replace", "refused").Inc()
		p.log.Info("replacement refused", "shard", req.Shard, "failing", req.Failing.Short(), "new", req.New.Short(), "err", err)
		return nil, err
	}
	p.metrics.proofReports.WithLabelValues("replace", "ok").Inc()
	p.log.Info("replica replaced", "shard", req.Shard, "failing", req.Failing.Short(), "new", req.New.Short(), "epoch", req.Epoch)
	select { // the failing miner deletes its copy when it is back
	case p.dropKick <- struct{}{}:
	default:
	}
	return up, nil
}
