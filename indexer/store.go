package indexer

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"
	"github.com/ipfs/go-cid"
	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/internal/pebbledb"
	"github.com/ppstore/ppstore/shard"
	"github.com/ppstore/ppstore/wire"
)

// layoutVersion is the on-disk layout described in the package documentation.
// Layout 2 added the proof status (epochs in "h/", "q/" and "r/"); a layout
// 1 database is migrated when opened (migrate, proven.go).
const layoutVersion = 2

// ErrLayout reports a database written in a layout this build cannot read.
var ErrLayout = errors.New("indexer: unsupported database layout")

// minerBits is the width of the miner index in a bitmap bit (see the package
// documentation): a region holds at most 1<<minerBits miners.
const minerBits = 24

// MaxMiners is the most miners one index can number.
const MaxMiners = 1 << minerBits

// replicaBit is the bitmap bit of a replica of shard si on miner mi.
func replicaBit(si int, mi uint32) uint64 { return uint64(si)<<minerBits | uint64(mi) }

// errMinersFull reports a full miner table.
var errMinersFull = wire.Errorf(wire.CodeUnavailable, "indexer: the miner table is full (%d miners); this index cannot number more", MaxMiners)

var (
	keyVersion = []byte("s/version")
	keyStats   = []byte("s/stats")
)

const (
	pfxMiner    = "m/"
	pfxMinerIdx = "n/"
	pfxFile     = "f/"
	pfxBitmap   = "b/"
	pfxOwner    = "o/"
	pfxShard    = "h/" // shard CID → holders and references (lifecycle.go)
	pfxOwnedBy  = "w/" // file CID, owner → nothing: who lists a file
	pfxDrop     = "x/" // miner index, shard CID → nothing: replicas to delete
	pfxProven   = "q/" // file CID → bitmap of its proven replicas (proven.go)
	pfxFileOf   = "r/" // shard CID, file CID → the shard's positions in the file (proven.go)
)

func keyMiner(p identity.PeerID) []byte { return append([]byte(pfxMiner), p.Bytes()...) }

func keyMinerIdx(i uint32) []byte { return binary.BigEndian.AppendUint32([]byte(pfxMinerIdx), i) }

func keyFile(c cid.Cid) []byte { return append([]byte(pfxFile), c.Bytes()...) }

func keyBitmap(c cid.Cid) []byte { return append([]byte(pfxBitmap), c.Bytes()...) }

func ownerPrefix(p identity.PeerID) []byte {
	pb := p.Bytes()
	k := make([]byte, 0, len(pfxOwner)+1+len(pb)+40)
	k = append(k, pfxOwner...)
	k = append(k, byte(len(pb)))
	return append(k, pb...)
}

func keyOwner(p identity.PeerID, c cid.Cid) []byte { return append(ownerPrefix(p), c.Bytes()...) }

// prefixEnd returns the smallest key greater than every key starting with p.
func prefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}

// minerInfo is one row of the cached miner table.
type minerInfo struct {
	peer identity.PeerID
	addr string
}

// StoreOptions tune the pebble database. Zero values mean defaults.
type StoreOptions struct {
	CacheSize int64        // pebble block cache; default 64 MiB
	Logger    *slog.Logger // pebble's own messages, at debug level; default discard
	FS        vfs.FS       // the file system of the index; nil: the operating system's (tests fail it with internal/faultfs)
}

// Store is the indexer's durable index. It is safe for concurrent use:
// lookups run in parallel, writes are serialised.
type Store struct {
	db *pebbledb.DB

	wmu sync.Mutex // serialises writers: miner index assignment, bitmap merges, stats

	mu     sync.RWMutex // guards miners and byPeer
	miners []minerInfo
	byPeer map[identity.PeerID]uint32

	files, shards, records atomic.Uint64

	closeOnce sync.Once
	closeErr  error
}

