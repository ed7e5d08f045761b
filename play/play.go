// Package play serves one file of a region over local HTTP so that media
// players stream and seek it while its pieces arrive: `/file` is the file
// with HTTP Range support (RFC 9110 §14: one byte range per request; a
// request for several is answered with the whole file, as the RFC allows),
// `/` a page that plays it in a <video> element. The bytes come from a
// Source, in the product a user.Stream, which fetches only the pieces a
// range needs, urgency-first.
//
// It owns the HTTP side only (parsing ranges, status codes, headers, the
// page); fetching, checking and scheduling pieces belong to package user and
// package sched.
package play

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ppstore/ppstore/user"
)

// Source is what a Server plays: a file of Size bytes whose ranges can be
// read. Open returns a reader of n bytes from off; it must honour ctx, and
// Close must end whatever the reader started.
type Source interface {
	Size() int64
	Open(ctx context.Context, off, n int64) io.ReadCloser
}

type streamSource struct{ s *user.Stream }

func (s streamSource) Size() int64 { return s.s.PlainSize() }
func (s streamSource) Open(ctx context.Context, off, n int64) io.ReadCloser {
	return s.s.PlainRange(ctx, off, n)
}

// FromStream plays a user.Stream: its plaintext, for a private file.
func FromStream(s *user.Stream) Source { return streamSource{s} }

// Server is the http.Handler of one file.
type Server struct {
	src  Source
	name string // shown on the page
	etag string
	log  *slog.Logger

	mu        sync.Mutex
	mediaType string // sniffed from the first bytes; "" until known
}

// New returns a Server of src. id names the file (its CID): it is the page's
// title and the entity tag of /file, so a player's If-Range check works.
func New(src Source, id string, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{src: src, name: id, etag: strconv.Quote(id), log: log}
}

// ServeHTTP serves / (the page) and /file (the media).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/":
		s.page(w, r)
	case "/file":
		s.file(w, r)
	default:
		http.NotFound(w, r)
	}
}

