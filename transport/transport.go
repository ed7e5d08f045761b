// Package transport is the one network layer of ppstore: every binary talks to
// every other through a Node. A Node owns one UDP socket, one quic.Transport on
// it for both listening and dialing, a pool of outgoing connections (one per
// peer, reused), and the table of handlers for incoming requests.
//
// Security: TLS 1.3 with mutual authentication. Each side presents a
// self-signed certificate whose key is its ed25519 identity key, so the TLS
// handshake proves possession of the key behind the peer ID; a dialer names the
// peer ID it expects and the handshake fails if another key answers.
//
// Requests: one QUIC stream per request. The opener writes a request frame
// (package wire), optionally more frames (an upload), and reads the answer
// frames; a failure comes back as a wire.Error frame and is returned as an
// error matching the wire sentinels. Every stream has a deadline.
//
// The package does not know what messages mean; daemons register handlers.
package transport

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/wire"
	"github.com/quic-go/quic-go"
)

// ALPN is the application protocol negotiated in TLS.
const ALPN = "ppstore/1"

// ErrUnreachable wraps failures to connect to a peer.
var ErrUnreachable = errors.New("transport: peer unreachable")

// ErrClosed is returned after Close.
var ErrClosed = errors.New("transport: node closed")

// Config configures a Node. The zero value of every field but Key means its default.
type Config struct {
	Key            *identity.Key
	Listen         string        // UDP address to bind; default "127.0.0.1:0"
	MaxFrame       int           // largest frame body accepted; default wire.MaxFrame
	RequestTimeout time.Duration // default deadline of one request; default 30s
	DialTimeout    time.Duration // default 5s
	IdleTimeout    time.Duration // QUIC idle timeout (a silent peer is dead after it); default 10s
	Logger         *slog.Logger  // default: discard
}

