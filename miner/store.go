package miner

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"
	"github.com/ipfs/go-cid"
	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/internal/pebbledb"
	"github.com/ppstore/ppstore/shard"
	"github.com/ppstore/ppstore/wire"
)

// file is what the store needs of a temp file; tests replace the files the
// store creates to inject faults such as a full disk.
type file interface {
	Write(p []byte) (int, error)
	Sync() error
	Close() error
	Name() string
}

// namedFile is a vfs.File that knows its path.
type namedFile struct {
	vfs.File
	name string
}

func (f *namedFile) Name() string { return f.name }

// createTempOn creates a new temp file for an upload in dir on fs.
func createTempOn(fs vfs.FS, dir string) (file, error) {
	var r [8]byte
	rand.Read(r[:])
	name := filepath.Join(dir, "upload-"+hex.EncodeToString(r[:]))
	f, err := fs.Create(name)
	if err != nil {
		return nil, err
	}
	return &namedFile{File: f, name: name}, nil
}

// createTemp creates a temp file on the operating system's file system.
func createTemp(dir string) (file, error) { return createTempOn(vfs.Default, dir) }

// store keeps shard bytes as files and their records in pebble (layout in
// the package doc). Every record is also held in memory. Its file system
// operations on shards (create, write, fsync, rename, directory fsync,
// remove) and its database go through fs, which tests wrap with
// internal/faultfs to fail them as a full disk does.
type store struct {
	dir      string
	name     string // "miner <short id>", for messages
	capacity int64
	log      *slog.Logger
	fs       vfs.FS
	db       *pebbledb.DB

	// Hooks replaced by tests, guarded by mu.
	createTemp func(dir string) (file, error)
	// diskFree returns the bytes shards may still take on the file system
	// holding dir: what an unprivileged user may write there, less the
	// headroom the database keeps for itself (pebbledb.DB.Headroom).
	diskFree func(dir string) (int64, error)

	locks keyLocks // one commit per shard at a time

	mu        sync.Mutex
	shards    map[shard.Digest]*record
	leases    map[shard.Digest]lease // replicas waiting for a commit (lease.go)
	used      int64                  // bytes of stored shards
	reserved  int64                  // bytes promised to uploads in progress
	unwritten int64                  // the part of reserved not yet written to temp files
}

func (s *store) shardsDir() string { return filepath.Join(s.dir, "shards") }
func (s *store) tmpDir() string    { return filepath.Join(s.dir, "tmp") }

func (s *store) shardPath(root shard.Digest) string {
	h := hex.EncodeToString(root[:])
	return filepath.Join(s.shardsDir(), h[:2], h+".shard")
}

// openStore opens (creating if needed) the store under dir on the operating
// system's file system; see openStoreOn.
func openStore(dir, name string, capacity int64, log *slog.Logger) (*store, error) {
	return openStoreOn(vfs.Default, dir, name, capacity, log)
}

