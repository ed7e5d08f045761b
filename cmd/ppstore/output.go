package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
)

// writeFileAtomically writes path through a temporary file beside it, renamed
// over path only once write has succeeded and the bytes are on disk: a failed
// or interrupted write leaves neither a half file nor the temporary one.
func writeFileAtomically(path string, write func(io.Writer) error) (err error) {
	tmp, err := createTemp(filepath.Dir(path), "."+filepath.Base(path)+".part-")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := write(tmp); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return os.Rename(tmp.Name(), path)
}

// createTemp creates a new file in dir named prefix and a random number.
// Unlike os.CreateTemp, which always uses mode 0600, it asks for 0666 and
// lets the umask decide, as other tools do for the files they write.
func createTemp(dir, prefix string) (*os.File, error) {
	for try := 0; ; try++ {
		name := filepath.Join(dir, prefix+strconv.FormatUint(uint64(rand.Uint32()), 10))
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		if errors.Is(err, fs.ErrExist) && try < 100 {
			continue // taken by another get to the same file: draw again
		}
		return f, err
	}
}
