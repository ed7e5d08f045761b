package transport

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/internal/testutil"
	"github.com/ppstore/ppstore/wire"
)

func newNode(t *testing.T, handlers map[wire.Type]Handler) *Node {
	t.Helper()
	k, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	n, err := Listen(Config{Key: k, RequestTimeout: 3 * time.Second, MaxFrame: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	for typ, h := range handlers {
		n.Handle(typ, h)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		n.Close()
		if err := testutil.RecvWithin(t, done, testutil.Wait, "Serve to return after Close"); err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return n
}

func echoHandlers() map[wire.Type]Handler {
	return map[wire.Type]Handler{
		wire.TypePing: Ping(wire.RoleMiner),
		wire.TypeLocate: Unary(func(_ context.Context, _ identity.PeerID, req *wire.Locate) (wire.Message, error) {
			return nil, wire.Errorf(wire.CodeNotFound, "no file %v", req.CID)
		}),
		// GetPiece echoes the caller's peer ID length as the index, proving the server sees who called.
		wire.TypeGetPiece: Unary(func(_ context.Context, p identity.PeerID, req *wire.GetPiece) (wire.Message, error) {
			return &wire.Piece{Index: req.Index, Data: p.Bytes()}, nil
		}),
	}
}

func TestCallPingAndMutualIdentity(t *testing.T) {
	srv := newNode(t, echoHandlers())
	cli := newNode(t, nil)
	ctx := context.Background()
	var pong wire.Pong
	if err := cli.Call(ctx, srv.Self(), &wire.Ping{Nonce: 7}, &pong); err != nil {
		t.Fatal(err)
	}
	if pong.Nonce != 7 || pong.Role != wire.RoleMiner {
		t.Fatalf("pong = %+v", pong)
	}
	var piece wire.Piece
	if err := cli.Call(ctx, srv.Self(), &wire.GetPiece{Index: 3}, &piece); err != nil {
		t.Fatal(err)
	}
	if got, _ := identity.IDFromBytes(piece.Data); got != cli.ID() {
		t.Fatalf("server saw caller %v, want %v", got, cli.ID())
	}
	// Connections are reused: many calls, one connection in the pool.
	for i := 0; i < 20; i++ {
		if err := cli.Call(ctx, srv.Self(), &wire.Ping{Nonce: uint64(i)}, &pong); err != nil {
			t.Fatal(err)
		}
	}
	cli.mu.Lock()
	nconns := len(cli.conns)
	cli.mu.Unlock()
	if nconns != 1 {
		t.Fatalf("%d pooled connections, want 1", nconns)
	}
}

func TestWrongPeerIDRefused(t *testing.T) {
	srv := newNode(t, echoHandlers())
	cli := newNode(t, nil)
	impostor, _ := identity.Generate()
	err := cli.Call(context.Background(), wire.NodeAddr{Peer: impostor.ID(), Addr: srv.Addr().String()}, &wire.Ping{}, &wire.Pong{})
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("dial to the wrong identity: err = %v, want ErrUnreachable", err)
	}
}

func TestRemoteErrorsKeepTheirCode(t *testing.T) {
	srv := newNode(t, echoHandlers())
	cli := newNode(t, nil)
	err := cli.Call(context.Background(), srv.Self(), &wire.Locate{}, &wire.Location{})
	if !errors.Is(err, wire.ErrNotFound) {
		t.Fatalf("err = %v, want wire.ErrNotFound", err)
	}
	err = cli.Call(context.Background(), srv.Self(), &wire.ListFiles{}, &wire.FileList{})
	if !errors.Is(err, wire.ErrBadRequest) {
		t.Fatalf("unhandled type: err = %v, want ErrBadRequest", err)
	}
}

func TestInternalErrorTextStaysLocal(t *testing.T) {
	var logged strings.Builder
	var mu sync.Mutex
	k, _ := identity.Generate()
	srv, err := Listen(Config{Key: k, Logger: slog.New(slog.NewTextHandler(lockedWriter{&mu, &logged}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	srv.Handle(wire.TypePing, func(context.Context, *Stream, wire.Message) error {
		return fmt.Errorf("open /srv/ppstore/secret/shards/ab/cd: input/output error")
	})
	go srv.Serve(context.Background())
	cli := newNode(t, nil)
	err = cli.Call(context.Background(), srv.Self(), &wire.Ping{}, &wire.Pong{})
	if !errors.Is(err, wire.ErrInternal) {
		t.Fatalf("err = %v, want wire.ErrInternal", err)
	}
	if strings.Contains(err.Error(), "/srv/ppstore") {
		t.Fatalf("the peer saw the node's internal error text: %v", err)
	}
	if !strings.Contains(err.Error(), "ref 1") {
		t.Fatalf("no log reference in %q", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(logged.String(), "/srv/ppstore/secret") || !strings.Contains(logged.String(), "ref=1") {
		t.Fatalf("the node's log lacks the error and its reference: %s", logged.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// rawRequest writes raw bytes as a request and returns the node's answer.
func rawRequest(t *testing.T, cli, srv *Node, raw []byte) error {
	t.Helper()
	s, err := cli.Open(context.Background(), srv.Self())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.s.Write(raw); err != nil {
		t.Fatal(err)
	}
	s.CloseWrite()
	return s.Expect(&wire.Pong{})
}

func TestMalformedTruncatedOversizedRequests(t *testing.T) {
	srv := newNode(t, echoHandlers())
	cli := newNode(t, nil)
	good := wire.AppendFrame(nil, &wire.Ping{Nonce: 1})

	garbage := append([]byte{}, good...)
	garbage[HeaderLenForTest-1]++ // body length off by one: truncated body
	if err := rawRequest(t, cli, srv, garbage); !errors.Is(err, wire.ErrBadRequest) {
		t.Errorf("truncated body: err = %v, want ErrBadRequest", err)
	}
	if err := rawRequest(t, cli, srv, good[:4]); !errors.Is(err, wire.ErrBadRequest) {
		t.Errorf("truncated header: err = %v, want ErrBadRequest", err)
	}
	huge := make([]byte, wire.HeaderLen)
	huge[0] = wire.Version
	binary.BigEndian.PutUint16(huge[1:], uint16(wire.TypePing))
	binary.BigEndian.PutUint32(huge[3:], 1<<30)
	if err := rawRequest(t, cli, srv, huge); !errors.Is(err, wire.ErrTooLarge) {
		t.Errorf("oversized: err = %v, want ErrTooLarge", err)
	}
	bad := wire.AppendFrame(nil, &wire.Ping{Nonce: 1})
	bad = append(bad[:wire.HeaderLen], 1, 2, 3) // body too short for a u64
	binary.BigEndian.PutUint32(bad[3:], 3)
	if err := rawRequest(t, cli, srv, bad); !errors.Is(err, wire.ErrBadRequest) {
		t.Errorf("malformed body: err = %v, want ErrBadRequest", err)
	}
	ver := append([]byte{}, good...)
	ver[0] = 77
	if err := rawRequest(t, cli, srv, ver); !errors.Is(err, wire.ErrVersion) {
		t.Errorf("bad version: err = %v, want ErrVersion", err)
	}
	// The node still serves well-formed requests, from this and other peers.
	other := newNode(t, nil)
	for _, c := range []*Node{cli, other} {
		if err := c.Call(context.Background(), srv.Self(), &wire.Ping{Nonce: 2}, &wire.Pong{}); err != nil {
			t.Fatalf("after bad input: %v", err)
		}
	}
}

const HeaderLenForTest = wire.HeaderLen

func TestDeadlineAndDeadPeer(t *testing.T) {
	block := make(chan struct{})
	srv := newNode(t, map[wire.Type]Handler{
		wire.TypePing: func(ctx context.Context, s *Stream, _ wire.Message) error {
			select {
			case <-block:
			case <-ctx.Done():
			}
			return ctx.Err()
		},
	})
	defer close(block)
	cli := newNode(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := cli.Call(ctx, srv.Self(), &wire.Ping{}, &wire.Pong{}); err == nil {
		t.Fatal("call to a stuck handler succeeded")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("deadline not honoured: took %v", d)
	}
	// A closed peer: dialing fails with ErrUnreachable, within the dial timeout.
	k, _ := identity.Generate()
	dead, err := Listen(Config{Key: k, DialTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	addr := dead.Self()
	dead.Close()
	cli2, _ := Listen(Config{Key: identity.FromSeed(make([]byte, 32)), DialTimeout: 300 * time.Millisecond})
	defer cli2.Close()
	if err := cli2.Call(context.Background(), addr, &wire.Ping{}, &wire.Pong{}); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("dead peer: err = %v, want ErrUnreachable", err)
	}
}

func TestPeerRestartOnSamePortIsRedialled(t *testing.T) {
	k, _ := identity.Generate()
	srv, err := Listen(Config{Key: k})
	if err != nil {
		t.Fatal(err)
	}
	srv.Handle(wire.TypePing, Ping(wire.RoleIndexer))
	go srv.Serve(context.Background())
	addr := srv.Self()
	cli := newNode(t, nil)
	if err := cli.Call(context.Background(), addr, &wire.Ping{}, &wire.Pong{}); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	srv2, err := Listen(Config{Key: k, Listen: addr.Addr})
	if err != nil {
		t.Fatal(err)
	}
	defer srv2.Close()
	srv2.Handle(wire.TypePing, Ping(wire.RoleIndexer))
	go srv2.Serve(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := cli.Call(ctx, addr, &wire.Ping{}, &wire.Pong{}); err != nil {
		t.Fatalf("call after the peer restarted: %v", err)
	}
}

// Requests that wait for a dial to a silent peer share its failure: four of
// them cost one dial timeout, not four in a row.
func TestConcurrentDialsShareOneFailure(t *testing.T) {
	hole, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}) // never answers
	if err != nil {
		t.Fatal(err)
	}
	defer hole.Close()
	k, _ := identity.Generate()
	to := wire.NodeAddr{Peer: k.ID(), Addr: hole.LocalAddr().String()}
	cli, err := Listen(Config{Key: identity.FromSeed(make([]byte, 32)), DialTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	start := time.Now()
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			s, err := cli.Open(context.Background(), to)
			if err == nil {
				s.Close()
			}
			errs <- err
		}()
	}
	for range 4 {
		if err := testutil.RecvWithin(t, errs, testutil.Wait, "an open to a silent peer to fail"); !errors.Is(err, ErrUnreachable) {
			t.Fatalf("open to a silent peer: %v, want ErrUnreachable", err)
		}
	}
	// Counted, not timed: the four opens started one dial between them.
	if n := cli.dials.Load(); n != 1 {
		t.Fatalf("four opens to a silent peer dialled %d times, want 1 shared dial (in %v)", n, time.Since(start))
	}
	// A dialer whose own context ends early does not hand its cancellation
	// to the requests waiting on its dial: they dial for themselves.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first := make(chan error, 1)
	go func() { _, err := cli.Open(ctx, to); first <- err }()
	testutil.Until(t, testutil.Wait, "the first open's dial is under way", func() bool { return cli.dials.Load() == 2 })
	second := make(chan error, 1)
	go func() { _, err := cli.Open(context.Background(), to); second <- err }()
	testutil.Until(t, testutil.Wait, "the second open waits on the first's dial", func() bool { return waitingOn(cli, to.Peer) })
	cancel()
	if err := testutil.RecvWithin(t, first, testutil.Wait, "the cancelled open to return"); err == nil {
		t.Fatal("an open whose context was cancelled during its dial succeeded")
	}
	err = testutil.RecvWithin(t, second, testutil.Wait, "the waiting open to fail")
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("open waiting on a dial whose caller gave up: %v, want ErrUnreachable (its own dial's failure)", err)
	}
	if n := cli.dials.Load(); n != 3 {
		t.Fatalf("%d dials, want 3: the waiting open should have dialled for itself after the other caller gave up", n)
	}
}

// waitingOn reports whether a dial to p is under way and another request
// waits on it. Tests poll it instead of sleeping.
func waitingOn(n *Node, p identity.PeerID) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	d, ok := n.dialing[p]
	return ok && d.waiters > 0
}

// Only the reader decides which frames may be big: a Commit header on a
// request to a node that does not take commits, or on an answer to a
// request that expects a Piece, gets no more room than any frame.
func TestBigFramesOnlyWhereExpected(t *testing.T) {
	big := wire.AppendFrame(nil, &wire.Commit{Manifest: make([]byte, 1<<20)}) // > this node's 64 KiB limit
	srv := newNode(t, echoHandlers())
	cli := newNode(t, nil)
	if err := rawRequest(t, cli, srv, big[:wire.HeaderLen+100]); !errors.Is(err, wire.ErrTooLarge) {
		t.Fatalf("commit-labelled request to a node without commits: %v, want ErrTooLarge", err)
	}
	if err := cli.Call(context.Background(), srv.Self(), &wire.Ping{}, &wire.Pong{}); err != nil {
		t.Fatalf("the node stopped serving: %v", err)
	}

	// The liar announces a big frame and sends only its start: a reader that
	// waited for the body would wait until its deadline.
	liar := newNode(t, map[wire.Type]Handler{wire.TypeGetPiece: func(ctx context.Context, s *Stream, _ wire.Message) error {
		if _, err := s.s.Write(big[:wire.HeaderLen+100]); err != nil {
			return err
		}
		<-ctx.Done()
		return ctx.Err()
	}})
	err := cli.Call(context.Background(), liar.Self(), &wire.GetPiece{Count: 1}, &wire.Piece{})
	if !errors.Is(err, wire.ErrBadRequest) || !strings.Contains(err.Error(), "expected Piece") {
		t.Fatalf("commit-labelled answer to GetPiece: %v, want a bad-request error naming the types", err)
	}
}

// With an idle timeout a slow answer succeeds as long as bytes keep coming,
// and a silent one fails after the idle time, not at a fixed deadline.
func TestIdleTimeoutCountsSilenceNotDuration(t *testing.T) {
	frame := wire.AppendFrame(nil, &wire.Piece{Index: 1, Data: make([]byte, 50<<10)}) // within the test nodes' 64 KiB frames
	slow := newNode(t, map[wire.Type]Handler{wire.TypeGetPiece: func(ctx context.Context, s *Stream, m wire.Message) error {
		if m.(*wire.GetPiece).Index == 9 {
			<-ctx.Done() // silent
			return ctx.Err()
		}
		for off := 0; off < len(frame); off += 5 << 10 { // ten steps, 100ms apart: about 1s
			if _, err := s.s.Write(frame[off:min(len(frame), off+5<<10)]); err != nil {
				return err
			}
			if err := testutil.SlowLink(ctx, 100*time.Millisecond); err != nil {
				return err
			}
		}
		return nil
	}})
	cli := newNode(t, nil)
	// Gaps of 100ms between steps: a fifth of the idle timeout, so that a
	// loaded machine's scheduling delays do not pass for silence.
	const idle = 500 * time.Millisecond
	fetch := func(index uint32) (time.Duration, error) {
		s, err := cli.Open(context.Background(), slow.Self())
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		s.SetIdleTimeout(idle)
		start := time.Now()
		if err := s.Send(&wire.GetPiece{Index: index, Count: 1}); err != nil {
			return 0, err
		}
		s.CloseWrite()
		var p wire.Piece
		err = s.Expect(&p)
		if err == nil && len(p.Data) != 50<<10 {
			t.Fatalf("got %d bytes", len(p.Data))
		}
		return time.Since(start), err
	}
	if took, err := fetch(1); err != nil {
		t.Fatalf("a piece arriving in steps over %v, idle timeout %v: %v", took, idle, err)
	} else if took < 2*idle {
		t.Fatalf("the slow answer took only %v: the test did not exercise the %v timeout", took, idle)
	}
	took, err := fetch(9)
	if err == nil {
		t.Fatal("a silent peer's answer succeeded")
	}
	// The request deadline is 3s (newNode): failing well before it is the
	// idle timeout's doing.
	if took > 2*time.Second {
		t.Fatalf("a silent peer failed after %v, idle timeout %v", took, idle)
	}
}

// A long upload under an idle timeout, refused by the peer at its end: the
// peer's answer is still read (writing is progress for the read side too).
func TestIdleWritesKeepTheAnswerReadable(t *testing.T) {
	srv := newNode(t, map[wire.Type]Handler{wire.TypeGetPiece: func(ctx context.Context, s *Stream, m wire.Message) error {
		start := time.Now()
		for time.Since(start) < 1500*time.Millisecond {
			if _, err := s.Recv(); err != nil {
				return err
			}
		}
		return wire.Errorf(wire.CodeNoSpace, "disk full, sorry")
	}})
	cli := newNode(t, nil)
	s, err := cli.Open(context.Background(), srv.Self())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.SetIdleTimeout(500 * time.Millisecond)
	if err := s.Send(&wire.GetPiece{Index: 1}); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		if err := s.Send(&wire.PieceData{Index: uint32(i), Data: make([]byte, 8<<10)}); err != nil {
			break
		}
		if err := testutil.SlowLink(context.Background(), 50*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if i > 200 {
			t.Fatal("never refused")
		}
	}
	var res wire.StoreResult
	err = s.Expect(&res)
	var we *wire.Error
	if !errors.As(err, &we) {
		t.Fatalf("the refusal's reason is lost: Expect = %v", err)
	}
}

// A request for a peer at its new address does not take the failure of a
// dial to its old one that was under way.
func TestDialFailureIsPerAddress(t *testing.T) {
	hole, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer hole.Close()
	srv := newNode(t, echoHandlers())
	stale := wire.NodeAddr{Peer: srv.ID(), Addr: hole.LocalAddr().String()}
	cli, err := Listen(Config{Key: identity.FromSeed(make([]byte, 32)), DialTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	staleErr := make(chan error, 1)
	go func() { _, err := cli.Open(context.Background(), stale); staleErr <- err }() // fails after the dial timeout
	testutil.Until(t, testutil.Wait, "the dial to the stale address is under way", func() bool {
		cli.mu.Lock()
		defer cli.mu.Unlock()
		d, ok := cli.dialing[srv.ID()]
		return ok && d.addr == stale.Addr
	})
	if err := cli.Call(context.Background(), srv.Self(), &wire.Ping{}, &wire.Pong{}); err != nil {
		t.Fatalf("call at the live address while a dial to a dead one was under way: %v", err)
	}
	if err := testutil.RecvWithin(t, staleErr, testutil.Wait, "the dial to the stale address to end"); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("open at the stale address: %v, want ErrUnreachable", err)
	}
}

// pooled returns cli's pooled connection to p, or nil.
func pooled(cli *Node, p identity.PeerID) interface{ Context() context.Context } {
	cli.mu.Lock()
	defer cli.mu.Unlock()
	if c, ok := cli.conns[p]; ok {
		return c
	}
	return nil
}

// A node stopped by cancelling Serve's context (how every daemon stops) tells
// the peers connected to it, so none keeps a dead connection in its pool until
// the idle timeout. Before the fix the connection handlers returned on the
// cancellation first, Close no longer saw their connections, and closing the
// QUIC transport dropped them without a word.
func TestServeCancelTellsConnectedPeers(t *testing.T) {
	for round := range 20 { // the race was between two goroutines: try it a few times
		k, _ := identity.Generate()
		srv, err := Listen(Config{Key: k, IdleTimeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		srv.Handle(wire.TypePing, Ping(wire.RoleMiner))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- srv.Serve(ctx) }()
		cli, err := Listen(Config{Key: identity.FromSeed(make([]byte, 32)), IdleTimeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		if err := cli.Call(context.Background(), srv.Self(), &wire.Ping{}, &wire.Pong{}); err != nil {
			t.Fatal(err)
		}
		c := pooled(cli, k.ID())
		if c == nil {
			t.Fatal("no pooled connection after a call")
		}
		cancel()
		if err := testutil.RecvWithin(t, done, testutil.Wait, "Serve to return after its context was cancelled"); err != nil {
			t.Fatal(err)
		}
		select {
		case <-c.Context().Done():
		case <-time.After(testutil.Wait):
			t.Fatalf("round %d: the client's connection to a stopped node is still open after %v (idle timeout a minute)", round, testutil.Wait)
		}
		cli.Close()
	}
}

// A peer that died without a word (no CONNECTION_CLOSE reached us) and came
// back with the same key at another address is reached there at once: the
// pooled connection to its old address is not used for the new one, which
// would only fail at the idle timeout.
func TestPeerBackAtAnotherAddressAfterSilentDeath(t *testing.T) {
	k, _ := identity.Generate()
	srv, err := Listen(Config{Key: k, IdleTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	srv.Handle(wire.TypePing, Ping(wire.RoleMiner))
	go srv.Serve(context.Background())
	cli, err := Listen(Config{Key: identity.FromSeed(make([]byte, 32)), IdleTimeout: time.Minute, RequestTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	old := srv.Self()
	if err := cli.Call(context.Background(), old, &wire.Ping{}, &wire.Pong{}); err != nil {
		t.Fatal(err)
	}
	stale := pooled(cli, k.ID())
	// Silent death: the socket goes first, so no close can be sent.
	srv.udp.Close()
	srv.Close()

	srv2, err := Listen(Config{Key: k})
	if err != nil {
		t.Fatal(err)
	}
	defer srv2.Close()
	srv2.Handle(wire.TypePing, Ping(wire.RoleMiner))
	go srv2.Serve(context.Background())
	if srv2.Self().Addr == old.Addr {
		t.Skip("the restarted peer got its old port back; TestPeerRestartOnSamePortIsRedialled covers that")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cli.Call(ctx, srv2.Self(), &wire.Ping{}, &wire.Pong{}); err != nil {
		t.Fatalf("call to the peer at its new address: %v", err)
	}
	if c := pooled(cli, k.ID()); c == nil || c == stale {
		t.Fatal("the pool still holds the connection to the old address")
	}
	// The retired connection is closed once its requests have had their time.
	select {
	case <-stale.Context().Done():
	case <-time.After(testutil.Wait):
		t.Fatalf("the retired connection is still open %v later", testutil.Wait)
	}
}

// The same address spelled another way is the same connection, not a move.
func TestAddressSpelledAnotherWayKeepsTheConnection(t *testing.T) {
	srv := newNode(t, echoHandlers())
	cli := newNode(t, nil)
	if err := cli.Call(context.Background(), srv.Self(), &wire.Ping{}, &wire.Pong{}); err != nil {
		t.Fatal(err)
	}
	first := pooled(cli, srv.ID())
	_, port, _ := net.SplitHostPort(srv.Self().Addr)
	other := wire.NodeAddr{Peer: srv.ID(), Addr: net.JoinHostPort("localhost", port)}
	if sameUDPAddr(srv.Addr(), other.Addr) == false {
		t.Skipf("localhost does not resolve to %v here", srv.Addr())
	}
	if err := cli.Call(context.Background(), other, &wire.Ping{}, &wire.Pong{}); err != nil {
		t.Fatal(err)
	}
	if pooled(cli, srv.ID()) != first {
		t.Fatal("the same address written as a name replaced the pooled connection")
	}
	if n := cli.dials.Load(); n != 1 {
		t.Fatalf("%d dials, want 1", n)
	}
}