// openStoreOn opens (creating if needed) the store under dir on fs (nil:
// the operating system's) and recovers from an unclean stop: see recover.
func openStoreOn(fs vfs.FS, dir, name string, capacity int64, log *slog.Logger) (*store, error) {
	if fs == nil {
		fs = vfs.Default
	}
	s := &store{
		dir: dir, name: name, capacity: capacity, log: log, fs: fs,
		shards: map[shard.Digest]*record{}, leases: map[shard.Digest]lease{},
	}
	s.createTemp = func(dir string) (file, error) { return createTempOn(fs, dir) }
	s.diskFree = s.fsFree
	// Look before creating the shard folders: records without any shard
	// folder mean that it is unmounted or was moved, not that every shard
	// is lost, and a folder created now would hide that.
	hadShards, err := hasEntries(s.shardsDir())
	if err != nil {
		return nil, fmt.Errorf("miner store: %w", err)
	}
	dbDir := filepath.Join(dir, "db")
	_, statErr := os.Stat(dbDir)
	newDB := errors.Is(statErr, os.ErrNotExist)
	db, err := pebbledb.Open(dbDir, pebbledb.Options{Name: "miner", Logger: log, FS: fs})
	if err != nil {
		return nil, fmt.Errorf("miner store: %w", err)
	}
	s.db = db
	keys, err := s.load()
	if err == nil && len(keys) > 0 && !hadShards {
		err = fmt.Errorf("miner store: the shard folder %s is missing or empty, but %s records %d shards: "+
			"mount or restore the folder and start again (starting without it would drop every record)", s.shardsDir(), dbDir, len(keys))
	}
	if err == nil {
		err = s.makeFolders()
	}
	if err == nil {
		err = s.recover(keys, newDB)
	}
	if err == nil {
		err = s.loadLeases()
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// hasEntries reports whether dir exists and holds anything.
func hasEntries(dir string) (bool, error) {
	f, err := os.Open(dir)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	switch _, err := f.Readdirnames(1); {
	case err == io.EOF:
		return false, nil
	case err != nil:
		return false, fmt.Errorf("read %s: %w", dir, err)
	}
	return true, nil
}

// makeFolders creates the shard and temp folders that are missing.
func (s *store) makeFolders() error {
	for i := 0; i < 256; i++ {
		if err := os.MkdirAll(filepath.Join(s.shardsDir(), fmt.Sprintf("%02x", i)), 0o755); err != nil {
			return fmt.Errorf("miner store: %w", err)
		}
	}
	if err := os.MkdirAll(s.tmpDir(), 0o755); err != nil {
		return fmt.Errorf("miner store: %w", err)
	}
	if err := syncDir(s.dir); err != nil {
		return fmt.Errorf("miner store: %w", err)
	}
	if err := syncDir(s.shardsDir()); err != nil {
		return fmt.Errorf("miner store: %w", err)
	}
	return nil
}

// load reads every record into s.shards and returns their keys.
func (s *store) load() (map[shard.Digest][]byte, error) {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: keyPrefix, UpperBound: keyEnd})
	if err != nil {
		return nil, fmt.Errorf("miner store: %w", err)
	}
	keys := map[shard.Digest][]byte{}
	for it.First(); it.Valid(); it.Next() {
		k := it.Key()
		c, err := cid.Cast(k[len(keyPrefix):])
		var root shard.Digest
		if err == nil {
			root, err = shard.DigestOf(c, shard.ShardCodec)
		}
		if err != nil {
			it.Close()
			return nil, fmt.Errorf("%w: key %x: %v", errBadRecord, k, err)
		}
		rec, err := decodeRecord(it.Value())
		if err != nil {
			it.Close()
			return nil, fmt.Errorf("miner store: shard %v: %w", c, err)
		}
		s.shards[root] = rec
		keys[root] = append([]byte(nil), k...)
	}
	if err := it.Close(); err != nil {
		return nil, fmt.Errorf("miner store: reading records: %w", err)
	}
	return keys, nil
}

// fewMissing is how many shard files may be missing whatever their share of
// the records; more, and more than half of the records, look like a folder
// that is incomplete, not like shards lost one by one.
const fewMissing = 8