// OpenStore opens (creating if needed) the index in dir.
func OpenStore(dir string, o StoreOptions) (*Store, error) {
	if o.CacheSize <= 0 {
		o.CacheSize = 64 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	cache := pebble.NewCache(o.CacheSize)
	defer cache.Unref()
	db, err := pebbledb.Open(dir, pebbledb.Options{Name: "indexer", Logger: o.Logger, FS: o.FS, Pebble: &pebble.Options{Cache: cache}})
	if err != nil {
		return nil, fmt.Errorf("indexer: %w", err)
	}
	s := &Store{db: db, byPeer: map[identity.PeerID]uint32{}}
	if err := s.load(); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// load checks the layout version and reads the miner table and the counters.
func (s *Store) load() error {
	v, err := s.get(keyVersion)
	switch {
	case errors.Is(err, pebble.ErrNotFound):
		if err := s.db.Set(keyVersion, binary.BigEndian.AppendUint32(nil, layoutVersion), pebble.Sync); err != nil {
			return fmt.Errorf("indexer: write layout version: %w", err)
		}
	case err != nil:
		return fmt.Errorf("indexer: read layout version: %w", err)
	case len(v) == 4 && binary.BigEndian.Uint32(v) == 1:
		if err := s.migrate(); err != nil {
			return fmt.Errorf("indexer: migrate the index from layout 1 to %d: %w", layoutVersion, err)
		}
	case len(v) != 4 || binary.BigEndian.Uint32(v) != layoutVersion:
		return fmt.Errorf("%w: found version %x, this build reads %d; use a matching build or a fresh data_dir", ErrLayout, v, layoutVersion)
	}
	if st, err := s.get(keyStats); err == nil && len(st) == 24 {
		s.files.Store(binary.BigEndian.Uint64(st))
		s.shards.Store(binary.BigEndian.Uint64(st[8:]))
		s.records.Store(binary.BigEndian.Uint64(st[16:]))
	} else if err != nil && !errors.Is(err, pebble.ErrNotFound) {
		return fmt.Errorf("indexer: read stats: %w", err)
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte(pfxMinerIdx), UpperBound: prefixEnd([]byte(pfxMinerIdx))})
	if err != nil {
		return err
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		k, v := it.Key(), it.Value()
		if len(k) != len(pfxMinerIdx)+4 {
			return fmt.Errorf("%w: miner table key %x", ErrLayout, k)
		}
		idx := binary.BigEndian.Uint32(k[len(pfxMinerIdx):])
		if int(idx) != len(s.miners) {
			return fmt.Errorf("%w: miner table has a hole before index %d", ErrLayout, idx)
		}
		mi, err := decodeMinerRow(v)
		if err != nil {
			return fmt.Errorf("indexer: miner %d: %w", idx, err)
		}
		s.miners = append(s.miners, mi)
		s.byPeer[mi.peer] = idx
	}
	return it.Error()
}

func encodeMinerRow(m minerInfo) []byte {
	pb := m.peer.Bytes()
	b := make([]byte, 0, 1+len(pb)+len(m.addr))
	b = append(b, byte(len(pb)))
	b = append(b, pb...)
	return append(b, m.addr...)
}

func decodeMinerRow(v []byte) (minerInfo, error) {
	if len(v) < 1 || len(v) < 1+int(v[0]) {
		return minerInfo{}, fmt.Errorf("%w: short miner row", ErrLayout)
	}
	p, err := identity.IDFromBytes(v[1 : 1+v[0]])
	if err != nil {
		return minerInfo{}, fmt.Errorf("%w: miner row: %v", ErrLayout, err)
	}
	return minerInfo{peer: p, addr: string(v[1+v[0]:])}, nil
}

// get returns a copy of the value at key.
func (s *Store) get(key []byte) ([]byte, error) {
	v, c, err := s.db.Get(key)
	if err != nil {
		return nil, err
	}
	out := bytes.Clone(v)
	c.Close()
	return out, nil
}

// Close closes the database. It is idempotent.
func (s *Store) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.db.Close() })
	return s.closeErr
}

// Files is the number of files in the index.
func (s *Store) Files() uint64 { return s.files.Load() }

// Shards is the number of shards of all files in the index.
func (s *Store) Shards() uint64 { return s.shards.Load() }

