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
// Errors name path, never the temporary file, which the user did not ask for.
func writeFileAtomically(path string, write func(io.Writer) error) (err error) {
	tmp, err := createTemp(filepath.Dir(path), "."+filepath.Base(path)+".part-")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, unwrapPath(err))
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := write(pathWriter{tmp, path}); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("writing %s: %w", path, unwrapPath(err))
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, unwrapPath(err))
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		var le *os.LinkError
		if errors.As(err, &le) {
			err = le.Err
		}
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// pathWriter writes to the temporary file behind path; its errors name path.
type pathWriter struct {
	w    io.Writer
	path string
}

func (p pathWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	if err != nil {
		err = &os.PathError{Op: "write", Path: p.path, Err: unwrapPath(err)}
	}
	return n, err
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
