// Package faultfs wraps a pebble vfs.FS so that a test can make chosen
// operations fail the way a full disk makes them fail (ENOSPC): writes, the
// fsync family (of files and of directories), renames, file creation; and
// make the file system report less space available than it has. It owns
// nothing but the injection; tests use it to check that a daemon's write on
// a full disk (pebble's, or the miner's shard files, which go through the
// same vfs.FS) reaches the client as a clear "no space" and leaves nothing
// half-stored. (pebble's own vfs/errorfs cannot fail SyncData and SyncTo, the
// calls its WAL syncs with, hence this package.)
package faultfs

import (
	"os"
	"strings"
	"sync"
	"syscall"

	"github.com/cockroachdb/pebble/vfs"
)

// Op is a kind of file system operation that can be made to fail.
type Op int

// The operations FS can fail.
const (
	Write  Op = iota // File.Write and File.WriteAt
	Sync             // File.Sync, File.SyncData, File.SyncTo
	Rename           // FS.Rename
	Create           // FS.Create and FS.ReuseForWrite
)

// forever is the count of a failure switched on by Fail.
const forever = -1

func (o Op) String() string {
	return [...]string{"write", "sync", "rename", "create"}[o]
}

// FS is a vfs.FS whose operations on paths under a directory fail with
// ENOSPC while they are switched on with Fail. The zero value is not usable;
// see Wrap.
type FS struct {
	vfs.FS
	under string

	mu       sync.Mutex
	failing  map[Op]int // failures left per op; forever for no end
	injected map[Op]int
	avail    int64 // what GetDiskUsage reports available; < 0: the truth
}

// Wrap returns fs with fault injection for the paths under dir (every path
// if dir is empty). Nothing fails until Fail is called.
func Wrap(fs vfs.FS, dir string) *FS {
	return &FS{FS: fs, under: dir, failing: map[Op]int{}, injected: map[Op]int{}, avail: -1}
}

// Fail makes the given operations fail from now on; with no argument, it
// stops every failure (the disk has room again).
func (f *FS) Fail(ops ...Op) {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.failing)
	for _, o := range ops {
		f.failing[o] = forever
	}
}

// FailNext makes the next n operations of each given kind fail, and the
// ones after succeed: a disk that was full for a moment. It replaces what
// Fail switched on.
func (f *FS) FailNext(n int, ops ...Op) {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.failing)
	for _, o := range ops {
		f.failing[o] = n
	}
}

// SetAvail makes GetDiskUsage report n bytes available (the rest of its
// figures unchanged), or the truth again with n < 0.
func (f *FS) SetAvail(n int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.avail = n
}

// GetDiskUsage returns the wrapped file system's figures, with the bytes
// available set by SetAvail.
func (f *FS) GetDiskUsage(path string) (vfs.DiskUsage, error) {
	du, err := f.FS.GetDiskUsage(path)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err == nil && f.avail >= 0 {
		du.AvailBytes = uint64(f.avail)
	}
	return du, err
}

// Injected returns how many failures of op were injected so far.
func (f *FS) Injected(op Op) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.injected[op]
}

// check returns the error op on path gets now, or nil.
func (f *FS) check(op Op, path string) error {
	if f.under != "" && !strings.HasPrefix(path, f.under) {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	left, ok := f.failing[op]
	if !ok || left == 0 {
		return nil
	}
	if left > 0 {
		f.failing[op] = left - 1
	}
	f.injected[op]++
	return &os.PathError{Op: op.String(), Path: path, Err: syscall.ENOSPC}
}

func (f *FS) wrap(file vfs.File, path string, err error) (vfs.File, error) {
	if err != nil {
		return nil, err
	}
	return &faultFile{File: file, fs: f, path: path}, nil
}

// Create creates a file, or fails while Create fails.
func (f *FS) Create(name string) (vfs.File, error) {
	if err := f.check(Create, name); err != nil {
		return nil, err
	}
	file, err := f.FS.Create(name)
	return f.wrap(file, name, err)
}

// ReuseForWrite renames and reopens a file, or fails while Create fails.
func (f *FS) ReuseForWrite(oldname, newname string) (vfs.File, error) {
	if err := f.check(Create, newname); err != nil {
		return nil, err
	}
	file, err := f.FS.ReuseForWrite(oldname, newname)
	return f.wrap(file, newname, err)
}

// OpenReadWrite opens a file for writing.
func (f *FS) OpenReadWrite(name string, opts ...vfs.OpenOption) (vfs.File, error) {
	file, err := f.FS.OpenReadWrite(name, opts...)
	return f.wrap(file, name, err)
}

// OpenDir opens a directory, whose Sync fails while Sync fails.
func (f *FS) OpenDir(name string) (vfs.File, error) {
	file, err := f.FS.OpenDir(name)
	return f.wrap(file, name, err)
}

// Rename renames a file, or fails while Rename fails.
func (f *FS) Rename(oldname, newname string) error {
	if err := f.check(Rename, newname); err != nil {
		return err
	}
	return f.FS.Rename(oldname, newname)
}

type faultFile struct {
	vfs.File
	fs   *FS
	path string
}

func (f *faultFile) Write(p []byte) (int, error) {
	if err := f.fs.check(Write, f.path); err != nil {
		return 0, err
	}
	return f.File.Write(p)
}

func (f *faultFile) WriteAt(p []byte, off int64) (int, error) {
	if err := f.fs.check(Write, f.path); err != nil {
		return 0, err
	}
	return f.File.WriteAt(p, off)
}

func (f *faultFile) Sync() error {
	if err := f.fs.check(Sync, f.path); err != nil {
		return err
	}
	return f.File.Sync()
}

func (f *faultFile) SyncData() error {
	if err := f.fs.check(Sync, f.path); err != nil {
		return err
	}
	return f.File.SyncData()
}

func (f *faultFile) SyncTo(length int64) (bool, error) {
	if err := f.fs.check(Sync, f.path); err != nil {
		return false, err
	}
	return f.File.SyncTo(length)
}