func (c *Config) ensureDefaults() {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:0"
	}
	if c.MaxFrame <= 0 {
		c.MaxFrame = wire.MaxFrame
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 30 * time.Second
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = 5 * time.Second
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Handler serves one request stream whose first frame was req. Returning an
// error sends it to the peer as a wire.Error frame; returning nil closes the
// stream's send side. The handler owns s until it returns.
type Handler func(ctx context.Context, s *Stream, req wire.Message) error

// Stats counts application bytes written to and read from streams (frames, not packets).
type Stats struct {
	StreamBytesSent, StreamBytesRecv uint64
	Requests, RequestErrors          uint64
}

// Node is a QUIC endpoint with an identity.
type Node struct {
	cfg      Config
	udp      *net.UDPConn
	tr       *quic.Transport
	ln       *quic.Listener
	qconf    *quic.Config
	srvTLS   *tls.Config
	cert     tls.Certificate
	handlers map[wire.Type]Handler

	mu      sync.Mutex
	conns   map[identity.PeerID]*quic.Conn
	inbound map[*quic.Conn]struct{}
	dialing map[identity.PeerID]*dialing
	closed  bool

	wg       sync.WaitGroup
	stopOnce sync.Once
	stop     chan struct{}

	sent, recv, reqs, reqErrs atomic.Uint64
	dials                     atomic.Uint64 // QUIC dials started (tests check dials are shared)
}

// Listen binds the node's UDP socket and starts its QUIC listener. Handlers
// must be added with Handle before Serve.
func Listen(cfg Config) (*Node, error) {
	if cfg.Key == nil {
		return nil, errors.New("transport: Config.Key is required")
	}
	cfg.ensureDefaults()
	cert, err := selfSigned(cfg.Key)
	if err != nil {
		return nil, err
	}
	uaddr, err := net.ResolveUDPAddr("udp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("transport: listen address %q: %w", cfg.Listen, err)
	}
	udp, err := net.ListenUDP("udp", uaddr)
	if err != nil {
		return nil, fmt.Errorf("transport: bind %s: %w (is another process using the port?)", cfg.Listen, err)
	}
	n := &Node{
		cfg:      cfg,
		udp:      udp,
		cert:     cert,
		handlers: map[wire.Type]Handler{},
		conns:    map[identity.PeerID]*quic.Conn{},
		inbound:  map[*quic.Conn]struct{}{},
		dialing:  map[identity.PeerID]*dialing{},
		stop:     make(chan struct{}),
	}
	n.qconf = &quic.Config{
		HandshakeIdleTimeout:           cfg.DialTimeout,
		MaxIdleTimeout:                 cfg.IdleTimeout,
		KeepAlivePeriod:                cfg.IdleTimeout / 3,
		MaxIncomingStreams:             256,
		InitialStreamReceiveWindow:     1 << 20,
		MaxStreamReceiveWindow:         16 << 20,
		InitialConnectionReceiveWindow: 4 << 20,
		MaxConnectionReceiveWindow:     64 << 20,
	}
	// A stateless-reset key derived from the identity key: after a restart on
	// the same port the node answers packets of connections it forgot with a
	// reset, so peers drop their stale connection at once instead of timing out.
	var srk quic.StatelessResetKey
	h := sha256.Sum256(append([]byte("ppstore/stateless-reset/v1"), cfg.Key.Private().Seed()...))
	copy(srk[:], h[:])
	n.tr = &quic.Transport{Conn: udp, StatelessResetKey: &srk}
	n.srvTLS = &tls.Config{
		MinVersion:            tls.VersionTLS13,
		Certificates:          []tls.Certificate{cert},
		ClientAuth:            tls.RequireAnyClientCert,
		NextProtos:            []string{ALPN},
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error { _, err := peerFromCerts(raw); return err },
	}
	ln, err := n.tr.Listen(n.srvTLS, n.qconf)
	if err != nil {
		udp.Close()
		return nil, fmt.Errorf("transport: listen: %w", err)
	}
	n.ln = ln
	return n, nil
}

// ID is the node's peer ID.
func (n *Node) ID() identity.PeerID { return n.cfg.Key.ID() }

// Key is the node's identity key.
func (n *Node) Key() *identity.Key { return n.cfg.Key }

// Addr is the bound UDP address.
func (n *Node) Addr() *net.UDPAddr { return n.udp.LocalAddr().(*net.UDPAddr) }

// Self returns the node's own address record.
func (n *Node) Self() wire.NodeAddr { return wire.NodeAddr{Peer: n.ID(), Addr: n.Addr().String()} }

// Stats returns the byte and request counters.
func (n *Node) Stats() Stats {
	return Stats{StreamBytesSent: n.sent.Load(), StreamBytesRecv: n.recv.Load(), Requests: n.reqs.Load(), RequestErrors: n.reqErrs.Load()}
}

// Handle registers h for requests whose first frame has type t. Call before Serve.
func (n *Node) Handle(t wire.Type, h Handler) { n.handlers[t] = h }

// Serve accepts connections until ctx is done or Close is called.
func (n *Node) Serve(ctx context.Context) error {
	go func() {
		select {
		case <-ctx.Done():
			n.Close()
		case <-n.stop:
		}
	}()
	for {
		conn, err := n.ln.Accept(ctx)
		if err != nil {
			select {
			case <-n.stop:
				return nil
			default:
			}
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("transport: accept: %w", err)
		}
		if !n.track() {
			conn.CloseWithError(0, "closing")
			return nil
		}
		go func() {
			defer n.wg.Done()
			n.serveConn(ctx, conn)
		}()
	}
}

func (n *Node) serveConn(ctx context.Context, conn *quic.Conn) {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		conn.CloseWithError(0, "closing")
		return
	}
	n.inbound[conn] = struct{}{}
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		delete(n.inbound, conn)
		n.mu.Unlock()
		// Leaving while the connection lives means the node is stopping (ctx
		// is done): tell the peer now. Close would no longer find the
		// connection in inbound, and closing the QUIC transport drops
		// connections silently, so the peer would keep a dead connection in
		// its pool until its idle timeout.
		if conn.Context().Err() == nil {
			conn.CloseWithError(0, "closing")
		}
	}()
	peer, err := peerOf(conn)
	if err != nil {
		conn.CloseWithError(1, "no identity")
		return
	}
	for {
		qs, err := conn.AcceptStream(ctx)
		if err != nil {
			return
		}
		if !n.track() {
			qs.CancelRead(0)
			qs.CancelWrite(0)
			return
		}
		go func() {
			defer n.wg.Done()
			n.serveStream(ctx, &Stream{s: qs, peer: peer, n: n})
		}()
	}
}

