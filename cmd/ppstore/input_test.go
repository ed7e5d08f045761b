package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ppstore/ppstore/shard"
	"github.com/ppstore/ppstore/user"
	"github.com/ppstore/ppstore/wire"
)

// A put with input the region would refuse fails before it opens the
// client: with no config at all, the error is still about the input.
func TestPutChecksTheCommandLineFirst(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "none.toml")
	file := filepath.Join(dir, "ok.bin")
	os.WriteFile(file, []byte("data"), 0o600)
	latin1 := filepath.Join(dir, "caf\xe9.txt") // a name from a Latin-1 system
	if err := os.WriteFile(latin1, []byte("data"), 0o600); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("want 1..%d", user.MaxReplicas)
	tooMany := strconv.Itoa(user.MaxReplicas + 1)
	for _, tc := range []struct {
		args []string
		code int
		says []string
	}{
		{[]string{"put", "--replicas", "0", file}, exitUsage, []string{"--replicas 0", want}},
		{[]string{"put", "--replicas=-1", file}, exitUsage, []string{"--replicas -1"}},
		{[]string{"put", "--replicas", tooMany, file}, exitUsage, []string{"--replicas " + tooMany, want}},
		{[]string{"put", "--name", "caf\xe9", file}, exitUsage, []string{"--name", `"caf\xe9" is not valid UTF-8`}},
		{[]string{"put", "--name", strings.Repeat("n", wire.MaxNameLen+1), file}, exitUsage, []string{"--name", fmt.Sprintf("%d bytes", wire.MaxNameLen+1), fmt.Sprintf("at most %d", wire.MaxNameLen)}},
		{[]string{"put", latin1}, exitUsage, []string{strconv.Quote(latin1), "not valid UTF-8", "--name NAME"}},
		{[]string{"put", filepath.Join(dir, "absent.bin")}, exitError, []string{filepath.Join(dir, "absent.bin") + ": no such file"}},
		{[]string{"put", dir}, exitError, []string{dir + " is a directory"}},
		// Valid input gets as far as the config.
		{[]string{"put", "--name", "cafe.txt", latin1}, exitError, []string{"no client config at " + missing}},
		{[]string{"put", "--replicas", strconv.Itoa(user.MaxReplicas), file}, exitError, []string{"no client config"}},
		{[]string{"put", "--name", "two\nlines", file}, exitError, []string{"no client config"}},
	} {
		code, out, errOut := runCLI(t, append(tc.args, "--config", missing)...)
		if code != tc.code || out != "" {
			t.Errorf("%.80q: exit %d, stdout %q; want exit %d", tc.args, code, out, tc.code)
		}
		for _, s := range tc.says {
			if !strings.Contains(errOut, s) {
				t.Errorf("%.80q: stderr %q lacks %q", tc.args, errOut, s)
			}
		}
		if strings.Contains(errOut, "\xe9") {
			t.Errorf("%.80q: raw invalid bytes on stderr: %q", tc.args, errOut)
		}
	}
}

// A file too large for one commit is refused after the config is read and
// before anything is sent: the region here does not even exist.
func TestPutRefusesFileTooLargeForOneCommit(t *testing.T) {
	dir := t.TempDir()
	cfg := deadBootstrapConfig(t, dir)
	big := filepath.Join(dir, "big.img")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(1 << 40); err != nil { // sparse: no disk used
		f.Close()
		t.Skipf("this file system has no 1 TiB sparse files: %v", err)
	}
	f.Close()
	code, _, errOut := runCLIWithin(t, 3*time.Second, "put", "--config", cfg, big)
	if code != exitError || !strings.HasPrefix(errOut, "ppstore: "+big+": size:") || !strings.Contains(errOut, "shard_size") {
		t.Fatalf("put of 1 TiB: exit %d, %q", code, errOut)
	}
	if strings.Contains(errOut, "bootstrap") {
		t.Fatalf("the put tried the region before refusing: %q", errOut)
	}
}

func TestQuoteIfNeeded(t *testing.T) {
	for in, want := range map[string]string{
		"holiday.mp4":        "holiday.mp4",
		"with space.txt":     "with space.txt",
		"名前 ünïcødé.txt":     "名前 ünïcødé.txt",
		"":                   "",
		"two\nlines":         `"two\nlines"`,
		"tab\there":          `"tab\there"`,
		"\x1b[31mred":        `"\x1b[31mred"`,
		"cr\rover":           `"cr\rover"`,
		"rtl\u202egnp.exe":   `"rtl\u202egnp.exe"`,
		"nbsp\u00a0":         `"nbsp\u00a0"`,
		`"looks quoted"`:     `"\"looks quoted\""`,
		"not utf8 \xff":      `"not utf8 \xff"`,
		`in "the" middle ok`: `in "the" middle ok`,
	} {
		if got := quoteIfNeeded(in); got != want {
			t.Errorf("quoteIfNeeded(%q) = %s, want %s", in, got, want)
		}
	}
}