// ShardRecords is the number of (shard, miner) records in the index: one per
// replica.
func (s *Store) ShardRecords() uint64 { return s.records.Load() }

// Miners is the number of miners ever seen.
func (s *Store) Miners() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.miners)
}

// Commit checks a commit from owner (see the package documentation) and, if
// every check passes, records the file, its replicas and the owner's listing
// entry durably. Re-committing a file adds the new replicas to the known ones.
// Errors are *wire.Error values naming the shard and miner at fault; when one
// is returned nothing was written.
func (s *Store) Commit(owner identity.PeerID, c *wire.Commit, now time.Time) (cid.Cid, error) {
	return s.CommitHeld(owner, c, now, nil)
}

// CommitHeld is Commit where a shard without receipts takes as replicas the
// miners the index holds it on (shard records) and those held(shard) names
// (replicas reported stored by puts under way); such a shard with no holder
// at all is refused with CodeBadRequest. held may be nil.
func (s *Store) CommitHeld(owner identity.PeerID, c *wire.Commit, now time.Time, held func(shard cid.Cid) []identity.PeerID) (cid.Cid, error) {
	rec, err := checkCommit(owner, c)
	if err != nil {
		return cid.Undef, err
	}
	for i, ms := range rec.replicas {
		if len(ms) > 0 {
			continue
		}
		sr, err := s.shardRecord(rec.shardCIDs[i])
		if err != nil {
			return cid.Undef, err
		}
		ms = s.peersOf(sr.holders)
		if held != nil {
			for _, p := range held(rec.shardCIDs[i]) {
				if !slices.Contains(ms, p) {
					ms = append(ms, p)
				}
			}
		}
		if len(ms) == 0 {
			return cid.Undef, wire.Errorf(wire.CodeBadRequest, "commit: shard %d (%v) has no receipt and no miner holds it; put the file again", i, rec.shardCIDs[i])
		}
		rec.replicas[i] = ms
	}
	// Only miners this index has seen registered at the bootstrap may hold
	// replicas: a receipt signed by a key nobody has heard of proves nothing
	// and would grow the miner table without bound.
	s.mu.RLock()
	for i, ms := range rec.replicas {
		for _, p := range ms {
			if _, ok := s.byPeer[p]; !ok {
				s.mu.RUnlock()
				return cid.Undef, wire.Errorf(wire.CodeUnauthorized,
					"commit: shard %d: receipt from %v, which is not a miner registered in this region", i, p)
			}
		}
	}
	s.mu.RUnlock()
	if err := verifyReceipts(c); err != nil {
		return cid.Undef, err
	}
	rec.created = uint64(now.Unix())
	if err := s.write([]fileRecord{rec}, pebble.Sync); err != nil {
		return cid.Undef, err
	}
	return rec.cid, nil
}

// fileRecord is one checked commit, ready to be written.
type fileRecord struct {
	cid      cid.Cid
	manifest []byte
	shards   int
	size     uint64
	owner    identity.PeerID
	name     string
	replicas [][]identity.PeerID // per shard, the miners holding it
	created  uint64

	shardCIDs []cid.Cid // per shard
}