// recover makes files and the records loaded under keys agree: it removes
// unfinished uploads in tmp/, shard files without a record, and records whose
// file is missing or has the wrong length. It deletes nothing in shards/ nor
// in pebble if most records (and more than fewMissing) lack their file, or if
// the database is new (newDB) while shard files exist.
func (s *store) recover(keys map[shard.Digest][]byte, newDB bool) error {
	tmps, err := os.ReadDir(s.tmpDir())
	if err != nil {
		return fmt.Errorf("miner store: %w", err)
	}
	for _, e := range tmps {
		p := filepath.Join(s.tmpDir(), e.Name())
		s.log.Warn("removing unfinished upload", "file", p)
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("miner store: remove %s: %w", p, err)
		}
	}

	// Records without their file, or with a file of the wrong length.
	var missing []shard.Digest
	wrongLen := map[shard.Digest]int64{} // root → length of its file
	for root, rec := range s.shards {
		st, err := os.Stat(s.shardPath(root))
		switch {
		case err == nil && st.Size() == rec.size:
		case err == nil:
			wrongLen[root] = st.Size()
		case errors.Is(err, os.ErrNotExist):
			missing = append(missing, root)
		default:
			return fmt.Errorf("miner store: %w", err)
		}
	}
	if len(missing) > fewMissing && 2*len(missing) > len(s.shards) {
		return fmt.Errorf("miner store: %d of the %d shards recorded have no file in %s: refusing to start, which would drop their records; "+
			"check that the folder is mounted and complete and start again (if the files are lost, move the data directory aside and start an empty miner)",
			len(missing), len(s.shards), s.shardsDir())
	}

	// Files without a record: a crash after the rename, before the record.
	subs, err := os.ReadDir(s.shardsDir())
	if err != nil {
		return fmt.Errorf("miner store: %w", err)
	}
	orphans := map[string][]string{} // folder → its files without a record
	nOrphans, nFiles := 0, 0
	for _, sub := range subs {
		if !sub.IsDir() || len(sub.Name()) != 2 {
			s.log.Warn("unexpected entry in the shard folder, leaving it", "path", filepath.Join(s.shardsDir(), sub.Name()))
			continue
		}
		dir := filepath.Join(s.shardsDir(), sub.Name())
		files, err := os.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("miner store: %w", err)
		}
		for _, f := range files {
			nFiles++
			p := filepath.Join(dir, f.Name())
			root, ok := parseShardName(f.Name())
			if ok && s.shardPath(root) == p && s.shards[root] != nil {
				continue
			}
			orphans[dir] = append(orphans[dir], p)
			nOrphans++
		}
	}
	// Files without records are what a crash between a rename and its record
	// leaves, any number of them at once; but with a database created just now
	// they are every shard of a database that was lost.
	if newDB && nOrphans > 0 {
		return fmt.Errorf("miner store: %d of the %d shard files in %s have no record in %s: refusing to start, which would delete them; "+
			"restore the database and start again (or move the data directory aside and start an empty miner)",
			nOrphans, nFiles, s.shardsDir(), filepath.Join(s.dir, "db"))
	}
	for dir, paths := range orphans {
		for _, p := range paths {
			s.log.Warn("removing shard file without a record", "file", p)
			if err := os.RemoveAll(p); err != nil {
				return fmt.Errorf("miner store: remove %s: %w", p, err)
			}
		}
		if err := syncDir(dir); err != nil {
			return fmt.Errorf("miner store: %w", err)
		}
	}

	drop := func(root shard.Digest) error {
		if err := s.db.Delete(keys[root], pebble.Sync); err != nil {
			return fmt.Errorf("miner store: drop record of %s: %w", s.shardPath(root), err)
		}
		delete(s.shards, root)
		return nil
	}
	for root, size := range wrongLen {
		p := s.shardPath(root)
		s.log.Error("dropping shard whose file has the wrong length", "file", p, "size", size, "want", s.shards[root].size)
		if err := os.Remove(p); err != nil {
			return fmt.Errorf("miner store: remove %s: %w", p, err)
		}
		if err := drop(root); err != nil {
			return err
		}
	}
	for _, root := range missing {
		s.log.Error("dropping shard whose file is missing", "file", s.shardPath(root))
		if err := drop(root); err != nil {
			return err
		}
	}
	for _, rec := range s.shards {
		s.used += rec.size
	}
	return nil
}

func parseShardName(name string) (shard.Digest, bool) {
	var d shard.Digest
	h, ok := strings.CutSuffix(name, ".shard")
	if !ok || len(h) != 64 || strings.ToLower(h) != h {
		return d, false
	}
	if _, err := hex.Decode(d[:], []byte(h)); err != nil {
		return d, false
	}
	return d, true
}

// Close closes the metadata database.
func (s *store) Close() error { return s.db.Close() }

// fsFree is the default diskFree: the bytes available on the file system
// holding dir less the database's headroom.
func (s *store) fsFree(dir string) (int64, error) {
	du, err := s.fs.GetDiskUsage(dir)
	if err != nil {
		return 0, fmt.Errorf("free space of %s: %w", dir, err)
	}
	return int64(min(du.AvailBytes, 1<<62)) - s.db.Headroom(), nil
}

