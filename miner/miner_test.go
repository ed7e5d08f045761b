package miner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/internal/netsim"
	"github.com/ppstore/ppstore/shard"
	"github.com/ppstore/ppstore/transport"
	"github.com/ppstore/ppstore/wire"
)

const (
	testShardSize = 1<<20 + 1000 // a short last piece
	testPieceSize = 64 << 10
)

// One upload to the head of a chain of three stores the shard on all three,
// costs the client one copy, and every miner serves every piece.
func TestChainReplication(t *testing.T) {
	m1, m2, m3 := startMiner(t, "", nil), startMiner(t, "", nil), startMiner(t, "", nil)
	cli := newClient(t)
	sh := makeShard(t, testShardSize, testPieceSize)
	ctx := context.Background()

	before1, beforeCli := m1.node.Stats(), cli.Stats()
	res, err := put(ctx, cli, m1.Addr(), sh, addrs(m2, m3), defaultPut(testPieceSize))
	if err != nil {
		t.Fatal(err)
	}
	after1, afterCli := m1.node.Stats(), cli.Stats()
	checkReceipts(t, res, sh, cli.ID(), m1, m2, m3)
	if len(res.Failures) != 0 {
		t.Fatalf("failures: %+v", res.Failures)
	}
	for _, m := range []*testMiner{m1, m2, m3} {
		checkServes(t, cli, m, sh)
		if tmp, shards, rec := leftovers(m, sh); len(tmp) != 0 || len(shards) != 1 || !rec {
			t.Fatalf("miner %s: temp %v, shard files %v, record %v", m.short, tmp, shards, rec)
		}
	}

	// The client sent one copy; m1 received one copy and forwarded one.
	size := uint64(len(sh.Data))
	within := func(what string, got uint64) {
		t.Helper()
		if got < size || got > size+size/20 {
			t.Errorf("%s %d bytes for a shard of %d", what, got, size)
		} else {
			t.Logf("%s %d bytes for a shard of %d (%.2f%%)", what, got, size, 100*float64(got)/float64(size))
		}
	}
	within("client sent", afterCli.StreamBytesSent-beforeCli.StreamBytesSent)
	within("m1 received", after1.StreamBytesRecv-before1.StreamBytesRecv)
	within("m1 sent", after1.StreamBytesSent-before1.StreamBytesSent)

	// A second owner uploading the same shard gets receipts; nothing is rewritten.
	cli2 := newClient(t)
	res, err = put(ctx, cli2, m1.Addr(), sh, addrs(m2, m3), defaultPut(testPieceSize))
	if err != nil {
		t.Fatal(err)
	}
	checkReceipts(t, res, sh, cli2.ID(), m1, m2, m3)
	for _, m := range []*testMiner{m1, m2, m3} {
		rec := m.store.get(sh.Root)
		if len(rec.owners) != 2 || !rec.hasOwner(cli.ID()) || !rec.hasOwner(cli2.ID()) {
			t.Fatalf("miner %s: owners %v", m.short, rec.owners)
		}
		if used, _, _ := m.store.usage(); used != int64(len(sh.Data)) {
			t.Fatalf("miner %s uses %d bytes for one shard of %d", m.short, used, len(sh.Data))
		}
	}
}

// A piece that does not match its digest fails the upload on every miner of
// the chain; none keeps the shard or a temp file.
func TestCorruptPiece(t *testing.T) {
	m1, m2, m3 := startMiner(t, "", nil), startMiner(t, "", nil), startMiner(t, "", nil)
	cli := newClient(t)
	sh := makeShard(t, testShardSize, testPieceSize)
	o := defaultPut(testPieceSize)
	o.corrupt = 7
	_, err := put(context.Background(), cli, m1.Addr(), sh, addrs(m2, m3), o)
	if !errors.Is(err, wire.ErrCorrupt) || !strings.Contains(err.Error(), "piece 7 of") {
		t.Fatalf("err = %v, want corrupt piece 7", err)
	}
	nothingKept(t, sh, m1, m2, m3)
	// The reservation is released: the whole capacity is free again.
	if _, free, capacity := m1.store.usage(); free != capacity {
		t.Fatalf("free %d of %d after a failed upload", free, capacity)
	}
}

