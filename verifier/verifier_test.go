package verifier

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/proofs"
	"github.com/ppstore/ppstore/shard"
	"github.com/ppstore/ppstore/transport"
	"github.com/ppstore/ppstore/wire"
	"github.com/prometheus/client_golang/prometheus"
)

var testParams = proofs.Params{Rounds: 1, MinSealBlocks: 2048}

// fakeMiner is a QUIC node that seals shards with package proofs and
// answers PoRep and PoSt as a miner does (the real miner is tested in e2e).
type fakeMiner struct {
	t    *testing.T
	key  *identity.Key
	node *transport.Node

	mu      sync.Mutex
	held    map[shard.Digest]*sealedShard
	cheat   func(*proofs.PoStResponse) // alters responses, if set
	delay   time.Duration
	signer  *identity.Key                                       // signs responses; default key
	resign  func(parts [][]byte, sig []byte) ([][]byte, []byte) // replaces a signed response, if set
	answers atomic.Int32
	// source finds a shard's data for a RepairShard (the test's region).
	source func(root shard.Digest) []byte
}

type sealedShard struct {
	c       shard.Digest
	data    []byte
	digests []shard.Digest
	rep     *proofs.Replica
	replica []byte
	tree    *proofs.Tree
}

func (s *sealedShard) read(p []byte, off int64) error { copy(p, s.replica[off:]); return nil }