// syncDir fsyncs the directory dir through the store's file system.
func (s *store) syncDir(dir string) error {
	d, err := s.fs.OpenDir(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// get returns the record of a stored shard, or nil.
func (s *store) get(root shard.Digest) *record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.shards[root]
}

// usage returns the bytes of stored shards, the bytes free for new ones and
// the capacity.
func (s *store) usage() (used, free, capacity int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.used, s.freeLocked(), s.capacity
}

// freeLocked is the room left for new uploads: the capacity left, bounded
// by the file system's free space less what uploads in progress have
// reserved and not yet written (what they wrote, the file system counts).
func (s *store) freeLocked() int64 {
	free := s.capacity - s.used - s.reserved
	if fs, err := s.diskFree(s.dir); err != nil {
		s.log.Warn("cannot read free disk space", "err", err)
	} else {
		free = min(free, fs-s.unwritten)
	}
	return max(free, 0)
}

// pending is an upload being written to a temp file. Exactly one of commit
// and abort ends it; abort after commit does nothing.
type pending struct {
	s       *store
	c       cid.Cid
	root    shard.Digest
	size    int64
	f       file
	written int64
	done    bool
}

// begin reserves room for a shard of size bytes and opens its temp file.
func (s *store) begin(c cid.Cid, root shard.Digest, size int64) (*pending, error) {
	s.mu.Lock()
	if free := s.freeLocked(); size > free {
		s.mu.Unlock()
		return nil, wire.Errorf(wire.CodeNoSpace, "%s: no room for %d bytes (free %d); add capacity or remove data", s.name, size, free)
	}
	s.reserved += size
	s.unwritten += size
	create := s.createTemp
	s.mu.Unlock()
	p := &pending{s: s, c: c, root: root, size: size}
	f, err := create(s.tmpDir())
	if err != nil {
		p.release()
		return nil, s.ioError("create a temp file for", c, err)
	}
	p.f = f
	return p, nil
}

// release gives back the upload's reservation.
func (p *pending) release() {
	p.s.mu.Lock()
	p.s.reserved -= p.size
	p.s.unwritten -= p.size - p.written
	p.s.mu.Unlock()
}

// ioError classifies a file system or database error: a full disk or quota
// (or the database refusing a write below its reserve) is CodeNoSpace,
// anything else CodeInternal.
func (s *store) ioError(what string, c cid.Cid, err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || errors.Is(err, pebbledb.ErrDiskFull) {
		// The peer learns the disk is full; the path is for the operator.
		s.log.Warn("disk full", "op", what, "shard", c, "err", err)
		return wire.Errorf(wire.CodeNoSpace, "%s: disk full: cannot %s shard %v; free disk space or lower capacity", s.name, what, c)
	}
	return wire.Errorf(wire.CodeInternal, "%s: cannot %s shard %v: %v", s.name, what, c, err)
}

// write appends b to the temp file.
func (p *pending) write(b []byte) error {
	if p.written+int64(len(b)) > p.size {
		return wire.Errorf(wire.CodeInternal, "%s: shard %v: write past its %d bytes", p.s.name, p.c, p.size)
	}
	n, err := p.f.Write(b)
	p.written += int64(n)
	p.s.mu.Lock()
	p.s.unwritten -= int64(n)
	p.s.mu.Unlock()
	if err == nil && n != len(b) {
		err = io.ErrShortWrite
	}
	if err != nil {
		return p.s.ioError("write", p.c, err)
	}
	return nil
}

// abort removes the temp file and releases the reservation.
func (p *pending) abort() {
	if p.done {
		return
	}
	p.done = true
	p.f.Close()
	if err := p.s.fs.Remove(p.f.Name()); err != nil && !errors.Is(err, os.ErrNotExist) {
		p.s.log.Error("cannot remove temp file", "file", p.f.Name(), "err", err)
	}
	p.release()
}

// commit makes the shard durable and visible: fsync the temp file, rename it
// into place, fsync the folder, write the record with Sync. If the shard was
// stored meanwhile by another upload, the temp file is dropped and owner is
// added to the existing record. On error nothing of the upload remains.
//
// The new replica is pending until leaseUntil: its lease key is written in
// the same synced batch as its record.
func (p *pending) commit(pieceSize int64, pieces []shard.Digest, owner identity.PeerID, leaseUntil time.Time) (*record, error) {
	s := p.s
	if p.done {
		return nil, wire.Errorf(wire.CodeInternal, "%s: shard %v: upload already ended", s.name, p.c)
	}
	if p.written != p.size {
		p.abort()
		return nil, wire.Errorf(wire.CodeInternal, "%s: shard %v: %d of %d bytes written", s.name, p.c, p.written, p.size)
	}
	err := p.f.Sync()
	if cerr := p.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		p.abort()
		return nil, s.ioError("sync", p.c, err)
	}

	unlock := s.locks.lock(p.root)
	defer unlock()
	if s.get(p.root) != nil {
		p.abort()
		return s.addOwnerLocked(p.c, p.root, owner)
	}
	final := s.shardPath(p.root)
	if err := s.fs.Rename(p.f.Name(), final); err != nil {
		p.abort()
		return nil, s.ioError("move into place", p.c, err)
	}
	p.done = true // the temp file is gone; failures below remove the final file
	undo := func() {
		if err := s.fs.Remove(final); err != nil {
			s.log.Error("cannot remove the file of a shard not stored", "file", final, "err", err)
		}
		s.syncDir(filepath.Dir(final)) // if it fails, recover removes the file at the next start
		p.release()
	}
	if err := s.syncDir(filepath.Dir(final)); err != nil {
		undo()
		return nil, s.ioError("sync the folder of", p.c, err)
	}
	rec := &record{
		version:   recordPlain,
		size:      p.size,
		pieceSize: pieceSize,
		stored:    uint64(time.Now().Unix()),
		pieces:    pieces,
		owners:    []identity.PeerID{owner},
	}
	b := s.db.NewBatch()
	b.Set(recordKey(p.c), rec.encode(), nil)
	b.Set(leaseKey(p.c), leaseValue(leaseUntil), nil)
	err = s.db.Commit(b, pebble.Sync)
	b.Close()
	if err != nil {
		undo()
		return nil, s.ioError("record", p.c, err)
	}
	s.mu.Lock()
	s.leases[p.root] = lease{c: p.c, until: leaseUntil}
	s.shards[p.root] = rec
	s.used += p.size
	s.reserved -= p.size
	s.mu.Unlock()
	return rec, nil
}