// A client that vanishes mid-upload leaves nothing behind anywhere.
func TestClientAbortsMidUpload(t *testing.T) {
	m1, m2, m3 := startMiner(t, "", nil), startMiner(t, "", nil), startMiner(t, "", nil)
	cli := newClient(t)
	sh := makeShard(t, testShardSize, testPieceSize)
	o := defaultPut(testPieceSize)
	o.abortAt = len(sh.Pieces) / 2
	if _, err := put(context.Background(), cli, m1.Addr(), sh, addrs(m2, m3), o); !errors.Is(err, errAborted) {
		t.Fatal(err)
	}
	nothingKept(t, sh, m1, m2, m3)
	eventually(t, func() error {
		for _, m := range []*testMiner{m1, m2, m3} {
			if _, free, capacity := m.store.usage(); free != capacity {
				return errors.New("reservation still held on " + m.short)
			}
		}
		return nil
	})
}

// A miner of the chain that is down is reported, with the miners behind it;
// the miners before it still store the shard.
func TestDownstreamDown(t *testing.T) {
	m1, m2, m3 := startMiner(t, "", nil), startMiner(t, "", nil), startMiner(t, "", nil)
	cli := newClient(t)
	ctx := context.Background()

	t.Run("second of three", func(t *testing.T) {
		chain := addrs(m2, m3)
		m2.stop()
		sh := makeShard(t, testShardSize, testPieceSize)
		res, err := put(ctx, cli, m1.Addr(), sh, chain, defaultPut(testPieceSize))
		if err != nil {
			t.Fatal(err)
		}
		checkReceipts(t, res, sh, cli.ID(), m1)
		if len(res.Failures) != 2 {
			t.Fatalf("failures %+v", res.Failures)
		}
		checkFailure(t, res.Failures[0], m2, wire.CodeUnavailable, "")
		checkFailure(t, res.Failures[1], m3, wire.CodeSkipped, "not reached")
		checkServes(t, cli, m1, sh)
	})
	t.Run("third of three", func(t *testing.T) {
		m4 := startMiner(t, "", nil)
		chain := addrs(m4, m3)
		m3.stop()
		sh := makeShard(t, testShardSize, testPieceSize)
		res, err := put(ctx, cli, m1.Addr(), sh, chain, defaultPut(testPieceSize))
		if err != nil {
			t.Fatal(err)
		}
		checkReceipts(t, res, sh, cli.ID(), m1, m4)
		if len(res.Failures) != 1 {
			t.Fatalf("failures %+v", res.Failures)
		}
		checkFailure(t, res.Failures[0], m3, wire.CodeUnavailable, "")
		checkServes(t, cli, m4, sh)
	})
}

// A full disk fails the upload with CodeNoSpace and keeps nothing; the miner
// then accepts an upload that fits. On the second miner of a chain, the
// failure comes back as its hop failure.
func TestDiskFull(t *testing.T) {
	cli := newClient(t)
	ctx := context.Background()
	t.Run("head", func(t *testing.T) {
		m := startMiner(t, "", nil)
		sh := makeShard(t, testShardSize, testPieceSize)
		fullDisk(m.store, 300<<10)
		_, err := put(ctx, cli, m.Addr(), sh, nil, defaultPut(testPieceSize))
		if !errors.Is(err, wire.ErrNoSpace) || !strings.Contains(err.Error(), "disk full") {
			t.Fatalf("err = %v, want no space", err)
		}
		nothingKept(t, sh, m)
		restoreDisk(m.store)
		res, err := put(ctx, cli, m.Addr(), sh, nil, defaultPut(testPieceSize))
		if err != nil {
			t.Fatal(err)
		}
		checkReceipts(t, res, sh, cli.ID(), m)
		checkServes(t, cli, m, sh)
	})
	t.Run("middle", func(t *testing.T) {
		m1, m2, m3 := startMiner(t, "", nil), startMiner(t, "", nil), startMiner(t, "", nil)
		sh := makeShard(t, testShardSize, testPieceSize)
		fullDisk(m2.store, 300<<10)
		res, err := put(ctx, cli, m1.Addr(), sh, addrs(m2, m3), defaultPut(testPieceSize))
		if err != nil {
			t.Fatal(err)
		}
		checkReceipts(t, res, sh, cli.ID(), m1)
		if len(res.Failures) != 2 {
			t.Fatalf("failures %+v", res.Failures)
		}
		checkFailure(t, res.Failures[0], m2, wire.CodeNoSpace, "disk full")
		checkFailure(t, res.Failures[1], m3, wire.CodeSkipped, "not reached")
		nothingKept(t, sh, m2, m3)
	})
}

