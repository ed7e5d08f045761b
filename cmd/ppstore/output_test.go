package main

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// dirNames lists the names in dir.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// get -o creates its file as other tools do: mode 0666 less the umask.
func TestWriteFileAtomicallyHonoursUmask(t *testing.T) {
	for _, tc := range []struct {
		umask int
		want  os.FileMode
	}{{0o022, 0o644}, {0o027, 0o640}, {0o002, 0o664}} {
		old := syscall.Umask(tc.umask)
		dir := t.TempDir()
		path := filepath.Join(dir, "out.bin")
		err := writeFileAtomically(path, func(w io.Writer) error {
			_, err := io.WriteString(w, "hello")
			return err
		})
		syscall.Umask(old)
		if err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != tc.want {
			t.Errorf("umask %03o: file mode %04o, want %04o", tc.umask, got, tc.want)
		}
		if b, _ := os.ReadFile(path); string(b) != "hello" {
			t.Errorf("file holds %q, want %q", b, "hello")
		}
		if names := dirNames(t, dir); len(names) != 1 {
			t.Errorf("directory holds %v, want only out.bin", names)
		}
	}
}

// A failed (or interrupted: the fetch then fails with the context's error)
// get leaves the existing file as it was and no temporary file behind.
func TestWriteFileAtomicallyFailureLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.bin")
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("miner gone")
	err := writeFileAtomically(path, func(w io.Writer) error {
		io.WriteString(w, "half a fi")
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("error %v, want the write's error", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "old" {
		t.Errorf("failed write changed the file to %q", b)
	}
	if names := dirNames(t, dir); len(names) != 1 || names[0] != "out.bin" {
		t.Errorf("directory holds %v after a failed write, want only out.bin", names)
	}

	err = writeFileAtomically(filepath.Join(dir, "no-such-dir", "out.bin"), func(io.Writer) error {
		t.Error("write called without a file")
		return nil
	})
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("writing into a missing directory: %v, want a not-exist error", err)
	}
}