func newFakeMiner(t *testing.T) *fakeMiner {
	key, _ := identity.Generate()
	node, err := transport.Listen(transport.Config{Key: key, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	m := &fakeMiner{t: t, key: key, node: node, held: map[shard.Digest]*sealedShard{}}
	node.Handle(wire.TypePoStChallenge, m.handlePoSt)
	node.Handle(wire.TypeRepairShard, m.handleRepair)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { node.Serve(ctx); close(done) }()
	t.Cleanup(func() { cancel(); node.Close(); <-done })
	return m
}

func (m *fakeMiner) seal(size, pieceSize int) *sealedShard {
	m.mu.Lock()
	r := rand.New(rand.NewPCG(uint64(size), uint64(len(m.held))))
	m.mu.Unlock()
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	return m.sealData(data, pieceSize)
}

// sealData seals data as this miner's replica.
func (m *fakeMiner) sealData(data []byte, pieceSize int) *sealedShard {
	size := len(data)
	var ds []shard.Digest
	for off := 0; off < size; off += pieceSize {
		ds = append(ds, shard.PieceDigest(data[off:min(off+pieceSize, size)]))
	}
	root := shard.MerkleRoot(ds)
	rep := &proofs.Replica{Miner: m.key.ID().Bytes(), CommD: root, Size: int64(size), PieceSize: int64(pieceSize), Layers: testParams.Layers(int64(size))}
	buf := make([]byte, proofs.ReplicaSize(rep.Size))
	copy(buf, data)
	if err := proofs.Seal(rep.ID(), rep.Size, rep.Layers, buf); err != nil {
		m.t.Fatal(err)
	}
	tree := proofs.NewTree(buf)
	rep.CommR = tree.Root()
	s := &sealedShard{c: root, data: data, digests: ds, rep: rep, replica: buf, tree: tree}
	m.mu.Lock()
	m.held[root] = s
	m.mu.Unlock()
	return s
}

// prove runs the PoRep exchange with the verifier; commR overrides the
// replica's root when set (a forged commitment).
func (m *fakeMiner) prove(v wire.NodeAddr, s *sealedShard, commR *shard.Digest) (uint64, error) {
	st, err := m.node.Open(context.Background(), v)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	rep := *s.rep
	tree := s.tree
	if commR != nil {
		rep.CommR = *commR
	}
	if err := st.Send(&wire.SealCommit{Shard: shard.ShardCID(s.c), Size: uint64(rep.Size), PieceSize: uint32(rep.PieceSize), Layers: uint32(rep.Layers), CommR: rep.CommR}); err != nil {
		return 0, err
	}
	var ch wire.PoRepChallenge
	if err := st.Expect(&ch); err != nil {
		return 0, err
	}
	proof, err := proofs.ProvePoRep(&rep, tree, ch.Seed, testParams, s.digests, s.read)
	if err != nil {
		return 0, err
	}
	for _, o := range proof.Openings {
		one := proofs.PoRepProof{Openings: []proofs.PoRepOpening{o}}
		if err := st.Send(&wire.PoRepPart{Proof: one.Append(nil)}); err != nil {
			return 0, err
		}
	}
	var res wire.PoRepResult
	if err := st.Expect(&res); err != nil {
		return 0, err
	}
	return res.Epoch, nil
}

func (m *fakeMiner) handlePoSt(_ context.Context, s *transport.Stream, msg wire.Message) error {
	ch := msg.(*wire.PoStChallenge)
	m.answers.Add(1)
	m.mu.Lock()
	var held []proofs.Held
	for _, c := range ch.Shards {
		root, _ := shard.DigestOf(c, shard.ShardCodec)
		if sh := m.held[root]; sh != nil {
			held = append(held, proofs.Held{Replica: sh.rep, Tree: sh.tree, Read: sh.read})
		}
	}
	cheat, delay, signer, resign := m.cheat, m.delay, m.signer, m.resign
	m.mu.Unlock()
	if signer == nil {
		signer = m.key
	}
	resp, err := proofs.ProvePoSt(&proofs.Round{Epoch: ch.Epoch, Seed: ch.Seed}, testParams, held)
	if err != nil {
		return err
	}
	if cheat != nil {
		cheat(resp)
	}
	if delay > 0 {
		time.Sleep(delay) // a slow miner, for the late-response test
	}
	parts := [][]byte{resp.Append(nil)}
	sig := wire.SignPoSt(signer, ch.Epoch, ch.Seed, s.Peer(), parts)
	if resign != nil {
		parts, sig = resign(parts, sig)
	}
	for i, part := range parts {
		if err := s.Send(&wire.PoStPart{Last: i == len(parts)-1, Response: part}); err != nil {
			return err
		}
	}
	return s.Send(&wire.PoStSignature{Sig: sig})
}

// handleRepair "copies" the shard from the test's region and seals it.
func (m *fakeMiner) handleRepair(_ context.Context, s *transport.Stream, msg wire.Message) error {
	req := msg.(*wire.RepairShard)
	root, _ := shard.DigestOf(req.Shard, shard.ShardCodec)
	m.mu.Lock()
	source := m.source
	m.mu.Unlock()
	data := source(root)
	if data == nil {
		return wire.Errorf(wire.CodeNotFound, "no source for %v", req.Shard)
	}
	m.sealData(data, int(req.PieceSize))
	return s.Send(&wire.RepairDone{})
}

// fakeIndex stands in for the indexer: shards committed with their
// holders; Proven and Replace check them as the indexer does.
type fakeIndex struct {
	mu       sync.Mutex
	all      bool // accept every report (the shards were not committed here)
	holders  map[shard.Digest][]identity.PeerID
	proven   map[shard.Digest]map[identity.PeerID]uint64
	replaced int
}

func newFakeIndex() *fakeIndex {
	return &fakeIndex{holders: map[shard.Digest][]identity.PeerID{}, proven: map[shard.Digest]map[identity.PeerID]uint64{}}
}

func (f *fakeIndex) commit(s *sealedShard, miners ...*fakeMiner) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, m := range miners {
		f.holders[s.c] = append(f.holders[s.c], m.key.ID())
	}
}

func (f *fakeIndex) Proven(_ context.Context, sc cid.Cid, miner identity.PeerID, epoch uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.all {
		return nil
	}
	root, _ := shard.DigestOf(sc, shard.ShardCodec)
	hs, ok := f.holders[root]
	switch {
	case !ok:
		return wire.Errorf(wire.CodeNotCommitted, "no committed file holds %v", sc)
	case !slices.Contains(hs, miner):
		return wire.Errorf(wire.CodeNotHolder, "%v holds no replica of %v", miner.Short(), sc)
	}
	if f.proven[root] == nil {
		f.proven[root] = map[identity.PeerID]uint64{}
	}
	f.proven[root][miner] = epoch
	return nil
}

func (f *fakeIndex) Replace(_ context.Context, sc cid.Cid, failing, repl identity.PeerID, epoch uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	root, _ := shard.DigestOf(sc, shard.ShardCodec)
	hs, ok := f.holders[root]
	i := slices.Index(hs, failing)
	switch {
	case !ok:
		return wire.Errorf(wire.CodeNotCommitted, "no committed file holds %v", sc)
	case i < 0:
		return wire.Errorf(wire.CodeNotHolder, "%v holds no replica of %v", failing.Short(), sc)
	case slices.Contains(hs, repl):
		return wire.Errorf(wire.CodeReplicaCount, "%v holds %v already", repl.Short(), sc)
	}
	hs[i] = repl
	delete(f.proven[root], failing)
	f.proven[root][repl] = epoch
	f.replaced++
	return nil
}

func (f *fakeIndex) holdersOf(root shard.Digest) []identity.PeerID {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.holders[root])
}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type recordingPayer struct {
	mu     sync.Mutex
	events []PassEvent
}

func (r *recordingPayer) Pay(_ context.Context, ev PassEvent) error {
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
	return nil
}

func (r *recordingPayer) count() int { r.mu.Lock(); defer r.mu.Unlock(); return len(r.events) }

