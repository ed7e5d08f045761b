// Package pebbledb opens the pebble database a daemon keeps its state in, and
// owns what happens to that database when its disk fills. Every daemon that
// keeps state in pebble (miner, indexer, verifier, zkstore, sidechain) opens
// it here, so the rules below hold for all of them. It does not own the
// daemons' keys or layouts, nor their bulk data (the miner's shard files).
//
// pebble v1.1.5 cannot go on after a failed write or sync of its write-ahead
// log or MANIFEST: it calls its Logger's Fatalf ("pebble: fatal commit error",
// db.go), whose default exits the process, and a commit whose log sync failed
// may already be visible in the memtable. So a full disk is kept away from
// pebble in three layers (the design is argued in docs/DISKFULL.md):
//
//  1. Reserve: a write that adds data (anything but deletions) is refused with
//     an error matching ErrDiskFull, before pebble sees it, while the file
//     system has less than Options.Reserve bytes available. Deletions pass:
//     they are how an operator or a chore frees space. DB.Headroom is what a
//     daemon's bulk data must leave free so that its metadata keeps room.
//  2. Ballast: a file of Options.Ballast bytes (EMERGENCY_BALLAST in the
//     database's folder) that pebble's vfs.OnDiskFull hook removes the first
//     time any pebble write meets ENOSPC; pebble then retries that write once,
//     so a disk filled by someone else costs no commit. The ballast is made
//     again once the disk has Reserve+Ballast bytes free.
//  3. Stop: if pebble still fails (the retry failed, a log sync failed, the
//     disk lied about its space, or pebble panicked with an I/O error when it
//     could not start a new log file), the failure is recorded once as a *FailedError naming the
//     folder and what to do, the write that met it returns that error (never
//     a panic out of pebble), every later write returns it too, Failed is
//     closed, and the daemon's Run returns it (see Watch). What was committed
//     before is in the synced log: a restart with space loses nothing
//     acknowledged.
//
// Writes go through DB's Set, Delete, DeleteRange, Apply and Commit; a batch
// must be committed with db.Commit(b, opts), not b.Commit(opts), which would
// bypass the reserve and the error conversion. Reads use the embedded
// *pebble.DB.
package pebbledb

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"
	"github.com/ppstore/ppstore/wire"
)

// Defaults for Options. A metadata database of ours writes batches of at most
// a few MiB, and pebble flushes memtables of 4 MiB (its default
// MemTableSize): 32 MiB of reserve keeps several flushes and log rotations
// possible after growing writes stop, and a 16 MiB ballast covers one failed
// log write's retry plus a flush.
const (
	DefaultReserve = 32 << 20
	DefaultBallast = 16 << 20
	// DefaultStopGrace is how long Watch lets requests in progress answer
	// (the write that failed among them) before it returns the failure.
	DefaultStopGrace = 2 * time.Second
)

// BallastFile is the name of the ballast in the database's folder. pebble
// ignores files whose names it does not know.
const BallastFile = "EMERGENCY_BALLAST"

// Options configure Open. Zero values mean the defaults.
type Options struct {
	// Name is the daemon that owns the database ("miner", "indexer"), for
	// messages.
	Name string
	// Logger receives pebble's messages (routine ones at debug level) and
	// this package's; default discard.
	Logger *slog.Logger
	// FS is the file system the database lives on; default vfs.Default.
	// Tests pass an internal/faultfs wrapper.
	FS vfs.FS
	// Reserve is the bytes of available disk below which writes that add
	// data are refused; default DefaultReserve, negative for none.
	Reserve int64
	// Ballast is the size of the emergency ballast in bytes; default
	// DefaultBallast, negative for none.
	Ballast int64
	// StopGrace is Watch's delay between a failure and its return; default
	// DefaultStopGrace.
	StopGrace time.Duration
	// Pebble holds further pebble options (Cache, MemTableSize...); Open
	// copies it and sets FS and Logger itself.
	Pebble *pebble.Options
}