func (n *Node) serveStream(ctx context.Context, s *Stream) {
	n.reqs.Add(1)
	ctx, cancel := context.WithTimeout(ctx, n.cfg.RequestTimeout)
	defer cancel()
	s.SetDeadline(time.Now().Add(n.cfg.RequestTimeout))
	req, err := s.Recv()
	if err == nil {
		h, ok := n.handlers[req.Type()]
		if !ok {
			err = wire.Errorf(wire.CodeBadRequest, "this node does not answer %v", req.Type())
		} else {
			err = h(ctx, s, req)
		}
	}
	if err != nil {
		ref := n.reqErrs.Add(1)
		we := wire.ToError(err)
		if we.Code == wire.CodeInternal {
			// An internal failure's text is for this node's operator (it may
			// name files and hosts); the peer gets a reference into the log.
			n.cfg.Logger.Warn("request failed", "peer", s.peer.Short(), "ref", ref, "err", err)
			we = wire.Errorf(wire.CodeInternal, "internal error at %v (ref %d in its log)", n.ID().Short(), ref)
		} else {
			n.cfg.Logger.Debug("request failed", "peer", s.peer.Short(), "err", we)
		}
		if sendErr := s.Send(we); sendErr != nil {
			s.s.CancelWrite(1)
		}
	}
	s.s.Close()
	// Drain nothing more: cancel reading so the peer's extra frames are discarded.
	s.s.CancelRead(0)
}

// track registers one more goroutine with the node unless it is closing, so
// that Close's wait cannot race with a late Add.
func (n *Node) track() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return false
	}
	n.wg.Add(1)
	return true
}

// Close stops the listener, closes every connection and waits for handlers.
func (n *Node) Close() error {
	n.stopOnce.Do(func() {
		close(n.stop)
		n.mu.Lock()
		n.closed = true
		conns := n.conns
		n.conns = map[identity.PeerID]*quic.Conn{}
		inbound := n.inbound
		n.inbound = map[*quic.Conn]struct{}{}
		n.mu.Unlock()
		// Tell every peer, so none keeps a dead connection in its pool.
		for _, c := range conns {
			c.CloseWithError(0, "closing")
		}
		for c := range inbound {
			c.CloseWithError(0, "closing")
		}
		n.ln.Close()
		n.tr.Close()
		n.udp.Close()
	})
	n.wg.Wait()
	return nil
}

// dialing is a dial in progress to addr; err is set before done is closed.
type dialing struct {
	addr    string
	done    chan struct{}
	err     error
	waiters int // requests that waited on this dial (under Node.mu; tests read it)
}

// conn returns a live connection to the peer, dialing once if needed. Callers
// that arrive while a dial is in progress share its outcome: a peer that does
// not answer costs one dial timeout, not one per waiting request.
func (n *Node) conn(ctx context.Context, to wire.NodeAddr) (*quic.Conn, error) {
	if to.Peer.IsZero() {
		return nil, fmt.Errorf("%w: no peer ID given for %s", ErrUnreachable, to.Addr)
	}
	for {
		n.mu.Lock()
		if n.closed {
			n.mu.Unlock()
			return nil, ErrClosed
		}
		if c, ok := n.conns[to.Peer]; ok {
			if c.Context().Err() == nil {
				if c.RemoteAddr().String() == to.Addr {
					n.mu.Unlock()
					return c, nil
				}
				n.mu.Unlock()
				if sameUDPAddr(c.RemoteAddr(), to.Addr) {
					return c, nil
				}
				n.retire(to.Peer, c)
				continue
			}
			delete(n.conns, to.Peer)
		}
		if d, ok := n.dialing[to.Peer]; ok {
			d.waiters++
			n.mu.Unlock()
			select {
			case <-d.done:
				if d.err != nil && d.addr == to.Addr {
					return nil, d.err
				}
				continue // dialed, another address failed, or the dialer gave up: look again
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		d := &dialing{addr: to.Addr, done: make(chan struct{})}
		n.dialing[to.Peer] = d
		n.mu.Unlock()

		c, err := n.dial(ctx, to)
		n.mu.Lock()
		delete(n.dialing, to.Peer)
		if err == nil {
			if n.closed {
				c.CloseWithError(0, "closing")
				err = ErrClosed
			} else {
				n.conns[to.Peer] = c
			}
		}
		if ctx.Err() == nil {
			d.err = err // the peer's failure, not this caller's cancellation
		}
		close(d.done)
		n.mu.Unlock()
		return c, err
	}
}

func (n *Node) dial(ctx context.Context, to wire.NodeAddr) (*quic.Conn, error) {
	addr, err := net.ResolveUDPAddr("udp", to.Addr)
	if err != nil {
		return nil, fmt.Errorf("%w: address %q of %v: %v", ErrUnreachable, to.Addr, to.Peer.Short(), err)
	}
	want := to.Peer
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS13,
		Certificates:       []tls.Certificate{n.cert},
		InsecureSkipVerify: true, // replaced by the peer ID check below
		NextProtos:         []string{ALPN},
		ServerName:         "ppstore",
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			got, err := peerFromCerts(raw)
			if err != nil {
				return err
			}
			if got != want {
				return fmt.Errorf("transport: %s answered as %v, expected %v", to.Addr, got, want)
			}
			return nil
		},
	}
	dctx, cancel := context.WithTimeout(ctx, n.cfg.DialTimeout)
	defer cancel()
	n.dials.Add(1)
	c, err := n.tr.Dial(dctx, addr, tc, n.qconf)
	if err != nil {
		return nil, fmt.Errorf("%w: dial %v at %s: %v", ErrUnreachable, to.Peer.Short(), to.Addr, err)
	}
	return c, nil
}

