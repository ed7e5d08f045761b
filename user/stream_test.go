package user_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ppstore/ppstore/filecrypt"
	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/internal/netsim"
	"github.com/ppstore/ppstore/shard"
	"github.com/ppstore/ppstore/transport"
	"github.com/ppstore/ppstore/user"
	"github.com/ppstore/ppstore/wire"
)

// streamRegion is a fake indexer and miners for one file, like fakeRegion,
// but each shard lives on replicas consecutive miners (shard s on miners s,
// s+1, ... modulo their number), as the indexer's placer spreads them.
type streamRegion struct {
	file     cid.Cid
	data     []byte
	shards   map[string]*shard.Shard
	idx      wire.NodeAddr
	replicas int
	mu       sync.Mutex
	miners   []wire.NodeAddr
	asked    map[int]int // global piece → times requested
}

func newStreamRegion(t *testing.T, size, replicas int) *streamRegion {
	t.Helper()
	data := make([]byte, size)
	rand.Read(data)
	return newStreamRegionOf(t, data, 0, replicas)
}

// newStreamRegionOf stores data as it is, with the manifest flags given.
func newStreamRegionOf(t *testing.T, data []byte, flags uint32, replicas int) *streamRegion {
	t.Helper()
	r := &streamRegion{data: data, shards: map[string]*shard.Shard{}, replicas: replicas, asked: map[int]int{}}
	m, err := shard.Split(bytes.NewReader(r.data), shard.Params{}, func(s *shard.Shard) error {
		c := *s
		c.Data = append([]byte(nil), s.Data...)
		r.shards[c.CID().String()] = &c
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	m.Flags |= flags
	r.file = m.CID()
	enc := m.Encode()
	ix := startNode(t, wire.TypeLocate, transport.Unary(func(context.Context, identity.PeerID, *wire.Locate) (wire.Message, error) {
		loc := &wire.Location{Manifest: enc}
		r.mu.Lock()
		defer r.mu.Unlock()
		for s := range m.Shards {
			var rs []wire.Replica
			for k := 0; k < min(r.replicas, len(r.miners)); k++ {
				rs = append(rs, wire.Replica{NodeAddr: r.miners[(s+k)%len(r.miners)], Status: wire.StatusStored})
			}
			loc.Shards = append(loc.Shards, rs)
		}
		return loc, nil
	}))
	r.idx = ix.Self()
	return r
}

// addMiner starts a miner answering with h (nil: the right pieces) and
// returns its node; the region lists it at the address via (empty: its own).
func (r *streamRegion) addMiner(t *testing.T, h func(ctx context.Context, s *transport.Stream, req *wire.GetPiece) error) *transport.Node {
	if h == nil {
		h = r.serve
	}
	n := startNode(t, wire.TypeGetPiece, func(ctx context.Context, s *transport.Stream, m wire.Message) error {
		return h(ctx, s, m.(*wire.GetPiece))
	})
	r.mu.Lock()
	r.miners = append(r.miners, n.Self())
	r.mu.Unlock()
	return n
}

// serve answers with the right pieces and counts what was asked.
func (r *streamRegion) serve(_ context.Context, s *transport.Stream, req *wire.GetPiece) error {
	r.mu.Lock()
	base := 0
	for i, c := range r.order() {
		if c == req.Shard.String() {
			base = i * (shard.DefaultShardSize / shard.DefaultPieceSize)
		}
	}
	for j := 0; j < int(max(req.Count, 1)); j++ {
		r.asked[base+int(req.Index)+j]++
	}
	r.mu.Unlock()
	return sendPieces(s, r.shards, req)
}

// order lists the shard CIDs in file order.
func (r *streamRegion) order() []string {
	type sc struct {
		cid string
		idx int
	}
	var out []sc
	for c, s := range r.shards {
		out = append(out, sc{c, int(s.Index)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].idx < out[j].idx })
	cids := make([]string, len(out))
	for i, s := range out {
		cids[i] = s.cid
	}
	return cids
}

// relink lists miner i at addr (a relay in front of it) instead.
func (r *streamRegion) relink(i int, addr string) {
	r.mu.Lock()
	r.miners[i].Addr = addr
	r.mu.Unlock()
}

func (r *streamRegion) client(t *testing.T, mod func(*user.Config)) *user.Client {
	t.Helper()
	cfg := user.Config{DataDir: t.TempDir(), Indexer: r.idx.Peer.String() + "@" + r.idx.Addr, Listen: "127.0.0.1:0"}
	if mod != nil {
		mod(&cfg)
	}
	c, err := user.New(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func (r *streamRegion) open(t *testing.T, c *user.Client, opts user.StreamOptions) *user.Stream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := c.OpenStream(ctx, r.file, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func readRange(t *testing.T, s *user.Stream, off, n int64) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rr := s.Range(ctx, off, n)
	defer rr.Close()
	b, err := io.ReadAll(rr)
	if err != nil {
		t.Fatalf("range %d+%d: %v", off, n, err)
	}
	return b
}

// Ranges read the right bytes, checked, and fetch only the pieces they span.
func TestStreamReadsOnlyTheRangesPieces(t *testing.T) {
	size := 6<<20 + 1000 // two shards, the last piece short
	r := newStreamRegion(t, size, 2)
	for i := 0; i < 3; i++ {
		r.addMiner(t, nil)
	}
	s := r.open(t, r.client(t, nil), user.StreamOptions{ReadAhead: 1})
	if s.Size() != int64(size) {
		t.Fatalf("size %d, want %d", s.Size(), size)
	}
	const piece = 256 << 10
	cases := []struct{ off, n int64 }{
		{5<<20 - 10, 300000}, // across pieces 19-21 of the file (shard 1)
		{0, 100},
		{int64(size) - 5, 5},
		{int64(size) - 5, 1 << 20}, // clamped at the end
	}
	for _, c := range cases {
		got := readRange(t, s, c.off, c.n)
		end := min(c.off+c.n, int64(size))
		if !bytes.Equal(got, r.data[c.off:end]) {
			t.Fatalf("range %d+%d: %d bytes that differ from the file's", c.off, c.n, len(got))
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for p := range r.asked {
		in := false
		for _, c := range cases {
			end := min(c.off+c.n, int64(size))
			if int64(p) >= c.off/piece && int64(p) <= (end-1)/piece {
				in = true
			}
		}
		if !in {
			t.Errorf("piece %d was fetched, though no range spans it", p)
		}
	}
	if len(r.asked) != 5 { // 19, 20, 21, 0, 24
		t.Errorf("fetched pieces %v, want 19, 20, 21, 0 and 24", r.asked)
	}
	if got := readRange(t, s, int64(size)+10, 10); len(got) != 0 {
		t.Fatalf("a range past the end read %d bytes", len(got))
	}
}

// A reader closed mid-range (the player went away) leaves no request and no
// goroutine behind, and the miner sees its stream reset.
func TestStreamReaderCloseLeavesNothingBehind(t *testing.T) {
	r := newStreamRegion(t, 4<<20, 1)
	release := make(chan struct{})
	sendErr := make(chan error, 16)
	var stuck atomic.Int32
	r.addMiner(t, func(ctx context.Context, st *transport.Stream, req *wire.GetPiece) error {
		if req.Index < 2 {
			return r.serve(ctx, st, req)
		}
		stuck.Add(1)
		<-release // a miner slow to answer
		for k := 0; k < 64; k++ {
			if err := sendPieces(st, r.shards, req); err != nil {
				sendErr <- err
				return err
			}
		}
		sendErr <- nil
		return nil
	})
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	s := r.open(t, r.client(t, nil), user.StreamOptions{ReadAhead: 1 << 20})
	// Warm up: the connection to the miner exists before counting.
	if got := readRange(t, s, 0, 1000); !bytes.Equal(got, r.data[:1000]) {
		t.Fatal("first bytes differ")
	}
	base := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rr := s.Range(ctx, 0, 4<<20)
	buf := make([]byte, 512<<10)
	if _, err := io.ReadFull(rr, buf); err != nil { // pieces 0 and 1
		t.Fatal(err)
	}
	// Pieces 2.. are requested and stuck at the miner.
	waitFor(t, "requests in flight", func() bool { return s.Stats().Requests == 2 })
	rr.Close()
	waitFor(t, "no request in flight", func() bool { return s.Stats().Requests == 0 })
	if _, err := rr.Read(buf); !errors.Is(err, user.ErrStreamClosed) {
		t.Fatalf("read after close: %v", err)
	}
	// The miner's handlers (in this process too) end once let go: their
	// streams were reset by the client.
	close(release)
	for k := 0; k < int(stuck.Load()); k++ {
		select {
		case err := <-sendErr:
			if err == nil {
				t.Fatal("the miner could still send on an abandoned request")
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the miner's handler never ended")
		}
	}
	waitFor(t, "goroutines back to the count before the range", func() bool { return runtime.NumGoroutine() <= base })

	// A reader whose context ends stops at once, too.
	ctx2, cancel2 := context.WithCancel(context.Background())
	rr2 := s.Range(ctx2, 3<<20, 1<<20)
	done := make(chan error, 1)
	go func() { _, err := io.ReadAll(rr2); done <- err }()
	cancel2()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("read with an ended context: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a read did not end with its context")
	}
	rr2.Close()
	cancel()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A miner that goes silent mid-stream (its link cut, as when its machine is
// killed) does not stop the reader: late pieces are asked of other replicas
// long before the miner's piece timeout.
func TestStreamSurvivesASilentMiner(t *testing.T) {
	r := newStreamRegion(t, 8<<20, 3)
	var links []*netsim.Link
	for i := 0; i < 3; i++ {
		n := r.addMiner(t, nil)
		l := netsim.NewLink(t, n.Self().Addr, 0, 0)
		links = append(links, l)
		r.relink(i, l.Addr())
	}
	s := r.open(t, r.client(t, nil), user.StreamOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rr := s.Range(ctx, 0, 8<<20)
	defer rr.Close()
	got := make([]byte, 0, 8<<20)
	buf := make([]byte, 64<<10)
	var longest time.Duration
	cut := false
	for {
		if len(got) >= 2<<20 && !cut {
			links[0].Cut()
			cut = true
		}
		start := time.Now()
		n, err := rr.Read(buf)
		longest = max(longest, time.Since(start))
		got = append(got, buf[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("after %d bytes: %v", len(got), err)
		}
	}
	if !bytes.Equal(got, r.data) {
		t.Fatal("the stream's bytes differ from the file's")
	}
	st := s.Stats()
	t.Logf("longest read %v; hedged %d; pieces by miner %v", longest, st.Hedged, st.PiecesByMiner)
	// The client's piece timeout is 10 s: a read waiting that long was
	// saved by the timeout, not by the schedule.
	if longest >= 5*time.Second {
		t.Fatalf("a read waited %v for the silent miner", longest)
	}
	if st.Hedged == 0 && len(st.DroppedMiners) == 0 {
		t.Fatal("neither a hedge nor a drop: the cut miner was not in the way")
	}
}

// A private file streams as plaintext: each range reads and opens only the
// sealed chunks it spans; a wrong key fails the read.
func TestStreamPlainRangesOfAPrivateFile(t *testing.T) {
	plain := make([]byte, 3<<20+12345)
	rand.Read(plain)
	key := make([]byte, filecrypt.KeySize)
	rand.Read(key)
	h, err := filecrypt.NewHeader()
	if err != nil {
		t.Fatal(err)
	}
	enc, err := filecrypt.NewEncrypter(bytes.NewReader(plain), key, h)
	if err != nil {
		t.Fatal(err)
	}
	ct, err := io.ReadAll(enc)
	if err != nil {
		t.Fatal(err)
	}
	r := newStreamRegionOf(t, ct, shard.FlagEncrypted, 2)
	for i := 0; i < 2; i++ {
		r.addMiner(t, nil)
	}
	c := r.client(t, nil)
	s := r.open(t, c, user.StreamOptions{ReadAhead: 1, Access: &user.Access{File: r.file, Key: key}})
	if !s.Private() || s.PlainSize() != int64(len(plain)) {
		t.Fatalf("private %v, plain size %d; want true, %d", s.Private(), s.PlainSize(), len(plain))
	}
	chunk := int64(h.Chunk)
	size := int64(len(plain))
	for _, c := range []struct{ off, n int64 }{
		{0, 100}, {chunk - 10, 100}, {2<<20 + 7, 300000}, {size - 5, 5}, {size - 5, 1 << 20}, {0, size},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		rd := s.PlainRange(ctx, c.off, c.n)
		got, err := io.ReadAll(rd)
		rd.Close()
		cancel()
		end := min(c.off+c.n, size)
		if err != nil || !bytes.Equal(got, plain[c.off:end]) {
			t.Fatalf("plain range %d+%d: %d bytes, %v", c.off, c.n, len(got), err)
		}
	}
	// The range in the middle asked only for the pieces of its chunks.
	r.mu.Lock()
	asked := len(r.asked)
	r.mu.Unlock()
	if want := int(size/(256<<10)) + 1; asked > want {
		t.Fatalf("%d pieces asked for, more than the file's %d", asked, want)
	}
	// Another key does not open the chunks.
	bad := append([]byte(nil), key...)
	bad[0] ^= 1
	s2 := r.open(t, c, user.StreamOptions{Access: &user.Access{File: r.file, Key: bad}})
	rd := s2.PlainRange(context.Background(), 0, 10)
	defer rd.Close()
	if _, err := io.ReadAll(rd); !errors.Is(err, filecrypt.ErrDecrypt) {
		t.Fatalf("read with a wrong key: %v, want filecrypt.ErrDecrypt", err)
	}
}