// write records files in one batch. Files may repeat; their replicas merge.
func (s *Store) write(recs []fileRecord, wo *pebble.WriteOptions) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()

	b := s.db.NewBatch()
	defer b.Close()

	// Miner indices: known ones from the cache, new ones appended in order.
	s.mu.RLock()
	next := uint32(len(s.miners))
	s.mu.RUnlock()
	var added []minerInfo
	fresh := map[identity.PeerID]uint32{}
	full := false
	index := func(p identity.PeerID) uint32 {
		s.mu.RLock()
		i, ok := s.byPeer[p]
		s.mu.RUnlock()
		if ok {
			return i
		}
		if i, ok := fresh[p]; ok {
			return i
		}
		if next >= MaxMiners {
			full = true
			return 0
		}
		i = next
		next++
		fresh[p] = i
		mi := minerInfo{peer: p}
		added = append(added, mi)
		b.Set(keyMiner(p), binary.BigEndian.AppendUint32(nil, i), nil)
		b.Set(keyMinerIdx(i), encodeMinerRow(mi), nil)
		return i
	}

	files, shards, records := s.files.Load(), s.shards.Load(), s.records.Load()
	pending := map[string]*roaring64.Bitmap{} // file CID → merged bitmap, for repeats in recs
	srecs := map[string]*shardRec{}           // shard CID → its record as this batch leaves it
	shardRecOf := func(c cid.Cid) (*shardRec, error) {
		if sr, ok := srecs[c.KeyString()]; ok {
			return sr, nil
		}
		sr, err := s.shardRecord(c)
		if err != nil {
			return nil, err
		}
		srecs[c.KeyString()] = sr
		return sr, nil
	}
	provenBits := map[string]*roaring64.Bitmap{} // file CID → its proven bitmap, when this batch adds to it
	provenOf := func(c cid.Cid) (*roaring64.Bitmap, error) {
		if q, ok := provenBits[c.KeyString()]; ok {
			return q, nil
		}
		q, err := s.provenBitmap(c)
		if err != nil {
			return nil, err
		}
		provenBits[c.KeyString()] = q
		return q, nil
	}
	fileOf := map[string][]uint32{} // r/ key → positions, for new files
	for _, r := range recs {
		key := r.cid.KeyString()
		bm, seen := pending[key]
		isNew, grew := false, false
		if !seen {
			old, err := s.get(keyBitmap(r.cid))
			switch {
			case errors.Is(err, pebble.ErrNotFound):
				bm = roaring64.New()
				fv := make([]byte, 12, 12+len(r.manifest))
				binary.BigEndian.PutUint64(fv, r.created)
				binary.BigEndian.PutUint32(fv[8:], uint32(r.shards))
				b.Set(keyFile(r.cid), append(fv, r.manifest...), nil)
				isNew = true
				files++
				shards += uint64(r.shards)
			case err != nil:
				return fmt.Errorf("indexer: read bitmap of %s: %w", r.cid, err)
			default:
				bm = roaring64.New()
				if err := bm.UnmarshalBinary(old); err != nil {
					return fmt.Errorf("indexer: bitmap of %s is corrupt: %w", r.cid, err)
				}
			}
			pending[key] = bm
		}
		for si, miners := range r.replicas {
			var sr *shardRec
			if si < len(r.shardCIDs) {
				var err error
				if sr, err = shardRecOf(r.shardCIDs[si]); err != nil {
					return err
				}
				if isNew {
					sr.refs++
					k := string(keyFileOf(r.shardCIDs[si], r.cid))
					fileOf[k] = append(fileOf[k], uint32(si))
				}
			}
			for _, m := range miners {
				mi := index(m)
				if sr != nil && !slices.Contains(sr.holders, mi) {
					sr.add(mi)
					// A replica committed again is no longer to be deleted.
					b.Delete(keyDrop(mi, r.shardCIDs[si]), nil)
				}
				if bm.CheckedAdd(replicaBit(si, mi)) {
					records++
					grew = true
				}
			}
			if sr != nil {
				// The file lists every replica the region has of its shard,
				// proven ones as proven.
				for h, mi := range sr.holders {
					if bm.CheckedAdd(replicaBit(si, mi)) {
						records++
						grew = true
					}
					if sr.proven[h] > 0 {
						q, err := provenOf(r.cid)
						if err != nil {
							return err
						}
						q.Add(replicaBit(si, mi))
					}
				}
			}
		}
		if grew && !isNew {
			// A file listed as all proven ("q/" empty) lists new replicas
			// now, not proven: its proven bitmap is written out whole.
			if _, err := provenOf(r.cid); err != nil {
				return err
			}
		}
		b.Set(keyOwnedBy(r.cid, r.owner), nil, nil)
		// Owner listing: keep the first created time, take the latest name.
		ok := keyOwner(r.owner, r.cid)
		created := r.created
		if ov, err := s.get(ok); err == nil && len(ov) >= 16 {
			created = binary.BigEndian.Uint64(ov)
		} else if err != nil && !errors.Is(err, pebble.ErrNotFound) {
			return fmt.Errorf("indexer: read listing of %s: %w", r.cid, err)
		}
		ov := make([]byte, 16, 16+len(r.name))
		binary.BigEndian.PutUint64(ov, created)
		binary.BigEndian.PutUint64(ov[8:], r.size)
		b.Set(ok, append(ov, r.name...), nil)
	}
	for key, bm := range pending {
		c, err := cid.Cast([]byte(key))
		if err != nil {
			return err
		}
		enc, err := bm.MarshalBinary()
		if err != nil {
			return fmt.Errorf("indexer: encode bitmap of %s: %w", c, err)
		}
		b.Set(keyBitmap(c), enc, nil)
	}
	for key, sr := range srecs {
		b.Set(append([]byte(pfxShard), key...), sr.encode(), nil)
	}
	for key, q := range provenBits {
		c, err := cid.Cast([]byte(key))
		if err != nil {
			return err
		}
		if err := setProven(b, c, q, pending[key]); err != nil {
			return err
		}
	}
	for k, pos := range fileOf {
		b.Set([]byte(k), encodePositions(pos), nil)
	}
	if full {
		return errMinersFull
	}
	st := binary.BigEndian.AppendUint64(nil, files)
	st = binary.BigEndian.AppendUint64(st, shards)
	b.Set(keyStats, binary.BigEndian.AppendUint64(st, records), nil)
	if err := s.db.Commit(b, wo); err != nil {
		return fmt.Errorf("indexer: write index: %w", err)
	}
	s.files.Store(files)
	s.shards.Store(shards)
	s.records.Store(records)
	if len(added) > 0 {
		s.mu.Lock()
		for _, mi := range added {
			s.byPeer[mi.peer] = uint32(len(s.miners))
			s.miners = append(s.miners, mi)
		}
		s.mu.Unlock()
	}
	return nil
}