// Open opens a request stream to a peer. The stream's deadline is ctx's
// deadline, or RequestTimeout from now.
func (n *Node) Open(ctx context.Context, to wire.NodeAddr) (*Stream, error) {
	c, err := n.conn(ctx, to)
	if err != nil {
		return nil, err
	}
	qs, err := c.OpenStreamSync(ctx)
	if err != nil {
		if c.Context().Err() == nil && !connGone(err) {
			return nil, fmt.Errorf("open stream to %v: %w", to.Peer.Short(), err) // the connection is fine
		}
		// The pooled connection died since (its context may be cancelled a
		// moment after streams already fail); retry once on a fresh one.
		n.forget(to.Peer, c)
		if c, err = n.conn(ctx, to); err != nil {
			return nil, err
		}
		if qs, err = c.OpenStreamSync(ctx); err != nil {
			return nil, fmt.Errorf("%w: open stream to %v: %v", ErrUnreachable, to.Peer.Short(), err)
		}
	}
	s := &Stream{s: qs, peer: to.Peer, n: n}
	dl, ok := ctx.Deadline()
	if !ok {
		dl = time.Now().Add(n.cfg.RequestTimeout)
	}
	s.SetDeadline(dl)
	return s, nil
}

// sameUDPAddr reports whether addr names the UDP address a. A name that does
// not resolve is not the same.
func sameUDPAddr(a net.Addr, addr string) bool {
	u, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return false
	}
	ua, ok := a.(*net.UDPAddr)
	return ok && ua.IP.Equal(u.IP) && ua.Port == u.Port
}

// retire takes the pooled connection c to peer p out of the pool because the
// caller now reaches p at another address: p restarted elsewhere, possibly
// after dying without a word, and c would only fail at its idle timeout. c
// still carries the requests already on it, and is closed once they have had
// RequestTimeout to finish.
func (n *Node) retire(p identity.PeerID, c *quic.Conn) {
	n.forget(p, c)
	time.AfterFunc(n.cfg.RequestTimeout, func() { c.CloseWithError(0, "peer moved") })
}

func (n *Node) forget(p identity.PeerID, c *quic.Conn) {
	n.mu.Lock()
	if n.conns[p] == c {
		delete(n.conns, p)
	}
	n.mu.Unlock()
}

// Call sends req and reads one answer into resp. A wire.Error answer is
// returned as the error.
func (n *Node) Call(ctx context.Context, to wire.NodeAddr, req, resp wire.Message) error {
	return n.CallBuf(ctx, to, req, resp, nil)
}

// CallBuf is Call reading the answer into buf when it fits (see
// Stream.SetReadBuffer): resp may then alias buf.
func (n *Node) CallBuf(ctx context.Context, to wire.NodeAddr, req, resp wire.Message, buf []byte) error {
	err := n.call(ctx, to, req, resp, buf)
	if connGone(err) && ctx.Err() == nil {
		// The pooled connection was closed or reset by a peer that went away
		// (and may be back): try once more on a fresh connection.
		err = n.call(ctx, to, req, resp, buf)
	}
	return err
}

// connGone reports errors meaning the connection, not the request, failed:
// the peer closed it on shutdown or answered with a stateless reset.
func connGone(err error) bool {
	var ae *quic.ApplicationError
	if errors.As(err, &ae) && ae.Remote && ae.ErrorCode == 0 {
		return true
	}
	var sr *quic.StatelessResetError
	return errors.As(err, &sr)
}

