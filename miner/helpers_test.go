package miner

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/internal/testutil"
	"github.com/ppstore/ppstore/shard"
	"github.com/ppstore/ppstore/transport"
	"github.com/ppstore/ppstore/wire"
	"github.com/prometheus/client_golang/prometheus"
)

func testLogger() *slog.Logger {
	if os.Getenv("MINER_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// testMiner is a miner running in the test process.
type testMiner struct {
	*Peer
	dir      string
	stopOnce sync.Once
	cancel   context.CancelFunc
	done     chan error
	t        testing.TB
}

func testConfig(dir string) Config {
	return Config{
		DataDir:       dir,
		Listen:        "127.0.0.1:0",
		Capacity:      1 << 30,
		dialTimeout:   time.Second,
		idleTimeout:   5 * time.Second,
		resultTimeout: 10 * time.Second,
		sealOff:       true, // seal_test.go seals with sealer.RunOnce
	}
}

// startMiner starts a miner on dir (a new temp dir if empty).
func startMiner(t testing.TB, dir string, mod func(*Config)) *testMiner {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	cfg := testConfig(dir)
	if mod != nil {
		mod(&cfg)
	}
	p, err := New(cfg, testLogger(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &testMiner{Peer: p, dir: dir, cancel: cancel, done: make(chan error, 1), t: t}
	go func() { m.done <- p.Run(ctx) }()
	t.Cleanup(m.stop)
	return m
}

func (m *testMiner) stop() {
	m.stopOnce.Do(func() {
		m.cancel()
		if err := m.Close(); err != nil {
			m.t.Errorf("close miner: %v", err)
		}
		// stop may run on a subtest's goroutine: m.t is the parent, no Fatal.
		if err, ok := testutil.Within(m.done, testutil.Wait); !ok {
			m.t.Errorf("the miner's Run did not return within %v of its Close", testutil.Wait)
		} else if err != nil {
			m.t.Errorf("run miner: %v", err)
		}
	})
}

func newClient(t testing.TB) *transport.Node {
	t.Helper()
	k, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	n, err := transport.Listen(transport.Config{Key: k, Listen: "127.0.0.1:0", DialTimeout: time.Second, RequestTimeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// makeShard cuts size random bytes into one shard of pieceSize pieces.
func makeShard(t testing.TB, size, pieceSize int) *shard.Shard {
	t.Helper()
	data := make([]byte, size)
	rand.Read(data)
	shardSize := (size + pieceSize - 1) / pieceSize * pieceSize
	var out *shard.Shard
	_, err := shard.Split(bytes.NewReader(data), shard.Params{ShardSize: int64(shardSize), PieceSize: int64(pieceSize)}, func(s *shard.Shard) error {
		if out != nil {
			return errors.New("more than one shard")
		}
		out = s
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func header(sh *shard.Shard, pieceSize int, owner identity.PeerID, chain []wire.NodeAddr) *wire.StoreShard {
	pieces := make([][32]byte, len(sh.Pieces))
	for i, d := range sh.Pieces {
		pieces[i] = d
	}
	return &wire.StoreShard{Shard: sh.CID(), Size: uint64(len(sh.Data)), PieceSize: uint32(pieceSize),
		Pieces: pieces, Owner: owner, Chain: chain}
}

type putOpts struct {
	hdr       *wire.StoreShard // replaces the header made from the shard
	corrupt   int              // flip a bit of this piece (-1: none)
	abortAt   int              // abort the stream before sending this piece (-1: never)
	endAt     int              // end the stream cleanly before this piece (-1: never)
	noPieces  bool             // send the header only, then wait for the answer
	pieceSize int
	rate      float64 // bytes per second the client's link carries (0: unlimited)
}

func defaultPut(pieceSize int) putOpts {
	return putOpts{corrupt: -1, abortAt: -1, endAt: -1, pieceSize: pieceSize}
}

// put uploads sh to the first miner of a chain as a client does.
func put(ctx context.Context, cli *transport.Node, to wire.NodeAddr, sh *shard.Shard, chain []wire.NodeAddr, o putOpts) (*wire.StoreResult, error) {
	hdr := o.hdr
	if hdr == nil {
		hdr = header(sh, o.pieceSize, cli.ID(), chain)
	}
	s, err := cli.Open(ctx, to)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	if err := s.Send(hdr); err != nil {
		return nil, err
	}
	if !o.noPieces {
		start, sent := time.Now(), 0
		n := (len(sh.Data) + o.pieceSize - 1) / o.pieceSize
		for i := 0; i < n; i++ {
			if i == o.abortAt {
				s.Abort()
				return nil, errAborted
			}
			if i == o.endAt {
				break
			}
			data := sh.Piece(i, int64(o.pieceSize))
			if i == o.corrupt {
				data = bytes.Clone(data)
				data[len(data)/2] ^= 1
			}
			if o.rate > 0 { // pace like a link of that speed
				sent += len(data)
				time.Sleep(time.Until(start.Add(time.Duration(float64(sent) / o.rate * float64(time.Second)))))
			}
			if err := s.Send(&wire.PieceData{Index: uint32(i), Data: data}); err != nil {
				break // refused: the answer says why
			}
		}
	}
	s.CloseWrite()
	var res wire.StoreResult
	if err := s.Expect(&res); err != nil {
		return nil, err
	}
	return &res, nil
}

var errAborted = errors.New("test aborted the upload")

// getPiece fetches piece i of a shard and checks it against the root.
func getPiece(ctx context.Context, cli *transport.Node, from wire.NodeAddr, sh *shard.Shard, i int) error {
	var pc wire.Piece
	if err := cli.Call(ctx, from, &wire.GetPiece{Shard: sh.CID(), Index: uint32(i)}, &pc); err != nil {
		return err
	}
	if pc.Index != uint32(i) {
		return fmt.Errorf("asked for piece %d, got %d", i, pc.Index)
	}
	proof := make([]shard.Digest, len(pc.Proof))
	for j, d := range pc.Proof {
		proof[j] = d
	}
	return shard.VerifyPiece(sh.Root, i, len(sh.Pieces), pc.Data, proof)
}

// getRange asks from for count pieces of sh, starting at first, in one request, and
// checks that each arrives in order with a valid proof.
func getRange(t testing.TB, cli *transport.Node, from wire.NodeAddr, sh *shard.Shard, first, count int) {
	t.Helper()
	s, err := cli.Open(context.Background(), from)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Send(&wire.GetPiece{Shard: sh.CID(), Index: uint32(first), Count: uint32(count)}); err != nil {
		t.Fatal(err)
	}
	s.CloseWrite()
	for i := first; i < first+count; i++ {
		var pc wire.Piece
		if err := s.Expect(&pc); err != nil {
			t.Fatalf("piece %d: %v", i, err)
		}
		if int(pc.Index) != i {
			t.Fatalf("got piece %d, want %d", pc.Index, i)
		}
		proof := make([]shard.Digest, len(pc.Proof))
		for j, d := range pc.Proof {
			proof[j] = d
		}
		if err := shard.VerifyPiece(sh.Root, i, len(sh.Pieces), pc.Data, proof); err != nil {
			t.Fatalf("piece %d: %v", i, err)
		}
	}
}

// checkServes checks that m serves every piece of sh with a valid proof.
func checkServes(t testing.TB, cli *transport.Node, m *testMiner, sh *shard.Shard) {
	t.Helper()
	for i := range sh.Pieces {
		if err := getPiece(context.Background(), cli, m.Addr(), sh, i); err != nil {
			t.Fatalf("miner %s, piece %d: %v", m.short, i, err)
		}
	}
}

// leftovers lists the temp files and shard files of m, and whether it has a
// record of sh.
func leftovers(m *testMiner, sh *shard.Shard) (tmp, shards []string, hasRecord bool) {
	es, _ := os.ReadDir(filepath.Join(m.dir, "tmp"))
	for _, e := range es {
		tmp = append(tmp, e.Name())
	}
	filepath.WalkDir(filepath.Join(m.dir, "shards"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			shards = append(shards, p)
		}
		return nil
	})
	return tmp, shards, m.store.get(sh.Root) != nil
}

// eventually polls cond until it returns nil or 10 s pass.
func eventually(t testing.TB, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		<-tick.C
	}
}

// nothingKept waits until none of the miners holds sh or any temp file.
func nothingKept(t testing.TB, sh *shard.Shard, ms ...*testMiner) {
	t.Helper()
	eventually(t, func() error {
		for _, m := range ms {
			tmp, shards, rec := leftovers(m, sh)
			if len(tmp) > 0 || len(shards) > 0 || rec {
				return fmt.Errorf("miner %s kept temp files %v, shard files %v, record %v", m.short, tmp, shards, rec)
			}
		}
		return nil
	})
}

// fullDisk makes the files the store creates fail with ENOSPC once more than
// limit bytes have been written to one of them.
func fullDisk(s *store, limit int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.createTemp = func(dir string) (file, error) {
		f, err := createTemp(dir)
		if err != nil {
			return nil, err
		}
		return &limitFile{file: f, left: limit}, nil
	}
}

func restoreDisk(s *store) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.createTemp = createTemp
}

type limitFile struct {
	file
	left int
}

func (f *limitFile) Write(p []byte) (int, error) {
	if len(p) <= f.left {
		f.left -= len(p)
		return f.file.Write(p)
	}
	n, _ := f.file.Write(p[:f.left])
	f.left = 0
	return n, &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
}

func addrs(ms ...*testMiner) []wire.NodeAddr {
	out := make([]wire.NodeAddr, len(ms))
	for i, m := range ms {
		out[i] = m.Addr()
	}
	return out
}

func checkReceipts(t testing.TB, res *wire.StoreResult, sh *shard.Shard, owner identity.PeerID, want ...*testMiner) {
	t.Helper()
	if len(res.Receipts) != len(want) {
		t.Fatalf("%d receipts, want %d; failures %+v", len(res.Receipts), len(want), res.Failures)
	}
	for i, r := range res.Receipts {
		if err := r.Verify(); err != nil {
			t.Fatalf("receipt %d: %v", i, err)
		}
		if r.Miner != want[i].Addr().Peer || !r.Shard.Equals(sh.CID()) || r.Size != uint64(len(sh.Data)) || r.Owner != owner {
			t.Fatalf("receipt %d = miner %s shard %v size %d owner %s; want miner %s", i, r.Miner.Short(), r.Shard, r.Size, r.Owner.Short(), want[i].short)
		}
	}
}

func checkFailure(t testing.TB, f wire.HopFailure, m *testMiner, code wire.Code, msgPart string) {
	t.Helper()
	if f.Peer != m.Addr().Peer || f.Code != code || !strings.Contains(f.Message, msgPart) {
		t.Fatalf("failure %s %v %q, want %s %v containing %q", f.Peer.Short(), f.Code, f.Message, m.short, code, msgPart)
	}
}

// uploadsFrom is how many uploads from peer the miner has admitted and not
// yet ended.
func (m *testMiner) uploadsFrom(peer identity.PeerID) int {
	m.uploadsMu.Lock()
	defer m.uploadsMu.Unlock()
	return m.uploads[peer]
}