func (o *Options) ensureDefaults() {
	if o.Name == "" {
		o.Name = "database"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.FS == nil {
		o.FS = vfs.Default
	}
	if o.Reserve == 0 {
		o.Reserve = DefaultReserve
	}
	o.Reserve = max(o.Reserve, 0)
	if o.Ballast == 0 {
		o.Ballast = DefaultBallast
	}
	o.Ballast = max(o.Ballast, 0)
	if o.StopGrace <= 0 {
		o.StopGrace = DefaultStopGrace
	}
}

// ErrDiskFull matches (errors.Is) every error this package returns because
// the database's disk is full or below its reserve: a refused write
// (*NoRoomError) and a failure caused by ENOSPC or EDQUOT (*FailedError).
// Both also match wire.ErrNoSpace, so they cross the wire as CodeNoSpace.
var ErrDiskFull = errors.New("disk full")

// ErrFailed matches every *FailedError: the database stopped taking writes.
var ErrFailed = errors.New("database stopped taking writes")

// NoRoomError is a write refused before it reached pebble because the disk
// holding the database had less than the reserve available. Nothing of the
// write was stored. It matches ErrDiskFull and wire.ErrNoSpace.
type NoRoomError struct {
	Name, Dir       string
	Avail, Reserve  int64 // bytes
	BallastReleased bool
}

func (e *NoRoomError) Error() string {
	s := fmt.Sprintf("%s database in %s: disk full: %d bytes available, below the %d it keeps for its own writes", e.Name, e.Dir, e.Avail, e.Reserve)
	if e.BallastReleased {
		s += " (its emergency ballast is spent)"
	}
	return s + "; free space on that disk (or remove data), then retry"
}

// Unwrap makes the error match ErrDiskFull and wire.ErrNoSpace.
func (e *NoRoomError) Unwrap() []error { return []error{ErrDiskFull, wire.ErrNoSpace} }

// FailedError is pebble's failure to write or sync its log or MANIFEST (or
// another error it reports as fatal, such as a broken invariant met by an
// iterator): the database takes no more writes until the daemon is
// restarted. The write
// that met it may or may not be on disk (a restart finds it whole or not at
// all); nothing acknowledged before it is lost. It matches ErrFailed, its
// cause, and, when the cause is a full disk (ENOSPC, EDQUOT), ErrDiskFull
// and wire.ErrNoSpace.
type FailedError struct {
	Name, Dir string
	DiskFull  bool
	Cause     error
}

func (e *FailedError) Error() string {
	if e.DiskFull {
		return fmt.Sprintf("%s database in %s stopped: disk full (%v); free space on that disk and start the %s again (nothing acknowledged is lost)",
			e.Name, e.Dir, e.Cause, e.Name)
	}
	return fmt.Sprintf("%s database in %s stopped after an error pebble cannot go on from (%v); check that disk, then start the %s again (nothing acknowledged is lost)",
		e.Name, e.Dir, e.Cause, e.Name)
}

// Unwrap makes the error match ErrFailed, its cause and, on a full disk,
// ErrDiskFull and wire.ErrNoSpace.
func (e *FailedError) Unwrap() []error {
	errs := []error{ErrFailed, e.Cause}
	if e.DiskFull {
		errs = append(errs, ErrDiskFull, wire.ErrNoSpace)
	}
	return errs
}

// isDiskFull reports whether err is the file system's "no space" or "quota
// exceeded".
func isDiskFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// DB is an open pebble database with the disk-full rules of the package doc.
// Reads go to the embedded *pebble.DB; writes through DB's own methods.
type DB struct {
	*pebble.DB
	dir  string
	opts Options
	fs   vfs.FS // the file system without the disk-full hook
	log  *slog.Logger

	metrics *metrics

	failOnce sync.Once
	failed   chan struct{}
	failErr  atomic.Pointer[FailedError]
	stuck    atomic.Bool // pebble holds a lock for good (a parked goroutine, a panic under its mutex): it cannot close

	ballastMu      sync.Mutex
	ballastGone    atomic.Bool
	ballastRetryAt time.Time // under ballastMu

	closeOnce sync.Once
	closeErr  error
}

// Open opens (creating if needed) the pebble database in dir with the
// package's disk-full rules. Its errors name dir; callers prefix their own
// name.
func Open(dir string, o Options) (*DB, error) {
	o.ensureDefaults()
	db := &DB{dir: dir, opts: o, fs: o.FS, log: o.Logger, failed: make(chan struct{}), metrics: newMetrics(o.Name)}
	if err := o.FS.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create database folder %s: %w", dir, err)
	}
	db.prepareBallast()
	po := &pebble.Options{}
	if o.Pebble != nil {
		c := *o.Pebble
		po = &c
	}
	po.FS = vfs.OnDiskFull(o.FS, db.onDiskFull)
	po.Logger = logger{db}
	pdb, err := pebble.Open(dir, po)
	if err != nil {
		if isDiskFull(err) {
			return nil, fmt.Errorf("open database in %s: disk full (%w); free space on that disk and start again", dir, err)
		}
		return nil, fmt.Errorf("open database in %s: %w", dir, err)
	}
	db.DB = pdb
	return db, nil
}