// NoteMiners records the current address of every miner in recs, assigning
// indices to miners seen for the first time. Locate answers with these
// addresses. Records without an address are skipped.
func (s *Store) NoteMiners(recs []wire.NodeRecord) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	b := s.db.NewBatch()
	defer b.Close()
	type change struct {
		idx uint32
		mi  minerInfo
		add bool
	}
	var changes []change
	s.mu.RLock()
	next := uint32(len(s.miners))
	seen := map[identity.PeerID]bool{}
	for _, r := range recs {
		if len(r.Addrs) == 0 || r.Peer.IsZero() || seen[r.Peer] {
			continue
		}
		seen[r.Peer] = true
		mi := minerInfo{peer: r.Peer, addr: r.Addrs[0]}
		if i, ok := s.byPeer[r.Peer]; ok {
			if s.miners[i].addr != mi.addr {
				changes = append(changes, change{idx: i, mi: mi})
			}
			continue
		}
		if next >= MaxMiners {
			break
		}
		changes = append(changes, change{idx: next, mi: mi, add: true})
		next++
	}
	s.mu.RUnlock()
	if len(changes) == 0 {
		return nil
	}
	for _, c := range changes {
		if c.add {
			b.Set(keyMiner(c.mi.peer), binary.BigEndian.AppendUint32(nil, c.idx), nil)
		}
		b.Set(keyMinerIdx(c.idx), encodeMinerRow(c.mi), nil)
	}
	if err := s.db.Commit(b, pebble.NoSync); err != nil {
		return fmt.Errorf("indexer: write miner table: %w", err)
	}
	s.mu.Lock()
	for _, c := range changes {
		if c.add {
			s.byPeer[c.mi.peer] = c.idx
			s.miners = append(s.miners, c.mi)
		} else {
			s.miners[c.idx] = c.mi
		}
	}
	s.mu.Unlock()
	return nil
}

// checkFileCID reports whether c can name a file at all.
func checkFileCID(c cid.Cid) error {
	if _, err := shard.DigestOf(c, shard.ManifestCodec); err != nil {
		return wire.Errorf(wire.CodeBadRequest, "not a file CID: %v", err)
	}
	return nil
}