// An upload larger than the free capacity is refused before any piece is
// sent, and the free space the bootstrap sees is the capacity left.
func TestCapacityExceeded(t *testing.T) {
	m := startMiner(t, "", func(c *Config) { c.Capacity = 1 << 20 })
	cli := newClient(t)
	sh := makeShard(t, testShardSize, testPieceSize)
	o := defaultPut(testPieceSize)
	o.noPieces = true
	_, err := put(context.Background(), cli, m.Addr(), sh, nil, o)
	if !errors.Is(err, wire.ErrNoSpace) || !strings.Contains(err.Error(), "no room for") {
		t.Fatalf("err = %v, want no room", err)
	}
	nothingKept(t, sh, m)

	small := makeShard(t, 100<<10, testPieceSize)
	if _, err := put(context.Background(), cli, m.Addr(), small, nil, defaultPut(testPieceSize)); err != nil {
		t.Fatal(err)
	}
	var rec wire.NodeRecord
	m.fillRecord(&rec)
	if rec.Role != wire.RoleMiner || rec.Capacity != 1<<20 || rec.Free != 1<<20-100<<10 || rec.Addrs[0] != m.Addr().Addr {
		t.Fatalf("record %+v", rec)
	}

	// The file system's free space bounds Free too.
	m.store.mu.Lock()
	m.store.diskFree = func(string) (int64, error) { return 4096, nil }
	m.store.mu.Unlock()
	m.fillRecord(&rec)
	if rec.Free != 4096 {
		t.Fatalf("free %d with 4096 bytes left on disk", rec.Free)
	}
	_, err = put(context.Background(), cli, m.Addr(), makeShard(t, 8192, 4096), nil, defaultPut(4096))
	if !errors.Is(err, wire.ErrNoSpace) {
		t.Fatalf("err = %v, want no space", err)
	}
}

// A restarted miner serves what it stored.
func TestRestart(t *testing.T) {
	dir := t.TempDir()
	m := startMiner(t, dir, nil)
	id := m.Addr().Peer
	cli := newClient(t)
	sh := makeShard(t, testShardSize, testPieceSize)
	if _, err := put(context.Background(), cli, m.Addr(), sh, nil, defaultPut(testPieceSize)); err != nil {
		t.Fatal(err)
	}
	m.stop()
	m = startMiner(t, dir, nil)
	owner := cli.ID()
	cli = newClient(t) // a pooled connection to the stopped miner would wait for its idle timeout
	if m.Addr().Peer != id {
		t.Fatalf("peer ID changed across restart")
	}
	checkServes(t, cli, m, sh)
	if rec := m.store.get(sh.Root); rec == nil || !rec.hasOwner(owner) {
		t.Fatalf("record after restart: %+v", rec)
	}
	if used, _, _ := m.store.usage(); used != int64(len(sh.Data)) {
		t.Fatalf("used %d after restart, want %d", used, len(sh.Data))
	}
}

