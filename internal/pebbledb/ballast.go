package pebbledb

import (
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/vfs"
	"golang.org/x/sys/unix"
)

// makeBallast creates the file p holding size bytes of allocated blocks. It
// allocates with fallocate(2) where the file system has it, else writes
// zeros. The file is not synced: a crash that loses it costs only its
// re-creation at the next open.
func makeBallast(fs vfs.FS, p string, size int64) error {
	f, err := fs.Create(p)
	if err != nil {
		return err
	}
	if fd := f.Fd(); fd != vfs.InvalidFd {
		err = unix.Fallocate(int(fd), 0, 0, size)
		if err == nil {
			return f.Close()
		}
		if !errors.Is(err, unix.EOPNOTSUPP) && !errors.Is(err, unix.ENOSYS) {
			f.Close()
			return fmt.Errorf("allocate %d bytes for %s: %w", size, p, err)
		}
	}
	zeros := make([]byte, 1<<20)
	for left := size; left > 0; left -= int64(len(zeros)) {
		if _, err := f.Write(zeros[:min(left, int64(len(zeros)))]); err != nil {
			f.Close()
			return fmt.Errorf("write %s: %w", p, err)
		}
	}
	return f.Close()
}
