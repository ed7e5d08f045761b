package play

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// memSource is a file in memory that counts its open readers.
type memSource struct {
	data []byte
	open atomic.Int32
}

func (m *memSource) Size() int64 { return int64(len(m.data)) }

func (m *memSource) Open(ctx context.Context, off, n int64) io.ReadCloser {
	m.open.Add(1)
	return &memReader{m: m, ctx: ctx, b: m.data[off:min(off+n, int64(len(m.data)))]}
}

type memReader struct {
	m      *memSource
	ctx    context.Context
	b      []byte
	closed bool
}

func (r *memReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b[:min(len(r.b), 4096)])
	r.b = r.b[n:]
	return n, nil
}

func (r *memReader) Close() error {
	if !r.closed {
		r.closed = true
		r.m.open.Add(-1)
	}
	return nil
}

func TestParseRange(t *testing.T) {
	const size = 1000
	good := []struct {
		h       string
		off, n  int64
		comment string
	}{
		{"bytes=0-", 0, 1000, "whole"},
		{"bytes=0-0", 0, 1, "first byte"},
		{"bytes=10-19", 10, 10, ""},
		{"bytes=990-5000", 990, 10, "last clamped"},
		{"bytes=-10", 990, 10, "suffix"},
		{"bytes=-5000", 0, 1000, "suffix longer than the file"},
		{"bytes=999-", 999, 1, "last byte"},
	}
	for _, c := range good {
		off, n, err := ParseRange(c.h, size)
		if err != nil || off != c.off || n != c.n {
			t.Errorf("%q (%s): %d+%d, %v; want %d+%d", c.h, c.comment, off, n, err, c.off, c.n)
		}
	}
	bad := map[string]error{
		"bytes=1000-":                 ErrUnsatisfiable,
		"bytes=5000-6000":             ErrUnsatisfiable,
		"bytes=-0":                    ErrUnsatisfiable,
		"bytes=5-4":                   ErrBadRange,
		"bytes=a-b":                   ErrBadRange,
		"bytes=-":                     ErrBadRange,
		"bytes=1":                     ErrBadRange,
		"items=0-1":                   ErrBadRange,
		"bytes=+1-2":                  ErrBadRange,
		"bytes=0x10-":                 ErrBadRange,
		"bytes=99999999999999999999-": ErrBadRange,
	}
	for h, want := range bad {
		if _, _, err := ParseRange(h, size); !errors.Is(err, want) {
			t.Errorf("%q: %v, want %v", h, err, want)
		}
	}
}

func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"bytes=0-", "bytes=-10", "bytes=10-20", "bytes=1-2,3-4", "bytes=x"} {
		f.Add(s, int64(1000))
	}
	f.Fuzz(func(t *testing.T, h string, size int64) {
		if size < 0 {
			return
		}
		off, n, err := ParseRange(h, size)
		if err != nil {
			return
		}
		if off < 0 || n <= 0 || off+n > size {
			t.Fatalf("%q of %d: %d+%d out of the file", h, size, off, n)
		}
	})
}

func serve(t *testing.T, src Source) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, New(src, "bafytest", nil)) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

func get(t *testing.T, url, rng string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// Ranges get 206 and the right bytes; a malformed header 400, a range past
// the end 416; the server keeps serving after each.
func TestServerRanges(t *testing.T) {
	src := &memSource{data: make([]byte, 100000)}
	rand.Read(src.data)
	url := serve(t, src)
	resp, b := get(t, url+"/file", "")
	if resp.StatusCode != 200 || !bytes.Equal(b, src.data) || resp.Header.Get("Accept-Ranges") != "bytes" {
		t.Fatalf("whole file: %d, %d bytes, Accept-Ranges %q", resp.StatusCode, len(b), resp.Header.Get("Accept-Ranges"))
	}
	for _, c := range []struct {
		h      string
		off, n int
	}{{"bytes=10-19", 10, 10}, {"bytes=-100", 99900, 100}, {"bytes=99990-200000", 99990, 10}} {
		resp, b := get(t, url+"/file", c.h)
		want := fmt.Sprintf("bytes %d-%d/%d", c.off, c.off+c.n-1, len(src.data))
		if resp.StatusCode != 206 || !bytes.Equal(b, src.data[c.off:c.off+c.n]) || resp.Header.Get("Content-Range") != want {
			t.Fatalf("%s: %d %q, %d bytes", c.h, resp.StatusCode, resp.Header.Get("Content-Range"), len(b))
		}
	}
	for h, code := range map[string]int{"bytes=100000-": 416, "bytes=500000-600000": 416, "bytes=9-1": 400, "bytes=x-": 400, "pages=1-2": 400} {
		resp, _ := get(t, url+"/file", h)
		if resp.StatusCode != code {
			t.Fatalf("%s: %d, want %d", h, resp.StatusCode, code)
		}
		if code == 416 && resp.Header.Get("Content-Range") != "bytes */100000" {
			t.Fatalf("%s: Content-Range %q", h, resp.Header.Get("Content-Range"))
		}
		// Still serving.
		if resp, b := get(t, url+"/file", "bytes=0-3"); resp.StatusCode != 206 || !bytes.Equal(b, src.data[:4]) {
			t.Fatalf("after %s the server answered %d", h, resp.StatusCode)
		}
	}
	// Several ranges: the whole file. A stale If-Range: the whole file.
	if resp, b := get(t, url+"/file", "bytes=0-1,5-6"); resp.StatusCode != 200 || len(b) != len(src.data) {
		t.Fatalf("multi-range: %d, %d bytes", resp.StatusCode, len(b))
	}
	req, _ := http.NewRequest(http.MethodGet, url+"/file", nil)
	req.Header.Set("Range", "bytes=0-1")
	req.Header.Set("If-Range", `"another"`)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("stale If-Range: %v %v", resp.StatusCode, err)
	} else {
		resp.Body.Close()
	}
	// HEAD, other methods, the page, unknown paths.
	if resp, err := http.Head(url + "/file"); err != nil || resp.ContentLength != 100000 {
		t.Fatalf("HEAD: %v %v", resp, err)
	}
	if resp, err := http.Post(url+"/file", "text/plain", nil); err != nil || resp.StatusCode != 405 {
		t.Fatalf("POST: %v %v", resp.StatusCode, err)
	}
	if resp, b := get(t, url+"/", ""); resp.StatusCode != 200 || !strings.Contains(string(b), `<video id="v" src="/file"`) {
		t.Fatalf("page: %d %s", resp.StatusCode, b)
	}
	if resp, _ := get(t, url+"/nope", ""); resp.StatusCode != 404 {
		t.Fatalf("unknown path: %d", resp.StatusCode)
	}
	waitOpen(t, src, 0)
}

// A player closing its connection mid-range closes the range's reader.
func TestServerPlayerGoesAway(t *testing.T) {
	src := &memSource{data: make([]byte, 64<<20)}
	url := serve(t, src)
	resp, err := http.Get(url + "/file")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(resp.Body, make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	if src.open.Load() != 1 {
		t.Fatalf("%d readers open, want 1", src.open.Load())
	}
	resp.Body.Close() // mid-range
	http.DefaultClient.CloseIdleConnections()
	waitOpen(t, src, 0)
}

func waitOpen(t *testing.T, src *memSource, n int32) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for src.open.Load() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d readers open, want %d", src.open.Load(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