// Startup removes unfinished uploads and shard files without a record, and
// drops records whose file is missing or has the wrong length.
func TestRecovery(t *testing.T) {
	dir := t.TempDir()
	m := startMiner(t, dir, nil)
	cli := newClient(t)
	ctx := context.Background()
	kept, truncated, missing := makeShard(t, 200<<10, testPieceSize), makeShard(t, 200<<10, testPieceSize), makeShard(t, 200<<10, testPieceSize)
	for _, sh := range []*shard.Shard{kept, truncated, missing} {
		if _, err := put(ctx, cli, m.Addr(), sh, nil, defaultPut(testPieceSize)); err != nil {
			t.Fatal(err)
		}
	}
	st := m.store
	m.stop()

	leftover := filepath.Join(dir, "tmp", "upload-123")
	orphan := st.shardPath(makeShard(t, 1000, 1000).Root)
	stray := filepath.Join(dir, "shards", "ab", "not-a-shard")
	for _, p := range []string{leftover, orphan, stray} {
		if err := os.WriteFile(p, []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Truncate(st.shardPath(truncated.Root), 1000); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(st.shardPath(missing.Root)); err != nil {
		t.Fatal(err)
	}

	for range 2 { // the second start finds a clean store
		m = startMiner(t, dir, nil)
		cli := newClient(t)
		for _, p := range []string{leftover, orphan, stray, st.shardPath(truncated.Root)} {
			if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("%s survived startup: %v", p, err)
			}
		}
		checkServes(t, cli, m, kept)
		for _, sh := range []*shard.Shard{truncated, missing} {
			if err := getPiece(ctx, cli, m.Addr(), sh, 0); !errors.Is(err, wire.ErrNotFound) {
				t.Fatalf("dropped shard: err = %v, want not found", err)
			}
		}
		if used, _, _ := m.store.usage(); used != int64(len(kept.Data)) {
			t.Fatalf("used %d, want %d", used, len(kept.Data))
		}
		m.stop()
	}
}

func TestGetPieceErrors(t *testing.T) {
	m := startMiner(t, "", nil)
	cli := newClient(t)
	ctx := context.Background()
	sh := makeShard(t, 100<<10, testPieceSize)
	err := getPiece(ctx, cli, m.Addr(), sh, 0)
	if !errors.Is(err, wire.ErrNotFound) || !strings.Contains(err.Error(), "does not hold") {
		t.Fatalf("unknown shard: err = %v", err)
	}
	if _, err := put(ctx, cli, m.Addr(), sh, nil, defaultPut(testPieceSize)); err != nil {
		t.Fatal(err)
	}
	if err := getPiece(ctx, cli, m.Addr(), sh, len(sh.Pieces)); !errors.Is(err, wire.ErrBadRequest) {
		t.Fatalf("piece past the end: err = %v", err)
	}
	var pc wire.Piece
	err = cli.Call(ctx, m.Addr(), &wire.GetPiece{Shard: shard.PieceCID(sh.Pieces[0]), Index: 0}, &pc)
	if !errors.Is(err, wire.ErrBadRequest) {
		t.Fatalf("piece CID: err = %v", err)
	}
}

// Invalid headers are refused with CodeBadRequest naming the problem, and the
// miner keeps serving.
func TestBadHeaders(t *testing.T) {
	m, other := startMiner(t, "", nil), startMiner(t, "", nil)
	cli := newClient(t)
	ctx := context.Background()
	sh := makeShard(t, 300<<10, testPieceSize)
	good := func() *wire.StoreShard { return header(sh, testPieceSize, cli.ID(), nil) }
	zeroPeer := identity.PeerID{}
	cases := []struct {
		name string
		edit func(h *wire.StoreShard)
		want string
	}{
		{"wrong merkle root", func(h *wire.StoreShard) { h.Pieces[1][0] ^= 1 }, "Merkle root"},
		{"too few digests", func(h *wire.StoreShard) { h.Pieces = h.Pieces[1:] }, "piece digests"},
		{"wrong size", func(h *wire.StoreShard) { h.Size += testPieceSize }, "piece digests"},
		{"zero size", func(h *wire.StoreShard) { h.Size = 0 }, "size 0"},
		{"huge shard", func(h *wire.StoreShard) { h.Size = shard.MaxShardSize + 1 }, "size"},
		{"huge pieces", func(h *wire.StoreShard) { h.PieceSize = shard.MaxPieceSize + 1 }, "piece size"},
		{"not a shard cid", func(h *wire.StoreShard) { h.Shard = shard.PieceCID(sh.Root) }, "not a shard CID"},
		{"no owner", func(h *wire.StoreShard) { h.Owner = zeroPeer }, "owner"},
		{"chain holds itself", func(h *wire.StoreShard) { h.Chain = []wire.NodeAddr{other.Addr(), m.Addr()} }, "is this miner"},
		{"chain twice", func(h *wire.StoreShard) { h.Chain = []wire.NodeAddr{other.Addr(), other.Addr()} }, "twice"},
		{"chain too long", func(h *wire.StoreShard) {
			for range MaxChain + 1 {
				k, _ := identity.Generate()
				h.Chain = append(h.Chain, wire.NodeAddr{Peer: k.ID(), Addr: "127.0.0.1:1"})
			}
		}, "chain of"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := good()
			c.edit(h)
			o := defaultPut(testPieceSize)
			o.hdr = h
			_, err := put(ctx, cli, m.Addr(), sh, nil, o)
			if !errors.Is(err, wire.ErrBadRequest) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want bad request about %q", err, c.want)
			}
		})
	}
	nothingKept(t, sh, m, other)
	res, err := put(ctx, cli, m.Addr(), sh, nil, defaultPut(testPieceSize))
	if err != nil {
		t.Fatal(err)
	}
	checkReceipts(t, res, sh, cli.ID(), m)
}

// rawMsg sends any bytes as a frame of any type.
type rawMsg struct {
	t    wire.Type
	body []byte
}

func (m *rawMsg) Type() wire.Type          { return m.t }
func (m *rawMsg) Append(b []byte) []byte   { return append(b, m.body...) }
func (m *rawMsg) Decode(body []byte) error { return nil }

