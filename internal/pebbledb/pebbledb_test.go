package pebbledb

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"
	"github.com/ppstore/ppstore/internal/faultfs"
	"github.com/ppstore/ppstore/internal/testutil"
	"github.com/ppstore/ppstore/wire"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// gauges registers db's collectors and returns a reader of one metric by
// name.
func gauges(t *testing.T, db *DB) func(name string) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	byName := map[string]prometheus.Collector{}
	for _, c := range db.Collectors() {
		if err := reg.Register(c); err != nil {
			t.Fatal(err)
		}
		ch := make(chan *prometheus.Desc, 1)
		c.Describe(ch)
		d := (<-ch).String()
		i := strings.Index(d, `fqName: "`) + len(`fqName: "`)
		byName[d[i:i+strings.Index(d[i:], `"`)]] = c
	}
	return func(name string) float64 {
		c, ok := byName[name]
		if !ok {
			t.Fatalf("no metric %s", name)
		}
		ch := make(chan prometheus.Metric, 1)
		c.Collect(ch)
		var m dto.Metric
		if err := (<-ch).Write(&m); err != nil {
			t.Fatal(err)
		}
		if m.Counter != nil {
			return m.Counter.GetValue()
		}
		return m.Gauge.GetValue()
	}
}

func open(t *testing.T, dir string, fs vfs.FS, mod func(*Options)) *DB {
	t.Helper()
	o := Options{Name: "tester", FS: fs, StopGrace: time.Millisecond}
	if mod != nil {
		mod(&o)
	}
	db, err := Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func mustGet(t *testing.T, db *DB, key string) (string, bool) {
	t.Helper()
	v, closer, err := db.Get([]byte(key))
	if errors.Is(err, pebble.ErrNotFound) {
		return "", false
	}
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	return string(v), true
}

// A log write or sync that fails on a full disk, even after the ballast is
// released, is returned by the write that met it (no panic out of pebble),
// as an error naming the folder and the remedy that matches ErrDiskFull and
// wire.ErrNoSpace; every later write gets it without reaching pebble, Watch
// returns it, and a reopen with room finds everything acknowledged before,
// the failed batch whole or not at all, and takes writes again.
func TestFailedLogWriteStopsTheDatabase(t *testing.T) {
	for _, op := range []faultfs.Op{faultfs.Write, faultfs.Sync} {
		t.Run(op.String(), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "db")
			ffs := faultfs.Wrap(vfs.Default, dir)
			db := open(t, dir, ffs, nil)
			if err := db.Set([]byte("kept"), []byte("1"), pebble.Sync); err != nil {
				t.Fatal(err)
			}

			ffs.Fail(op)
			b := db.NewBatch()
			b.Set([]byte("lost-a"), []byte("2"), nil)
			b.Set([]byte("lost-b"), []byte("2"), nil)
			err := db.Commit(b, pebble.Sync)
			b.Close()
			ffs.Fail()
			if ffs.Injected(op) == 0 {
				t.Fatalf("no %v failed: the test exercised nothing", op)
			}
			var fe *FailedError
			if !errors.As(err, &fe) || !errors.Is(err, ErrDiskFull) || !errors.Is(err, ErrFailed) ||
				!errors.Is(err, wire.ErrNoSpace) || !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("commit on a full disk: err = %v, want a *FailedError matching ErrDiskFull, ErrFailed, wire.ErrNoSpace, ENOSPC", err)
			}
			if msg := err.Error(); !strings.Contains(msg, dir) || !strings.Contains(msg, "free space") {
				t.Fatalf("error %q does not name the folder and the remedy", msg)
			}
			if we := wire.ToError(fmt.Errorf("daemon: %w", err)); we.Code != wire.CodeNoSpace {
				t.Fatalf("crosses the wire as %v, want no space", we.Code)
			}
			select {
			case <-db.Failed():
			default:
				t.Fatal("Failed not closed after the failure")
			}
			if gauges(t, db)("ppstore_db_failed") != 1 {
				t.Fatal("ppstore_db_failed not 1 after the failure")
			}
			if err := db.Set([]byte("later"), []byte("3"), pebble.Sync); !errors.Is(err, ErrFailed) {
				t.Fatalf("write after the failure: err = %v, want the failure", err)
			}
			if err := db.Delete([]byte("kept"), pebble.Sync); !errors.Is(err, ErrFailed) {
				t.Fatalf("delete after the failure: err = %v, want the failure", err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), testutil.Wait)
			defer cancel()
			if err := db.Watch(ctx); !errors.Is(err, ErrFailed) {
				t.Fatalf("Watch = %v, want the failure", err)
			}
			if err := db.Close(); !errors.Is(err, ErrFailed) {
				t.Fatalf("Close = %v, want the failure", err)
			}

			db = open(t, dir, ffs, nil)
			defer db.Close()
			if v, ok := mustGet(t, db, "kept"); !ok || v != "1" {
				t.Fatalf("acknowledged key after reopen: %q, %v", v, ok)
			}
			_, a := mustGet(t, db, "lost-a")
			_, b2 := mustGet(t, db, "lost-b")
			if a != b2 {
				t.Fatalf("the failed batch came back in part: lost-a %v, lost-b %v", a, b2)
			}
			if _, ok := mustGet(t, db, "later"); ok {
				t.Fatal("a write refused after the failure was stored")
			}
			if err := db.Set([]byte("again"), []byte("4"), pebble.Sync); err != nil {
				t.Fatalf("write after reopening with room: %v", err)
			}
		})
	}
}