// addOwner adds owner to a stored shard's record.
func (s *store) addOwner(c cid.Cid, root shard.Digest, owner identity.PeerID) (*record, error) {
	unlock := s.locks.lock(root)
	defer unlock()
	return s.addOwnerLocked(c, root, owner)
}

func (s *store) addOwnerLocked(c cid.Cid, root shard.Digest, owner identity.PeerID) (*record, error) {
	rec := s.get(root)
	if rec == nil {
		return nil, wire.Errorf(wire.CodeNotFound, "%s does not hold %v", s.name, c)
	}
	if rec.hasOwner(owner) {
		return rec, nil
	}
	if err := s.roomForOwner(c, rec, owner); err != nil {
		return nil, err
	}
	rec = rec.withOwner(owner)
	if err := s.db.Set(recordKey(c), rec.encode(), pebble.Sync); err != nil {
		return nil, s.ioError("record an owner of", c, err)
	}
	s.mu.Lock()
	s.shards[root] = rec
	s.mu.Unlock()
	return rec, nil
}

// MaxOwners bounds the owners a shard's record lists. Anyone may upload a
// shard again under a fresh owner ID, and each new owner rewrites the whole
// record with a sync; 256 owners keep a record near 10 KiB, far more than the
// owners a real shard has.
const MaxOwners = 256

// roomForOwner refuses a new owner of a record that lists MaxOwners already.
// The code is CodeNoSpace, the node's quota being full: the client places
// that replica on another miner, which is what it should do.
func (s *store) roomForOwner(c cid.Cid, rec *record, owner identity.PeerID) error {
	if len(rec.owners) >= MaxOwners && !rec.hasOwner(owner) {
		return wire.Errorf(wire.CodeNoSpace, "%s holds %v for %d owners already, the most it keeps; store it on another miner", s.name, c, len(rec.owners))
	}
	return nil
}

// openShard opens a stored shard's file for reading.
func (s *store) openShard(c cid.Cid, root shard.Digest) (*os.File, error) {
	f, err := os.Open(s.shardPath(root))
	if err != nil {
		return nil, wire.Errorf(wire.CodeInternal, "%s: shard %v: %v", s.name, c, err)
	}
	return f, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// keyLocks is a set of mutexes, one per shard in use.
type keyLocks struct {
	mu sync.Mutex
	m  map[shard.Digest]*keyLock
}

type keyLock struct {
	sync.Mutex
	refs int
}

func (k *keyLocks) lock(key shard.Digest) (unlock func()) {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[shard.Digest]*keyLock{}
	}
	l := k.m[key]
	if l == nil {
		l = &keyLock{}
		k.m[key] = l
	}
	l.refs++
	k.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		k.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}

// count returns the number of stored shards.
func (s *store) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.shards)
}