// Dir is the database's folder.
func (db *DB) Dir() string { return db.dir }

// Headroom is the disk space, in bytes, a daemon's bulk data (the miner's
// shards) must leave available on the database's disk: twice the reserve, so
// that metadata can grow by the reserve before its writes are refused.
func (db *DB) Headroom() int64 { return 2 * db.opts.Reserve }

// Failed is closed once the database has stopped taking writes; Err then
// returns why.
func (db *DB) Failed() <-chan struct{} { return db.failed }

// Err returns the *FailedError that stopped the database, or nil.
func (db *DB) Err() error {
	if e := db.failErr.Load(); e != nil {
		return e
	}
	return nil
}

// Watch returns nil when ctx is done, or the database's *FailedError once
// it has stopped taking writes and StopGrace has passed (for requests in
// progress to answer, the one that met the failure among them). A daemon
// runs it beside its servers, so that its Run returns the failure and the
// daemon stops.
func (db *DB) Watch(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case <-db.failed:
	}
	t := time.NewTimer(db.opts.StopGrace)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
	return db.Err()
}

// Close closes the database. After a failure it returns the *FailedError;
// if the failure left pebble holding a lock (it parked one of pebble's own
// goroutines, or pebble panicked under its mutex), pebble cannot close and
// is left to the process's exit.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		if db.stuck.Load() {
			db.closeErr = db.Err()
			return
		}
		err := db.DB.Close()
		if fe := db.Err(); fe != nil {
			err = fe
		}
		db.closeErr = err
	})
	return db.closeErr
}

// Set writes key=value; see the package doc for the errors.
func (db *DB) Set(key, value []byte, o *pebble.WriteOptions) error {
	if err := db.room(nil); err != nil {
		return err
	}
	return db.guard(func() error { return db.DB.Set(key, value, o) })
}

// Merge merges value into key; see the package doc for the errors.
func (db *DB) Merge(key, value []byte, o *pebble.WriteOptions) error {
	if err := db.room(nil); err != nil {
		return err
	}
	return db.guard(func() error { return db.DB.Merge(key, value, o) })
}

// Delete deletes key. Deletions are not held to the reserve.
func (db *DB) Delete(key []byte, o *pebble.WriteOptions) error {
	return db.guard(func() error { return db.DB.Delete(key, o) })
}

// DeleteRange deletes the keys in [start, end). Deletions are not held to
// the reserve.
func (db *DB) DeleteRange(start, end []byte, o *pebble.WriteOptions) error {
	return db.guard(func() error { return db.DB.DeleteRange(start, end, o) })
}

// Apply applies batch b; see Commit.
func (db *DB) Apply(b *pebble.Batch, o *pebble.WriteOptions) error {
	return db.Commit(b, o)
}

// Commit commits batch b (made by db.NewBatch or db.NewIndexedBatch): use
// it instead of b.Commit. A batch of deletions only is not held to the
// reserve. On error nothing of b was acknowledged; after a *FailedError the
// batch may or may not be found by a restart, whole.
func (db *DB) Commit(b *pebble.Batch, o *pebble.WriteOptions) error {
	if err := db.room(b); err != nil {
		return err
	}
	return db.guard(func() error { return b.Commit(o) })
}