func (n *Node) call(ctx context.Context, to wire.NodeAddr, req, resp wire.Message, buf []byte) error {
	s, err := n.Open(ctx, to)
	if err != nil {
		return err
	}
	defer s.Close()
	if buf != nil {
		s.SetReadBuffer(buf)
	}
	if err := s.Send(req); err != nil {
		return err
	}
	if testHookAfterSend != nil {
		testHookAfterSend(s)
	}
	// The server stops reading (STOP_SENDING) once it has the request; if
	// that reaches us before our close, quic-go refuses the close with an
	// error, but the answer is coming: the error is not the call's.
	_ = s.CloseWrite()
	return s.Expect(resp)
}

// testHookAfterSend, when set by a test, runs in call between sending the
// request and closing the send side: TestCallSurvivesEarlyStopSending uses it
// to let the server's STOP_SENDING arrive first.
var testHookAfterSend func(*Stream)

// Stream is one request's bidirectional stream.
type Stream struct {
	s    *quic.Stream
	peer identity.PeerID
	n    *Node
	rbuf []byte
	wbuf []byte

	idle     time.Duration // see SetIdleTimeout
	pushedAt atomic.Int64  // when the idle deadline was last pushed (unix ns)
}

// SetIdleTimeout makes the stream fail after d passes without progress, not at
// a fixed time: every read that brings bytes and every write chunk accepted
// pushes the read and write deadlines d ahead. A transfer on a slow link then
// takes as long as it needs while a silent peer is still given up after d,
// and the answer to a long upload can still be read after it. Zero turns it
// off (the deadline stays where SetDeadline put it).
func (s *Stream) SetIdleTimeout(d time.Duration) {
	s.idle = d
	if d > 0 {
		now := time.Now()
		s.pushedAt.Store(now.UnixNano())
		s.s.SetDeadline(now.Add(d))
	}
}

// idleChunk is the most bytes one Write hands to QUIC when an idle timeout is
// set, so that a large frame's write makes progress in steps.
const idleChunk = 64 << 10

// progress pushes the idle deadline when an eighth of the idle time has
// passed since the last push (so that a stream of small reads costs a clock
// read each, not a deadline update each).
func (s *Stream) progress() {
	now := time.Now()
	last := s.pushedAt.Load()
	if now.UnixNano()-last < int64(s.idle/8) || !s.pushedAt.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	s.s.SetDeadline(now.Add(s.idle))
}

func (s *Stream) read(b []byte) (int, error) {
	n, err := s.s.Read(b)
	if n > 0 && s.idle > 0 {
		s.progress()
	}
	return n, err
}

// write writes b, in steps that each push the idle deadline when one is set.
func (s *Stream) write(b []byte) (int, error) {
	if s.idle <= 0 {
		return s.s.Write(b)
	}
	done := 0
	for done < len(b) {
		n, err := s.s.Write(b[done:min(len(b), done+idleChunk)])
		done += n
		if err != nil {
			return done, err
		}
		s.progress()
	}
	return done, nil
}

// Peer is the authenticated peer at the other end.
func (s *Stream) Peer() identity.PeerID { return s.peer }

// SetDeadline sets the read and write deadline.
func (s *Stream) SetDeadline(t time.Time) { s.s.SetDeadline(t) }

// Send writes one frame. A piece (wire.Tailed) is written from where its
// bytes lie, without copying them into a frame buffer.
func (s *Stream) Send(m wire.Message) error {
	var (
		nw  int
		err error
	)
	if t, ok := m.(wire.Tailed); ok {
		s.wbuf = wire.AppendFrameHead(s.wbuf[:0], t)
		nw, err = s.write(s.wbuf)
		if err == nil {
			var nt int
			nt, err = s.write(t.Tail())
			nw += nt
		}
	} else {
		s.wbuf = wire.AppendFrame(s.wbuf[:0], m)
		nw, err = s.write(s.wbuf)
	}
	s.n.sent.Add(uint64(nw))
	if err != nil {
		return fmt.Errorf("send %v to %v: %w", m.Type(), s.peer.Short(), err)
	}
	return nil
}

// SetReadBuffer makes the next Recv or Expect read into buf when it is large
// enough; the decoded message then aliases buf. Callers that pool buffers use it.
func (s *Stream) SetReadBuffer(buf []byte) { s.rbuf = buf[:0] }

// Recv reads and decodes one frame. The message may alias an internal buffer
// that the next Recv reuses. A clean end of stream is io.EOF.
func (s *Stream) Recv() (wire.Message, error) {
	hd, body, err := s.readFrame(s.n.recvLimits)
	if err != nil {
		return nil, err
	}
	return wire.Decode(hd, body)
}