// Locate returns a file's manifest and, per shard, the miners holding it with
// their last known addresses.
func (s *Store) Locate(c cid.Cid) (*wire.Location, error) {
	if err := checkFileCID(c); err != nil {
		return nil, err
	}
	fv, closer, err := s.db.Get(keyFile(c))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, wire.Errorf(wire.CodeNotFound, "no file %s in this region's index", c)
	}
	if err != nil {
		return nil, fmt.Errorf("indexer: read file %s: %w", c, err)
	}
	if len(fv) < 12 {
		closer.Close()
		return nil, fmt.Errorf("%w: file record of %s is %d bytes", ErrLayout, c, len(fv))
	}
	n := int(binary.BigEndian.Uint32(fv[8:]))
	loc := &wire.Location{Manifest: bytes.Clone(fv[12:]), Shards: make([][]wire.Replica, n)}
	closer.Close()

	bv, closer, err := s.db.Get(keyBitmap(c))
	if err != nil {
		return nil, fmt.Errorf("indexer: read bitmap of %s: %w", c, err)
	}
	defer closer.Close()
	bm := roaring64.New()
	if _, err := bm.FromUnsafeBytes(bv); err != nil {
		return nil, fmt.Errorf("indexer: bitmap of %s is corrupt: %w", c, err)
	}
	var proven *roaring64.Bitmap // nil: none proven, or all (allProven)
	allProven := false
	if qv, qcloser, err := s.db.Get(keyProven(c)); err == nil {
		defer qcloser.Close()
		if allProven = len(qv) == 0; !allProven {
			proven = roaring64.New()
			if _, err := proven.FromUnsafeBytes(qv); err != nil {
				return nil, fmt.Errorf("indexer: proven bitmap of %s is corrupt: %w", c, err)
			}
		}
	} else if !errors.Is(err, pebble.ErrNotFound) {
		return nil, fmt.Errorf("indexer: read proven bitmap of %s: %w", c, err)
	}
	reps := make([]wire.Replica, bm.GetCardinality())
	s.mu.RLock()
	defer s.mu.RUnlock()
	it := bm.Iterator()
	cur, start := -1, 0
	for j := 0; it.HasNext(); j++ {
		v := it.Next()
		si, mi := int(v>>minerBits), v&(MaxMiners-1)
		if si >= n || mi >= uint64(len(s.miners)) {
			return nil, fmt.Errorf("%w: bitmap of %s names shard %d of %d, miner %d of %d", ErrLayout, c, si, n, mi, len(s.miners))
		}
		if si != cur {
			if cur >= 0 {
				loc.Shards[cur] = reps[start:j:j]
			}
			cur, start = si, j
		}
		m := s.miners[mi]
		st := wire.StatusStored
		if allProven || proven != nil && proven.Contains(v) {
			st = wire.StatusProven
		}
		reps[j] = wire.Replica{NodeAddr: wire.NodeAddr{Peer: m.peer, Addr: m.addr}, Status: st}
	}
	if cur >= 0 {
		loc.Shards[cur] = reps[start:len(reps):len(reps)]
	}
	return loc, nil
}

// ListFiles returns the files owner committed, newest first (then by name).
// At most limit entries are returned when limit > 0.
func (s *Store) ListFiles(owner identity.PeerID, limit int) ([]wire.FileEntry, error) {
	pfx := ownerPrefix(owner)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: pfx, UpperBound: prefixEnd(pfx)})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []wire.FileEntry
	for it.First(); it.Valid(); it.Next() {
		k, v := it.Key(), it.Value()
		c, err := cid.Cast(k[len(pfx):])
		if err != nil || len(v) < 16 {
			return nil, fmt.Errorf("%w: listing entry %x", ErrLayout, k)
		}
		out = append(out, wire.FileEntry{
			CID:     c,
			Created: binary.BigEndian.Uint64(v),
			Size:    binary.BigEndian.Uint64(v[8:]),
			Name:    string(v[16:]),
		})
	}
	if err := it.Error(); err != nil {
		return nil, err
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Created != out[j].Created {
			return out[i].Created > out[j].Created
		}
		return out[i].Name < out[j].Name
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}