// room returns a *NoRoomError if the disk is below the reserve and b (nil:
// a single Set) adds data. It also makes the ballast again once there is
// room for it.
func (db *DB) room(b *pebble.Batch) error {
	if e := db.Err(); e != nil {
		return e
	}
	if db.opts.Reserve == 0 && db.opts.Ballast == 0 {
		return nil
	}
	du, err := db.fs.GetDiskUsage(db.dir)
	if err != nil {
		return nil // no figure to refuse on; pebble's own errors remain
	}
	avail := int64(min(du.AvailBytes, 1<<62))
	if db.ballastGone.Load() && avail >= db.opts.Reserve+db.opts.Ballast {
		db.rearmBallast()
	}
	if avail >= db.opts.Reserve || (b != nil && onlyDeletes(b)) {
		return nil
	}
	db.metrics.refused.Inc()
	return &NoRoomError{Name: db.opts.Name, Dir: db.dir, Avail: avail, Reserve: db.opts.Reserve, BallastReleased: db.ballastGone.Load()}
}

// onlyDeletes reports whether b holds deletions only.
func onlyDeletes(b *pebble.Batch) bool {
	if b.Empty() {
		return true
	}
	r := b.Reader()
	for {
		kind, _, _, ok, err := r.Next()
		if err != nil {
			return false
		}
		if !ok {
			return true
		}
		switch kind {
		case pebble.InternalKeyKindDelete, pebble.InternalKeyKindSingleDelete,
			pebble.InternalKeyKindRangeDelete, pebble.InternalKeyKindDeleteSized:
		default:
			return false
		}
	}
}

// fatalPanic carries a failure from logger.Fatalf up to guard.
type fatalPanic struct{ err *FailedError }

// guard runs a write, turning the failure pebble reports through
// Logger.Fatalf into its returned error, and so the I/O errors pebble panics
// with (a new log file it cannot create when it rotates its log, which it
// does holding its mutex). Other panics, programming errors, go on. Its name
// is what Fatalf looks for on the stack: do not rename it without guardName.
//
//go:noinline
func (db *DB) guard(write func() error) (err error) {
	if e := db.Err(); e != nil {
		return e
	}
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		if fp, ok := r.(fatalPanic); ok {
			err = fp.err
			return
		}
		if e, ok := r.(error); ok && isIOError(e) {
			db.stuck.Store(true)
			err = db.fail(&pebbleError{msg: "pebble: " + e.Error(), err: e})
			return
		}
		panic(r)
	}()
	return write()
}

// isIOError reports whether err comes from the file system (a path or link
// error, or a bare errno), as opposed to a programming error.
func isIOError(err error) bool {
	var pe *fs.PathError
	var le *os.LinkError
	var errno syscall.Errno
	return errors.As(err, &pe) || errors.As(err, &le) || errors.As(err, &errno)
}

// guardName is the function name of DB.guard as the runtime reports it.
var guardName = runtime.FuncForPC(reflect.ValueOf((*DB).guard).Pointer()).Name()

// inGuard reports whether the calling goroutine is inside DB.guard.
func inGuard() bool {
	pcs := make([]uintptr, 128)
	n := runtime.Callers(2, pcs)
	frames := runtime.CallersFrames(pcs[:n])
	for {
		f, more := frames.Next()
		if f.Function == guardName {
			return true
		}
		if !more {
			return false
		}
	}
}

// fail records the first failure, logs it and closes Failed.
func (db *DB) fail(cause error) *FailedError {
	db.failOnce.Do(func() {
		e := &FailedError{Name: db.opts.Name, Dir: db.dir, DiskFull: isDiskFull(cause), Cause: cause}
		db.failErr.Store(e)
		db.log.Error("database stopped taking writes", "dir", db.dir, "disk_full", e.DiskFull, "err", e.Error())
		close(db.failed)
	})
	return db.failErr.Load()
}