// recvLimits are the limits of frames read by Recv: a type may use the big
// frame limit only if this node answers it as a request (the indexer a
// Commit, say); any other frame, whatever its header claims, has the
// ordinary limit.
func (n *Node) recvLimits(t wire.Type) int {
	if _, ok := n.handlers[t]; ok {
		return wire.LimitFor(t, n.cfg.MaxFrame)
	}
	return n.cfg.MaxFrame
}

// expectLimits are the limits while waiting for a frame of type want: that
// type with its own limit, or an error frame; any other type is refused
// before its body is read.
func (n *Node) expectLimits(want wire.Type) wire.Limits {
	return func(t wire.Type) int {
		switch t {
		case want:
			return wire.LimitFor(t, n.cfg.MaxFrame)
		case wire.TypeError:
			return n.cfg.MaxFrame
		}
		return -1
	}
}

// readFrame reads one frame into the stream's buffer (kept if it grew) and counts it.
func (s *Stream) readFrame(limits wire.Limits) (wire.Header, []byte, error) {
	var r io.Reader = s.s
	if s.idle > 0 {
		r = readerFunc(s.read)
	}
	hd, body, err := wire.ReadFrame(r, s.rbuf, limits)
	if body != nil && cap(body) > cap(s.rbuf) {
		s.rbuf = body[:0]
	}
	if err == nil {
		s.n.recv.Add(uint64(wire.HeaderLen + len(body)))
	}
	return hd, body, err
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(b []byte) (int, error) { return f(b) }

// Expect reads one frame into m. A wire.Error frame is returned as the error;
// any other type is a protocol error.
func (s *Stream) Expect(m wire.Message) error {
	hd, body, err := s.readFrame(s.n.expectLimits(m.Type()))
	if err != nil {
		if errors.Is(err, wire.ErrBadRequest) && hd.Version == wire.Version {
			return wire.Errorf(wire.CodeBadRequest, "%v sent %v, expected %v", s.peer.Short(), hd.Type, m.Type())
		}
		return fmt.Errorf("read %v from %v: %w", m.Type(), s.peer.Short(), err)
	}
	switch hd.Type {
	case m.Type():
		return m.Decode(body)
	case wire.TypeError:
		we := new(wire.Error)
		if err := we.Decode(body); err != nil {
			return err
		}
		return we
	default:
		return wire.Errorf(wire.CodeBadRequest, "%v sent %v, expected %v", s.peer.Short(), hd.Type, m.Type())
	}
}

// CloseWrite ends the send side; the peer reads io.EOF after the last frame.
func (s *Stream) CloseWrite() error { return s.s.Close() }

// Close ends both directions.
func (s *Stream) Close() error {
	s.s.CancelRead(0)
	return s.s.Close()
}

// Abort resets the stream in both directions, telling the peer the request was abandoned.
func (s *Stream) Abort() {
	s.s.CancelRead(1)
	s.s.CancelWrite(1)
}

func selfSigned(k *identity.Key) (tls.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: k.ID().String()},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(10 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k.Private())
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("transport: certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k.Private()}, nil
}

// peerFromCerts checks that the peer sent exactly one self-signed ed25519
// certificate and returns the peer ID of its key.
func peerFromCerts(raw [][]byte) (identity.PeerID, error) {
	if len(raw) != 1 {
		return identity.PeerID{}, fmt.Errorf("transport: peer sent %d certificates, want 1", len(raw))
	}
	c, err := x509.ParseCertificate(raw[0])
	if err != nil {
		return identity.PeerID{}, fmt.Errorf("transport: peer certificate: %w", err)
	}
	pub, ok := c.PublicKey.(ed25519.PublicKey)
	if !ok {
		return identity.PeerID{}, errors.New("transport: peer certificate key is not ed25519")
	}
	if err := c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature); err != nil {
		return identity.PeerID{}, fmt.Errorf("transport: peer certificate not self-signed: %w", err)
	}
	return identity.IDFromPublicKey(pub), nil
}

func peerOf(c *quic.Conn) (identity.PeerID, error) {
	certs := c.ConnectionState().TLS.PeerCertificates
	if len(certs) != 1 {
		return identity.PeerID{}, errors.New("transport: no peer certificate")
	}
	pub, ok := certs[0].PublicKey.(ed25519.PublicKey)
	if !ok {
		return identity.PeerID{}, errors.New("transport: peer key is not ed25519")
	}
	return identity.IDFromPublicKey(pub), nil
}