// Malformed, truncated and oversized messages fail their request; the miner
// serves others meanwhile and afterwards.
func TestMalformedMessages(t *testing.T) {
	m := startMiner(t, "", nil)
	cli := newClient(t)
	ctx := context.Background()
	sh := makeShard(t, 300<<10, testPieceSize)
	hdr := header(sh, testPieceSize, cli.ID(), nil)

	// A valid upload runs alongside the bad requests: it sends half its
	// pieces, waits for them to fail, then finishes.
	s, err := cli.Open(ctx, m.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Send(hdr); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := s.Send(&wire.PieceData{Index: uint32(i), Data: sh.Piece(i, testPieceSize)}); err != nil {
			t.Fatal(err)
		}
	}

	send := func(frames ...wire.Message) error {
		s, err := cli.Open(ctx, m.Addr())
		if err != nil {
			return err
		}
		defer s.Close()
		for _, f := range frames {
			if s.Send(f) != nil {
				break
			}
		}
		s.CloseWrite()
		var res wire.StoreResult
		return s.Expect(&res)
	}
	enc := hdr.Append(nil)
	piece := func(i int) wire.Message { return &wire.PieceData{Index: uint32(i), Data: sh.Piece(i, testPieceSize)} }
	other := makeShard(t, 300<<10, testPieceSize)
	otherHdr := header(other, testPieceSize, cli.ID(), nil)
	cases := []struct {
		name   string
		frames []wire.Message
		want   error
	}{
		{"garbage header", []wire.Message{&rawMsg{wire.TypeStoreShard, []byte("garbage")}}, wire.ErrBadRequest},
		{"truncated header", []wire.Message{&rawMsg{wire.TypeStoreShard, enc[:len(enc)-5]}}, wire.ErrBadRequest},
		{"trailing bytes", []wire.Message{&rawMsg{wire.TypeStoreShard, append(enc, 0)}}, wire.ErrBadRequest},
		{"oversized frame", []wire.Message{&rawMsg{wire.TypeStoreShard, make([]byte, wire.MaxFrame+1)}}, wire.ErrTooLarge},
		{"unknown type", []wire.Message{&rawMsg{999, nil}}, wire.ErrBadRequest},
		{"garbage piece", []wire.Message{otherHdr, &rawMsg{wire.TypePieceData, []byte{1, 2}}}, wire.ErrBadRequest},
		{"wrong frame type", []wire.Message{otherHdr, &wire.Ping{}}, wire.ErrBadRequest},
		{"out of order", []wire.Message{otherHdr, piece(1)}, wire.ErrBadRequest},
		{"short piece", []wire.Message{otherHdr, &wire.PieceData{Index: 0, Data: other.Data[:10]}}, wire.ErrBadRequest},
		{"truncated upload", []wire.Message{otherHdr, &wire.PieceData{Index: 0, Data: other.Piece(0, testPieceSize)}}, wire.ErrBadRequest},
		{"extra frame", append(append([]wire.Message{otherHdr}, func() []wire.Message {
			var ps []wire.Message
			for i := range other.Pieces {
				ps = append(ps, &wire.PieceData{Index: uint32(i), Data: other.Piece(i, testPieceSize)})
			}
			return ps
		}()...), &wire.Ping{}), wire.ErrBadRequest},
	}
	for _, c := range cases {
		start := time.Now()
		err := send(c.frames...)
		t.Logf("%s: %v in %v", c.name, err, time.Since(start))
		if !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
		var pong wire.Pong
		if err := cli.Call(ctx, m.Addr(), &wire.Ping{Nonce: 1}, &pong); err != nil || pong.Role != wire.RoleMiner {
			t.Fatalf("after %s: ping: %v %+v", c.name, err, pong)
		}
	}
	eventually(t, func() error {
		// The valid upload still has its temp file; the bad ones left nothing.
		if tmp, shards, rec := leftovers(m, other); len(tmp) > 1 || len(shards) > 0 || rec {
			return fmt.Errorf("kept temp files %v, shard files %v, record %v", tmp, shards, rec)
		}
		return nil
	})

	for i := 2; i < len(sh.Pieces); i++ {
		if err := s.Send(piece(i)); err != nil {
			t.Fatal(err)
		}
	}
	s.CloseWrite()
	var res wire.StoreResult
	if err := s.Expect(&res); err != nil {
		t.Fatal(err)
	}
	checkReceipts(t, &res, sh, cli.ID(), m)
	checkServes(t, cli, m, sh)
}