// ls prints one line per file whatever the names hold, and a quoted name
// unquotes to the name stored.
func TestListingOneLinePerFile(t *testing.T) {
	id := shard.ManifestCIDOf([]byte("x"))
	names := []string{"plain.txt", "two\nlines\n", "\ttabbed", "esc\x1b]0;title\x07", "", "\"q\"", "last one"}
	var files []wire.FileEntry
	for i, n := range names {
		files = append(files, wire.FileEntry{CID: id, Name: n, Size: uint64(i), Created: 1_700_000_000})
	}
	var b strings.Builder
	if err := printListing(&b, files); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != len(names) {
		t.Fatalf("%d lines for %d files:\n%s", len(lines), len(names), b.String())
	}
	for i, l := range lines {
		if strings.ContainsAny(l, "\t\r\x1b\x07") {
			t.Errorf("line %d holds control characters: %q", i, l)
		}
		if !strings.HasPrefix(l, id.String()) {
			t.Errorf("line %d does not start with the CID: %q", i, l)
		}
		shown := quoteIfNeeded(names[i])
		if !strings.HasSuffix(l, shown) {
			t.Errorf("line %d %q does not end with the name %s", i, l, shown)
		}
		if strings.HasPrefix(shown, `"`) {
			if back, err := strconv.Unquote(shown); err != nil || back != names[i] {
				t.Errorf("name %q shown as %s, which unquotes to %q (%v)", names[i], shown, back, err)
			}
		}
	}
}

// Read errors name the input as typed, not the path the system gave it.
func TestNamedReaderErrors(t *testing.T) {
	failing := readerFunc(func([]byte) (int, error) {
		return 0, &os.PathError{Op: "read", Path: "/proc/self/fd/0", Err: syscall.EIO}
	})
	_, err := namedReader{failing, "-"}.Read(make([]byte, 8))
	if err == nil || !strings.Contains(err.Error(), "reading standard input") || strings.Contains(err.Error(), "/proc") || !errors.Is(err, syscall.EIO) {
		t.Errorf("stdin read error: %v", err)
	}
	_, err = namedReader{failing, "my fifo"}.Read(make([]byte, 8))
	if err == nil || !strings.Contains(err.Error(), "reading my fifo") {
		t.Errorf("fifo read error: %v", err)
	}
	eof := readerFunc(func([]byte) (int, error) { return 0, io.EOF })
	if _, err := (namedReader{eof, "-"}).Read(nil); err != io.EOF {
		t.Errorf("EOF became %v", err)
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// get -o errors name the file asked for, never the temporary one beside it.
func TestWriteFileAtomicallyErrorsNameThePath(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "missing-dir", "out.bin")
	err := writeFileAtomically(path, func(io.Writer) error { return nil })
	if err == nil || !strings.Contains(err.Error(), path) || strings.Contains(err.Error(), ".part-") || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("create in a missing directory: %v", err)
	}
	path = filepath.Join(dir, "out.bin")
	err = writeFileAtomically(path, func(w io.Writer) error {
		// What a full disk does to the temporary file.
		_, err := pathWriter{readerWriterFunc(func([]byte) (int, error) {
			return 0, &os.PathError{Op: "write", Path: filepath.Join(dir, ".out.bin.part-123"), Err: syscall.ENOSPC}
		}), path}.Write([]byte("x"))
		return err
	})
	if err == nil || !strings.Contains(err.Error(), path) || strings.Contains(err.Error(), ".part-") || !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("disk full: %v", err)
	}
	if names := dirNames(t, dir); len(names) != 0 {
		t.Errorf("left behind: %v", names)
	}
}

type readerWriterFunc func([]byte) (int, error)

func (f readerWriterFunc) Write(p []byte) (int, error) { return f(p) }

// Whatever bytes a name from the indexer holds, ls shows it on one line
// without control characters, and a quoted name unquotes to it.
func FuzzQuoteIfNeeded(f *testing.F) {
	for _, s := range []string{"plain", "two\nlines", "\x1b[2J", `"q"`, "\xff\xfe", "\u202e", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		shown := quoteIfNeeded(name)
		for _, r := range shown {
			if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
				t.Fatalf("quoteIfNeeded(%q) = %q holds control character %U", name, shown, r)
			}
		}
		if shown == name {
			return
		}
		back, err := strconv.Unquote(shown)
		if err != nil || back != name {
			t.Fatalf("quoteIfNeeded(%q) = %s, unquotes to %q (%v)", name, shown, back, err)
		}
	})
}