// A disk full for one write: pebble's disk-full hook releases the ballast and
// the retried write succeeds, so nothing fails; the ballast is made again
// once the disk has room for it.
func TestBallastAbsorbsAFullDisk(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	ffs := faultfs.Wrap(vfs.Default, dir)
	db := open(t, dir, ffs, nil)
	defer db.Close()
	ballast := filepath.Join(dir, BallastFile)
	if fi, err := os.Stat(ballast); err != nil || fi.Size() != DefaultBallast {
		t.Fatalf("ballast after open: %v, %v", fi, err)
	}

	metric := gauges(t, db)
	ffs.FailNext(1, faultfs.Write)
	if err := db.Set([]byte("k"), []byte("v"), pebble.Sync); err != nil {
		t.Fatalf("write retried after the ballast went: %v", err)
	}
	if metric("ppstore_db_ballast_released") != 1 {
		t.Fatal("ballast_released not 1 after the ballast went")
	}
	if ffs.Injected(faultfs.Write) != 1 {
		t.Fatalf("%d writes failed, want 1", ffs.Injected(faultfs.Write))
	}
	if _, err := os.Stat(ballast); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("ballast still there after a full disk: %v", err)
	}
	if db.Err() != nil {
		t.Fatalf("database failed: %v", db.Err())
	}
	// The disk has room again: the next write puts the ballast back.
	if err := db.Set([]byte("k2"), []byte("v"), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(ballast); err != nil || fi.Size() != DefaultBallast {
		t.Fatalf("ballast not made again: %v, %v", fi, err)
	}
	if metric("ppstore_db_ballast_released") != 0 || metric("ppstore_db_failed") != 0 {
		t.Fatal("ballast_released or failed not 0 with the ballast back")
	}
	if v, ok := mustGet(t, db, "k"); !ok || v != "v" {
		t.Fatalf("key written while the disk was full: %q, %v", v, ok)
	}
}

// Below the reserve, writes that add data are refused before pebble sees
// them, with an error matching ErrDiskFull and wire.ErrNoSpace that leaves
// the database working; deletions, alone or in a batch, still pass.
func TestReserveRefusesGrowthButNotDeletions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	ffs := faultfs.Wrap(vfs.Default, dir)
	db := open(t, dir, ffs, func(o *Options) { o.Reserve = 1 << 20 })
	defer db.Close()
	for _, k := range []string{"a", "b", "c"} {
		if err := db.Set([]byte(k), []byte("v"), pebble.Sync); err != nil {
			t.Fatal(err)
		}
	}
	if db.Headroom() != 2<<20 {
		t.Fatalf("Headroom = %d, want twice the reserve", db.Headroom())
	}

	metric := gauges(t, db)
	ffs.SetAvail(1<<20 - 1)
	err := db.Set([]byte("new"), []byte("v"), pebble.Sync)
	var nr *NoRoomError
	if !errors.As(err, &nr) || !errors.Is(err, ErrDiskFull) || !errors.Is(err, wire.ErrNoSpace) || errors.Is(err, ErrFailed) {
		t.Fatalf("write below the reserve: err = %v, want a *NoRoomError matching ErrDiskFull and wire.ErrNoSpace", err)
	}
	if !strings.Contains(err.Error(), dir) {
		t.Fatalf("error %q does not name the folder", err)
	}
	b := db.NewBatch()
	b.Delete([]byte("a"), nil)
	b.Set([]byte("new"), []byte("v"), nil)
	if err := db.Commit(b, pebble.Sync); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("batch adding data below the reserve: err = %v", err)
	}
	b.Close()
	if _, ok := mustGet(t, db, "new"); ok {
		t.Fatal("a refused write was stored")
	}
	if n := metric("ppstore_db_writes_refused_total"); n != 2 {
		t.Fatalf("writes_refused_total = %v, want 2", n)
	}
	if n := metric("ppstore_db_available_bytes"); n != 1<<20-1 {
		t.Fatalf("available_bytes = %v, want what the disk reports", n)
	}
	if _, ok := mustGet(t, db, "a"); !ok {
		t.Fatal("a refused batch was stored in part")
	}

	if err := db.Delete([]byte("a"), pebble.Sync); err != nil {
		t.Fatalf("delete below the reserve: %v", err)
	}
	b = db.NewBatch()
	b.Delete([]byte("b"), nil)
	b.DeleteRange([]byte("c"), []byte("d"), nil)
	if err := db.Commit(b, pebble.Sync); err != nil {
		t.Fatalf("batch of deletions below the reserve: %v", err)
	}
	b.Close()
	for _, k := range []string{"a", "b", "c"} {
		if _, ok := mustGet(t, db, k); ok {
			t.Fatalf("%s not deleted", k)
		}
	}

	ffs.SetAvail(-1)
	if err := db.Set([]byte("new"), []byte("v"), pebble.Sync); err != nil {
		t.Fatalf("write with room again: %v", err)
	}
	if db.Err() != nil {
		t.Fatalf("refusals stopped the database: %v", db.Err())
	}
}