type testVerifier struct {
	*Peer
	clock *clock
	payer *recordingPayer
	index *fakeIndex
	dir   string
}

func startVerifier(t *testing.T, miners ...*fakeMiner) *testVerifier {
	dir := t.TempDir()
	cfg := Config{DataDir: dir, Epoch: time.Hour, DeadlineBase: 2 * time.Second, ChainLength: 1000, MissesToRepair: 2, KeepEpochs: 3, Proofs: testParams}
	p, err := New(cfg, nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	tv := &testVerifier{Peer: p, clock: &clock{t: p.genesis}, payer: &recordingPayer{}, index: newFakeIndex(), dir: dir}
	tv.index.all = true
	p.now = tv.clock.now
	p.SetPayer(tv.payer)
	p.SetIndex(tv.index)
	p.minerAddrs = func(context.Context) (map[identity.PeerID]string, error) {
		out := map[identity.PeerID]string{}
		for _, m := range miners {
			out[m.key.ID()] = m.node.Addr().String()
		}
		return out, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.node.Serve(ctx); close(done) }()
	t.Cleanup(func() { cancel(); p.Close(); <-done })
	return tv
}

// round moves the clock to the next epoch and runs its round.
func (v *testVerifier) round(t *testing.T) (uint64, *RoundRecord) {
	t.Helper()
	v.clock.add(v.cfg.Epoch)
	epoch := v.epochAt(v.clock.now())
	if err := v.RunEpoch(context.Background(), epoch); err != nil {
		t.Fatal(err)
	}
	rec, err := ReadRound(v.dir, epoch)
	if err != nil {
		t.Fatal(err)
	}
	return epoch, rec
}

func verdictsOf(rec *RoundRecord, miner identity.PeerID) []Verdict {
	var out []Verdict
	for _, m := range rec.Miners {
		if m.Miner == miner {
			for _, r := range m.Replicas {
				out = append(out, r.Verdict)
			}
		}
	}
	return out
}

func TestPoRepThenRoundsPassAndPay(t *testing.T) {
	a, b := newFakeMiner(t), newFakeMiner(t)
	v := startVerifier(t, a, b)
	for _, m := range []*fakeMiner{a, b} {
		for _, size := range []int{20 << 10, 3000} {
			s := m.seal(size, 4<<10)
			if _, err := m.prove(v.Addr(), s, nil); err != nil {
				t.Fatalf("honest PoRep refused: %v", err)
			}
		}
	}
	reps, _ := v.Replicas()
	if len(reps) != 4 {
		t.Fatalf("%d replicas recorded, want 4", len(reps))
	}
	for i := 0; i < 2; i++ {
		_, rec := v.round(t)
		for _, m := range []*fakeMiner{a, b} {
			for _, vd := range verdictsOf(rec, m.key.ID()) {
				if vd != VerdictPass {
					t.Fatalf("honest miner's verdict %v", vd)
				}
			}
		}
		if mm, err := Check(rec); err != nil || len(mm) != 0 {
			t.Fatalf("check of an honest round: %v, %v", mm, err)
		}
	}
	if got := v.payer.count(); got != 8 {
		t.Fatalf("%d payment events for 4 replicas × 2 rounds, want 8", got)
	}
	// A round already judged is not run again (no double payment).
	if err := v.RunRound(context.Background()); err != nil || v.payer.count() != 8 {
		t.Fatalf("RunRound of a judged epoch: %v, payments %d", err, v.payer.count())
	}
}

func TestPoRepRefusesForgedCommR(t *testing.T) {
	m := newFakeMiner(t)
	v := startVerifier(t, m)
	s := m.seal(20<<10, 4<<10)
	zeros := proofs.NewTree(make([]byte, len(s.replica)))
	forged := zeros.Root()
	// The forger proves with the zero replica's tree: its leaves check
	// under commR but do not unseal to the data.
	s2 := *s
	s2.tree, s2.replica = zeros, make([]byte, len(s.replica))
	if _, err := m.prove(v.Addr(), &s2, &forged); !errors.Is(err, wire.ErrBadProof) {
		t.Fatalf("forged commR: %v, want ErrBadProof", err)
	}
	if reps, _ := v.Replicas(); len(reps) != 0 {
		t.Fatalf("a forged replica was recorded")
	}
}

func TestMissesLeadToRepairAndCheckCatchesALyingVerifier(t *testing.T) {
	honest, cheat := newFakeMiner(t), newFakeMiner(t)
	v := startVerifier(t, honest, cheat)
	for _, m := range []*fakeMiner{honest, cheat} {
		if _, err := m.prove(v.Addr(), m.seal(16<<10, 4<<10), nil); err != nil {
			t.Fatal(err)
		}
	}
	cheat.mu.Lock()
	cheat.cheat = func(r *proofs.PoStResponse) { r.Proofs[0].Openings[0].Leaf[0] ^= 1 }
	cheat.mu.Unlock()
	var rec *RoundRecord
	for i := 0; i < 2; i++ {
		_, rec = v.round(t)
		if got := verdictsOf(rec, cheat.key.ID()); got[0] != VerdictInvalid {
			t.Fatalf("round %d: cheater's verdict %v", i, got)
		}
		if got := verdictsOf(rec, honest.key.ID()); got[0] != VerdictPass {
			t.Fatalf("round %d: honest verdict %v", i, got)
		}
	}
	reps, _ := v.Replicas()
	for _, r := range reps {
		want := uint8(StatusProven)
		if r.Miner == cheat.key.ID() {
			want = StatusRepairing
		}
		if r.Status != want {
			t.Errorf("miner %s: status %s, want %s", r.Miner.Short(), StatusName(r.Status), StatusName(want))
		}
	}
	// A verifier that records the honest miner as failing is caught.
	for i := range rec.Miners {
		if rec.Miners[i].Miner == honest.key.ID() {
			rec.Miners[i].Replicas[0].Verdict = VerdictInvalid
		}
	}
	back, err := ParseRoundRecord(rec.Append(nil))
	if err != nil {
		t.Fatal(err)
	}
	mm, err := Check(back)
	if err != nil || len(mm) != 1 || mm[0].Miner != honest.key.ID() || mm[0].Judged != VerdictPass {
		t.Fatalf("check of a lying record: %v, %v", mm, err)
	}
	// A record with another seed than the chain's is refused.
	back.Seed[0] ^= 1
	if _, err := Check(back); !errors.Is(err, ErrBadSeed) {
		t.Fatalf("forged seed: %v", err)
	}
}

func TestLateAndSilentMinersMiss(t *testing.T) {
	slow, gone := newFakeMiner(t), newFakeMiner(t)
	v := startVerifier(t, slow)
	for _, m := range []*fakeMiner{slow, gone} {
		if _, err := m.prove(v.Addr(), m.seal(16<<10, 4<<10), nil); err != nil {
			t.Fatal(err)
		}
	}
	v.cfg.DeadlineBase = 50 * time.Millisecond
	slow.mu.Lock()
	slow.delay = 300 * time.Millisecond
	slow.mu.Unlock()
	_, rec := v.round(t)
	if got := verdictsOf(rec, slow.key.ID()); got[0] != VerdictLate {
		t.Fatalf("slow miner: %v, want late", got)
	}
	if got := verdictsOf(rec, gone.key.ID()); got[0] != VerdictNoAnswer {
		t.Fatalf("unregistered miner: %v, want no answer", got)
	}
	if mm, err := Check(rec); err != nil || len(mm) != 0 {
		t.Fatalf("check: %v %v", mm, err)
	}
}

func TestRoundFilesAreKeptForKeepEpochs(t *testing.T) {
	m := newFakeMiner(t)
	v := startVerifier(t, m)
	if _, err := m.prove(v.Addr(), m.seal(8<<10, 4<<10), nil); err != nil {
		t.Fatal(err)
	}
	var epochs []uint64
	for i := 0; i < 5; i++ {
		e, _ := v.round(t)
		epochs = append(epochs, e)
	}
	files, _ := filepath.Glob(filepath.Join(v.dir, "rounds", "*.round"))
	if len(files) != v.cfg.KeepEpochs {
		t.Fatalf("%d round files kept, want %d", len(files), v.cfg.KeepEpochs)
	}
	if _, err := ReadRound(v.dir, epochs[0]); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("oldest round still there: %v", err)
	}
}

func TestHashChain(t *testing.T) {
	h := NewHashChain([32]byte{1}, 50)
	for e := uint64(1); e <= 50; e += 7 {
		s, err := h.Seed(e)
		if err != nil || !h.CheckSeed(e, s) || h.CheckSeed(e+1, s) {
			t.Fatalf("epoch %d: %v", e, err)
		}
	}
	if _, err := h.Seed(51); !errors.Is(err, ErrChainExhausted) {
		t.Fatalf("past the chain: %v", err)
	}
}

// FuzzParseRoundRecord: a round file from anyone is parsed without panics
// and re-encodes to itself.
func FuzzParseRoundRecord(f *testing.F) {
	rec := &RoundRecord{Epoch: 3, Params: testParams.WithDefaults(), Miners: []MinerRound{{Answered: true, Parts: [][]byte{{1, 2}}}}}
	f.Add(rec.Append(nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRoundRecord(b)
		if err != nil {
			return
		}
		_, _ = Check(r)
	})
}