var pageTmpl = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{.}} · ppstore</title>
<style>body{margin:0;background:#111;color:#ccc;font:14px sans-serif}video{display:block;width:100vw;max-height:92vh;background:#000}p{margin:8px;word-break:break-all}</style>
</head><body>
<video id="v" src="/file" controls autoplay muted playsinline preload="auto"></video>
<p>{{.}}</p>
</body></html>
`))

func (s *Server) page(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "only GET and HEAD", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if r.Method == http.MethodHead {
		return
	}
	if err := pageTmpl.Execute(w, s.name); err != nil {
		s.log.Debug("page", "err", err)
	}
}

// Prefetch reads the file's first bytes, so that the first piece and the
// connections to its miners are ready before a player asks; ppstore play
// calls it when it starts.
func (s *Server) Prefetch(ctx context.Context) { s.contentType(ctx) }

// contentType sniffs the file's first bytes once (the piece they are in is
// the first a player asks for anyway).
func (s *Server) contentType(ctx context.Context) string {
	s.mu.Lock()
	mt := s.mediaType
	s.mu.Unlock()
	if mt != "" {
		return mt
	}
	// Not under the lock: a request whose player left must not hold up others.
	rd := s.src.Open(ctx, 0, 512)
	head, err := io.ReadAll(rd)
	rd.Close()
	if err != nil {
		return "application/octet-stream" // sniffed again by the next request
	}
	mt = http.DetectContentType(head)
	s.mu.Lock()
	s.mediaType = mt
	s.mu.Unlock()
	return mt
}

// Errors of a Range header, answered 400 and 416.
var (
	// ErrBadRange is a Range header that is not bytes=FIRST-[LAST] or
	// bytes=-SUFFIX with decimal numbers, FIRST <= LAST.
	ErrBadRange = errors.New("malformed Range header")
	// ErrUnsatisfiable is a range starting at or past the end of the file
	// (or an empty suffix).
	ErrUnsatisfiable = errors.New("range not satisfiable")
)

// errMultiRange: several ranges; answered with the whole file.
var errMultiRange = errors.New("several ranges")

// ParseRange parses a Range header for a file of size bytes into the first
// byte and the length it asks for. It returns ErrBadRange for a malformed
// header and ErrUnsatisfiable for a range past the end.
func ParseRange(h string, size int64) (off, n int64, err error) {
	spec, ok := strings.CutPrefix(h, "bytes=")
	if !ok {
		return 0, 0, fmt.Errorf("%w: %q does not start with bytes=", ErrBadRange, h)
	}
	if strings.Contains(spec, ",") {
		return 0, 0, errMultiRange
	}
	first, last, ok := strings.Cut(strings.TrimSpace(spec), "-")
	if !ok {
		return 0, 0, fmt.Errorf("%w: %q has no '-'", ErrBadRange, h)
	}
	num := func(s string) (int64, error) {
		if s == "" || strings.TrimLeft(s, "0123456789") != "" {
			return 0, fmt.Errorf("%w: %q is not a byte position", ErrBadRange, s)
		}
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%w: %q: %v", ErrBadRange, s, err)
		}
		return v, nil
	}
	if first == "" { // bytes=-SUFFIX: the last SUFFIX bytes
		k, err := num(last)
		if err != nil {
			return 0, 0, err
		}
		if k == 0 || size == 0 {
			return 0, 0, fmt.Errorf("%w: an empty suffix of a %d-byte file", ErrUnsatisfiable, size)
		}
		k = min(k, size)
		return size - k, k, nil
	}
	a, err := num(first)
	if err != nil {
		return 0, 0, err
	}
	end := size - 1
	if last != "" {
		b, err := num(last)
		if err != nil {
			return 0, 0, err
		}
		if b < a {
			return 0, 0, fmt.Errorf("%w: last byte %d before first %d", ErrBadRange, b, a)
		}
		end = min(b, size-1)
	}
	if a >= size {
		return 0, 0, fmt.Errorf("%w: byte %d of a %d-byte file", ErrUnsatisfiable, a, size)
	}
	return a, end - a + 1, nil
}

func (s *Server) file(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "only GET and HEAD", http.StatusMethodNotAllowed)
		return
	}
	size := s.src.Size()
	h := w.Header()
	h.Set("Accept-Ranges", "bytes")
	h.Set("ETag", s.etag)
	h.Set("Cache-Control", "public, max-age=31536000, immutable") // a CID names fixed bytes
	off, n, status := int64(0), size, http.StatusOK
	if rh := r.Header.Get("Range"); rh != "" && s.ifRange(r) {
		o, k, err := ParseRange(rh, size)
		switch {
		case errors.Is(err, errMultiRange):
			// Answer with the whole file (RFC 9110 §14.2 lets a server ignore Range).
		case errors.Is(err, ErrUnsatisfiable):
			h.Set("Content-Range", fmt.Sprintf("bytes */%d", size))
			http.Error(w, err.Error(), http.StatusRequestedRangeNotSatisfiable)
			return
		case err != nil:
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		default:
			off, n, status = o, k, http.StatusPartialContent
			h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", o, o+k-1, size))
		}
	}
	h.Set("Content-Type", s.contentType(r.Context()))
	h.Set("Content-Length", strconv.FormatInt(n, 10))
	w.WriteHeader(status)
	if r.Method == http.MethodHead || n == 0 {
		return
	}
	rd := s.src.Open(r.Context(), off, n)
	defer rd.Close()
	if k, err := io.CopyN(w, rd, n); err != nil {
		// The player went away (seek, close) or no miner had a piece; the
		// headers are out, so the connection just ends short.
		s.log.Debug("range ended early", "off", off, "sent", k, "of", n, "err", err)
		if !errors.Is(err, context.Canceled) && r.Context().Err() == nil {
			s.log.Warn("serving a range failed", "off", off+k, "err", err)
		}
	}
}

// ifRange reports whether a Range header applies: no If-Range, or one naming
// this file's entity tag.
func (s *Server) ifRange(r *http.Request) bool {
	ir := r.Header.Get("If-Range")
	return ir == "" || ir == s.etag
}

// Serve serves srv on ln until ctx ends, then closes the open connections.
func Serve(ctx context.Context, ln net.Listener, srv *Server) error {
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		hs.Close()
	}
	<-errc
	return nil
}