// A failure pebble reports on one of its own goroutines (a flush or
// compaction writing the MANIFEST) cannot be returned to anyone: that
// goroutine is parked instead of crashing the process, the database stops,
// and Watch returns the failure so the daemon stops; Close does not wait on
// the parked goroutine.
func TestFatalOutsideAWriteParksAndStops(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	db := open(t, dir, vfs.Default, nil)
	returned := make(chan struct{})
	go func() {
		cause := &os.PathError{Op: "write", Path: filepath.Join(dir, "MANIFEST-000001"), Err: syscall.ENOSPC}
		logger{db}.Fatalf("MANIFEST write failed: %v", cause)
		close(returned) // never reached
	}()
	ctx, cancel := context.WithTimeout(context.Background(), testutil.Wait)
	defer cancel()
	err := db.Watch(ctx)
	if !errors.Is(err, ErrDiskFull) || !strings.Contains(err.Error(), "MANIFEST write failed") {
		t.Fatalf("Watch = %v, want the disk-full failure", err)
	}
	select {
	case <-returned:
		t.Fatal("Fatalf returned")
	default:
	}
	if err := db.Set([]byte("k"), []byte("v"), pebble.Sync); !errors.Is(err, ErrFailed) {
		t.Fatalf("write after the failure: %v", err)
	}
	if err := db.Close(); !errors.Is(err, ErrFailed) {
		t.Fatalf("Close = %v, want the failure", err)
	}
	// No pebble goroutine is really parked here: close pebble for the test.
	if err := db.DB.Close(); err != nil {
		t.Fatal(err)
	}
}

// Watch returns nil when its context ends first.
func TestWatchEndsWithItsContext(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "db"), vfs.Default, nil)
	defer db.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- db.Watch(ctx) }()
	cancel()
	if err, ok := testutil.Within(done, testutil.Wait); !ok || err != nil {
		t.Fatalf("Watch after cancel: %v, returned %v", err, ok)
	}
}

// When its memtable is full pebble starts a new log file, holding its
// mutex, and panics if it cannot create it. A full disk there returns the
// failure to the write, as at a log write; Close does not wait on the mutex
// pebble still holds.
func TestFullDiskAtANewLogFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	ffs := faultfs.Wrap(vfs.Default, dir)
	db := open(t, dir, ffs, func(o *Options) { o.Pebble = &pebble.Options{MemTableSize: 1 << 20} })
	ffs.Fail(faultfs.Create)
	val := make([]byte, 64<<10)
	var err error
	for i := 0; i < 1000 && err == nil; i++ {
		err = db.Set([]byte(fmt.Sprint("k", i)), val, pebble.NoSync)
	}
	ffs.Fail()
	if ffs.Injected(faultfs.Create) == 0 {
		t.Fatal("no file creation failed: the test exercised nothing")
	}
	if !errors.Is(err, ErrDiskFull) || !errors.Is(err, ErrFailed) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("write when the new log file cannot be created: err = %v, want the disk-full failure", err)
	}
	closed := make(chan error, 1)
	go func() { closed <- db.Close() }()
	if err, ok := testutil.Within(closed, testutil.Wait); !ok || !errors.Is(err, ErrFailed) {
		t.Fatalf("Close = %v (returned %v), want the failure at once", err, ok)
	}
}