// Two owners uploading the same new shard at once both get receipts; the
// shard is stored once.
func TestConcurrentSameShard(t *testing.T) {
	m := startMiner(t, "", nil)
	sh := makeShard(t, testShardSize, testPieceSize)
	clis := []*transport.Node{newClient(t), newClient(t), newClient(t)}
	var wg sync.WaitGroup
	errs := make([]error, len(clis))
	for i, cli := range clis {
		wg.Go(func() {
			res, err := put(context.Background(), cli, m.Addr(), sh, nil, defaultPut(testPieceSize))
			if err == nil && (len(res.Receipts) != 1 || res.Receipts[0].Owner != cli.ID()) {
				err = errors.New("wrong receipt")
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	rec := m.store.get(sh.Root)
	if len(rec.owners) != len(clis) {
		t.Fatalf("owners %v", rec.owners)
	}
	tmp, shards, _ := leftovers(m, sh)
	if len(tmp) != 0 || len(shards) != 1 {
		t.Fatalf("temp %v, shard files %v", tmp, shards)
	}
	if used, free, capacity := m.store.usage(); used != int64(len(sh.Data)) || free != capacity-used {
		t.Fatalf("used %d free %d capacity %d", used, free, capacity)
	}
}

// Pieces travel down the chain as they arrive: the last miner has the first
// pieces on disk while the client still holds the rest.
func TestForwardsWhileReceiving(t *testing.T) {
	m1, m2, m3 := startMiner(t, "", nil), startMiner(t, "", nil), startMiner(t, "", nil)
	cli := newClient(t)
	sh := makeShard(t, testShardSize, testPieceSize)
	s, err := cli.Open(context.Background(), m1.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Send(header(sh, testPieceSize, cli.ID(), addrs(m2, m3))); err != nil {
		t.Fatal(err)
	}
	send := func(from, to int) {
		for i := from; i < to; i++ {
			if err := s.Send(&wire.PieceData{Index: uint32(i), Data: sh.Piece(i, testPieceSize)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	send(0, 2)
	eventually(t, func() error {
		es, _ := os.ReadDir(filepath.Join(m3.dir, "tmp"))
		for _, e := range es {
			if fi, err := e.Info(); err == nil && fi.Size() == 2*testPieceSize {
				return nil
			}
		}
		return errors.New("the last miner has not written the first two pieces")
	})
	send(2, len(sh.Pieces))
	s.CloseWrite()
	var res wire.StoreResult
	if err := s.Expect(&res); err != nil {
		t.Fatal(err)
	}
	checkReceipts(t, &res, sh, cli.ID(), m1, m2, m3)
}

// A range request answers every piece of the range on one stream, each with
// its own proof; a range past the end is refused before anything is sent.
func TestGetPieceRange(t *testing.T) {
	m := startMiner(t, "", nil)
	cli := newClient(t)
	ctx := context.Background()
	sh := makeShard(t, 300<<10, testPieceSize)
	if _, err := put(ctx, cli, m.Addr(), sh, nil, defaultPut(testPieceSize)); err != nil {
		t.Fatal(err)
	}
	n := len(sh.Pieces)
	if n < 3 {
		t.Fatalf("test shard has %d pieces, want at least 3", n)
	}
	getRange(t, cli, m.Addr(), sh, 1, n-1)
	var pc wire.Piece
	err := cli.Call(ctx, m.Addr(), &wire.GetPiece{Shard: sh.CID(), Index: 1, Count: uint32(n)}, &pc)
	if !errors.Is(err, wire.ErrBadRequest) {
		t.Fatalf("range past the end: err = %v", err)
	}
}

// One peer may hold at most MaxUploadsPerPeer uploads open at a miner; the
// next is refused as unavailable while other peers are still served.
//
// The held uploads' headers reach the miner's handlers in no fixed order, so
// the 33rd upload is sent only once the miner has admitted all 32: sent
// earlier, it could take a slot before a held header and leave that one
// refused instead. The held uploads send no pieces, so the idle timeout is
// set far beyond the test's waits: they must stay open until it ends.
func TestUploadsPerPeerAreBounded(t *testing.T) {
	m := startMiner(t, "", func(c *Config) { c.idleTimeout = 2 * time.Minute })
	greedy, other := newClient(t), newClient(t)
	ctx := context.Background()
	var held []*transport.Stream
	defer func() {
		for _, s := range held {
			s.Abort()
		}
	}()
	for i := 0; i < MaxUploadsPerPeer; i++ {
		sh := makeShard(t, 10<<10, testPieceSize)
		s, err := greedy.Open(ctx, m.Addr())
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Send(header(sh, testPieceSize, greedy.ID(), nil)); err != nil {
			t.Fatal(err)
		}
		held = append(held, s)
	}
	eventually(t, func() error {
		if n := m.uploadsFrom(greedy.ID()); n != MaxUploadsPerPeer {
			return fmt.Errorf("miner admitted %d uploads from one peer, want %d", n, MaxUploadsPerPeer)
		}
		return nil
	})
	sh := makeShard(t, 10<<10, testPieceSize)
	if _, err := put(ctx, greedy, m.Addr(), sh, nil, defaultPut(testPieceSize)); !errors.Is(err, wire.ErrUnavailable) {
		t.Fatalf("upload %d from one peer: err = %v, want ErrUnavailable", MaxUploadsPerPeer+1, err)
	}
	if n := m.uploadsFrom(greedy.ID()); n != MaxUploadsPerPeer {
		t.Fatalf("after the refusal the miner holds %d uploads from the peer, want %d", n, MaxUploadsPerPeer)
	}
	sh = makeShard(t, 10<<10, testPieceSize)
	if _, err := put(ctx, other, m.Addr(), sh, nil, defaultPut(testPieceSize)); err != nil {
		t.Fatalf("another peer was refused too: %v", err)
	}
	// A held upload that ends frees its slot for the same peer.
	held[0].Abort()
	eventually(t, func() error {
		if n := m.uploadsFrom(greedy.ID()); n != MaxUploadsPerPeer-1 {
			return fmt.Errorf("after one upload ended the miner holds %d from the peer, want %d", n, MaxUploadsPerPeer-1)
		}
		return nil
	})
	sh = makeShard(t, 10<<10, testPieceSize)
	if _, err := put(ctx, greedy, m.Addr(), sh, nil, defaultPut(testPieceSize)); err != nil {
		t.Fatalf("upload after a slot was freed: %v", err)
	}
}

// A request for more than wire.MaxPiecesPerRequest pieces is refused, even within
// the shard; a run of that many pieces is answered, each with a valid proof.
func TestGetPieceCountBounded(t *testing.T) {
	m := startMiner(t, "", nil)
	cli := newClient(t)
	ctx := context.Background()
	const pieceSize = 1024
	sh := makeShard(t, (wire.MaxPiecesPerRequest+10)*pieceSize, pieceSize)
	if _, err := put(ctx, cli, m.Addr(), sh, nil, defaultPut(pieceSize)); err != nil {
		t.Fatal(err)
	}
	var pc wire.Piece
	err := cli.Call(ctx, m.Addr(), &wire.GetPiece{Shard: sh.CID(), Index: 0, Count: wire.MaxPiecesPerRequest + 1}, &pc)
	if !errors.Is(err, wire.ErrBadRequest) || !strings.Contains(err.Error(), "at most") {
		t.Fatalf("count %d: err = %v, want bad request", wire.MaxPiecesPerRequest+1, err)
	}
	getRange(t, cli, m.Addr(), sh, 5, wire.MaxPiecesPerRequest)
}

// A next miner that answers with a failure message near the frame limit, or
// with a code this miner does not know, does not cost the client this
// miner's receipt: failures are passed on cut short, with known codes.
func TestHostileNextMinerFailure(t *testing.T) {
	m := startMiner(t, "", nil)
	cli := newClient(t)
	ctx := context.Background()
	ghost, err := identity.Generate() // the last miner of the chain, never reached
	if err != nil {
		t.Fatal(err)
	}
	huge := func(room int) string { return strings.Repeat("é", room/2) } // two bytes a rune: a cut may split one

	cases := []struct {
		name   string
		answer func(self identity.PeerID) wire.Message // what the next miner answers after the pieces
		code   wire.Code                               // the next miner's failure as this miner reports it
	}{
		{"long failure", func(self identity.PeerID) wire.Message {
			// As long as the next miner's own frame can carry.
			res := &wire.StoreResult{Failures: []wire.HopFailure{{Peer: self, Code: wire.CodeNoSpace}, {Peer: ghost.ID(), Code: 999, Message: "?"}}}
			res.Failures[0].Message = huge(wire.MaxFrame - len(res.Append(nil)) - 1)
			return res
		}, wire.CodeNoSpace},
		{"long error", func(identity.PeerID) wire.Message {
			return wire.Errorf(wire.CodeCorrupt, "%s", huge(wire.MaxFrame-100))
		}, wire.CodeCorrupt},
		{"unknown code", func(self identity.PeerID) wire.Message {
			return &wire.StoreResult{Failures: []wire.HopFailure{{Peer: self, Code: 999, Message: "strange"}}}
		}, wire.CodeInternal},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			next := fakeMiner(t, c.answer)
			chain := []wire.NodeAddr{next.Self(), {Peer: ghost.ID(), Addr: "127.0.0.1:1"}}
			sh := makeShard(t, 100<<10, testPieceSize)
			res, err := put(ctx, cli, m.Addr(), sh, chain, defaultPut(testPieceSize))
			if err != nil {
				t.Fatalf("the client lost this miner's receipt: %v", err)
			}
			checkReceipts(t, res, sh, cli.ID(), m)
			if len(res.Failures) != 2 {
				t.Fatalf("failures %+v, want one per miner of the chain", res.Failures)
			}
			for i, f := range res.Failures {
				if f.Peer != chain[i].Peer || len(f.Message) > maxFailureMessage || !utf8.ValidString(f.Message) {
					t.Fatalf("failure %d: %s %v %d bytes %q", i, f.Peer.Short(), f.Code, len(f.Message), f.Message[:min(len(f.Message), 40)])
				}
				if f.Code < wire.CodeInternal || f.Code > wire.CodeSkipped {
					t.Fatalf("failure %d passed on with unknown code %d", i, f.Code)
				}
			}
			if res.Failures[0].Code != c.code {
				t.Fatalf("next miner's failure has code %v, want %v", res.Failures[0].Code, c.code)
			}
		})
	}
}

// fakeMiner serves uploads by reading every frame up to the end of the
// stream, then answering with what answer returns: a *wire.Error fails the
// request as a miner's handler does, anything else is sent as it is.
func fakeMiner(t *testing.T, answer func(self identity.PeerID) wire.Message) *transport.Node {
	t.Helper()
	n := newClient(t) // a node like any test peer; it serves below
	n.Handle(wire.TypeStoreShard, func(_ context.Context, s *transport.Stream, _ wire.Message) error {
		for {
			if _, err := s.Recv(); err != nil {
				break
			}
		}
		msg := answer(n.ID())
		if we, ok := msg.(*wire.Error); ok {
			return we
		}
		return s.Send(msg)
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		n.Close()
		if err := <-done; err != nil {
			t.Errorf("fake miner: %v", err)
		}
	})
	return n
}

// An uploader on a slow link is waited for while its bytes keep coming, even
// when one piece takes longer than the idle timeout; a silent one is not.
//
// The idle timeout must still exceed the longest pause a healthy slow link
// shows between readable bytes. netsim's relay queues what the sender's
// congestion window puts in flight (its socket buffer holds about 200 KB, half
// a second at 400 KB/s), and QUIC over such a queue can deliver nothing new to
// the reader for about that long (seen: 280 ms); an idle timeout of 300 ms
// then failed 2 runs in 15 with -race. So the idle timeout is 1 s, twice the
// queue's delay, and a piece of 1 MiB takes 2.6 s, well beyond it.
func TestSlowUploaderIsNotCutOff(t *testing.T) {
	const (
		idle      = time.Second
		pieceSize = 1 << 20
		rate      = 400 << 10 // bytes per second: a piece takes 2.6 s
	)
	m := startMiner(t, "", func(c *Config) { c.idleTimeout = idle })
	cli := newClient(t)
	sh := makeShard(t, pieceSize+pieceSize/4, pieceSize)
	via := wire.NodeAddr{Peer: m.Addr().Peer, Addr: netsim.SlowLink(t, m.Addr().Addr, rate, 0)}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	res, err := put(ctx, cli, via, sh, nil, defaultPut(pieceSize))
	if err != nil {
		t.Fatalf("upload over a %d KB/s link: %v (after %v)", rate>>10, err, time.Since(start))
	}
	if took := time.Since(start); took < 2*idle {
		t.Fatalf("the upload took only %v: the link was not slow", took)
	}
	checkReceipts(t, res, sh, cli.ID(), m)
}

// A run of pieces to a reader on a slow link is served for as long as the
// link needs, beyond the request deadline, while the reader keeps taking
// bytes.
func TestSlowReaderIsServed(t *testing.T) {
	m := startMiner(t, "", func(c *Config) { c.requestTimeout, c.serveIdle = time.Second, time.Second })
	cli := newClient(t)
	const pieceSize, n = 64 << 10, 16
	sh := makeShard(t, n*pieceSize, pieceSize)
	if _, err := put(context.Background(), cli, m.Addr(), sh, nil, defaultPut(pieceSize)); err != nil {
		t.Fatal(err)
	}
	via := wire.NodeAddr{Peer: m.Addr().Peer, Addr: netsim.SlowLink(t, m.Addr().Addr, 0, 400<<10)} // 1 MiB: ~2.6s
	slow := newClient(t)
	s, err := slow.Open(context.Background(), via)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.SetIdleTimeout(time.Second)
	start := time.Now()
	if err := s.Send(&wire.GetPiece{Shard: sh.CID(), Count: n}); err != nil {
		t.Fatal(err)
	}
	s.CloseWrite()
	for i := 0; i < n; i++ {
		var pc wire.Piece
		if err := s.Expect(&pc); err != nil {
			t.Fatalf("piece %d after %v: %v", i, time.Since(start), err)
		}
		if int(pc.Index) != i || len(pc.Data) != pieceSize {
			t.Fatalf("got piece %d of %d bytes, want piece %d", pc.Index, len(pc.Data), i)
		}
	}
	if took := time.Since(start); took < 1500*time.Millisecond {
		t.Fatalf("the run took only %v: the link was not slow", took)
	}
}