// pebbleError is the message pebble gave Fatalf, wrapping the error among
// its arguments (nil if none).
type pebbleError struct {
	msg string
	err error
}

func (e *pebbleError) Error() string { return e.msg }
func (e *pebbleError) Unwrap() error { return e.err }

// logger is the pebble.Logger of a DB.
type logger struct{ db *DB }

func (l logger) Infof(format string, args ...any) {
	l.db.log.Debug("pebble: " + fmt.Sprintf(format, args...))
}

func (l logger) Errorf(format string, args ...any) {
	l.db.log.Error("pebble: " + fmt.Sprintf(format, args...))
}

// Fatalf is pebble's report of a failure it cannot go on from (a failed log
// or MANIFEST write, or a broken invariant). It must not return: pebble goes
// on as if the operation succeeded when it does. Inside a guarded write it
// unwinds to guard, which returns the failure; on any other goroutine (a
// background flush or compaction, or a write that bypassed DB) it parks that
// goroutine for good, and the daemon stops through Watch.
func (l logger) Fatalf(format string, args ...any) {
	var cause error
	for _, a := range args {
		if err, ok := a.(error); ok {
			cause = err
			break
		}
	}
	e := l.db.fail(&pebbleError{msg: "pebble: " + strings.TrimPrefix(fmt.Sprintf(format, args...), "pebble: "), err: cause})
	if inGuard() {
		panic(fatalPanic{e})
	}
	l.db.stuck.Store(true)
	l.db.log.Error("pebble goroutine parked after a failure it cannot recover from; the daemon stops", "dir", l.db.dir)
	select {}
}

// onDiskFull is pebble's hook for its first ENOSPC since the last call:
// release the ballast so the write can be retried.
func (db *DB) onDiskFull() {
	if db.opts.Ballast == 0 || db.ballastGone.Swap(true) {
		return
	}
	p := db.ballastPath()
	if err := db.fs.Remove(p); err != nil {
		db.log.Error("disk full and the emergency ballast cannot be removed", "file", p, "err", err)
		return
	}
	db.log.Error("disk full: released the emergency ballast so the database can finish its write; writes that add data are refused until there is room again",
		"dir", db.dir, "ballast_bytes", db.opts.Ballast)
}

func (db *DB) ballastPath() string { return filepath.Join(db.dir, BallastFile) }

// prepareBallast keeps the ballast at Ballast bytes, making it if the disk
// has room for it above the reserve.
func (db *DB) prepareBallast() {
	if db.opts.Ballast == 0 {
		return
	}
	if fi, err := db.fs.Stat(db.ballastPath()); err == nil && fi.Size() == db.opts.Ballast {
		return
	}
	db.ballastGone.Store(true)
	db.rearmBallast()
}

// ballastRetry is how long after a failed attempt the ballast is tried
// again.
const ballastRetry = 5 * time.Second

// rearmBallast makes the ballast if the disk has room for it; after a
// failed attempt, not again for ballastRetry.
func (db *DB) rearmBallast() {
	db.ballastMu.Lock()
	defer db.ballastMu.Unlock()
	if !db.ballastGone.Load() || time.Now().Before(db.ballastRetryAt) {
		return
	}
	p := db.ballastPath()
	db.fs.Remove(p) // a short one from a crash while making it
	if du, err := db.fs.GetDiskUsage(db.dir); err != nil || int64(min(du.AvailBytes, 1<<62)) < db.opts.Reserve+db.opts.Ballast {
		db.log.Warn("disk low: no room for the emergency ballast", "file", p, "bytes", db.opts.Ballast)
		db.ballastRetryAt = time.Now().Add(ballastRetry)
		return
	}
	if err := makeBallast(db.fs, p, db.opts.Ballast); err != nil {
		db.fs.Remove(p)
		db.log.Warn("cannot make the emergency ballast", "file", p, "err", err)
		db.ballastRetryAt = time.Now().Add(ballastRetry)
		return
	}
	db.log.Info("emergency ballast in place", "file", p, "bytes", db.opts.Ballast)
	db.ballastGone.Store(false)
}
