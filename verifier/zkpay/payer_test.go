package zkpay

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/rollup"
	"github.com/ppstore/ppstore/transport"
	"github.com/ppstore/ppstore/verifier"
	"github.com/ppstore/ppstore/wallet"
	"github.com/ppstore/ppstore/wire"
	"github.com/ppstore/ppstore/zkstore"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

const region = "pay-region"

// The zkstore tests' circuit, so the cached keys are shared with them.
var params = rollup.Params{Depth: 8, BatchSize: 2}

func keysDir() string { return filepath.Join(os.TempDir(), "ppstore-rollup-test-keys") }

// chain is the sidechain's contract in memory: one root per region, moved
// only by a batch from that root whose proof rollup.VerifyBatch accepts.
type chain struct {
	mu     sync.Mutex
	vk     []byte
	root   [32]byte
	height int64
}

func (c *chain) SubmitBatch(_ context.Context, r string, prev, next [32]byte, data, proof []byte) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r != region || prev != c.root {
		return 0, errors.New("test chain: wrong region or previous root")
	}
	if err := rollup.VerifyBatch(c.vk, prev, next, data, proof); err != nil {
		return 0, err
	}
	c.height++
	c.root = next
	return c.height, nil
}

func (c *chain) Root(context.Context, string) ([32]byte, int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.root, c.height, nil
}

// operator is a zkstore operator on a fixed address with the test chain.
type operator struct {
	*zkstore.Peer
	dir, listen string
	cancel      context.CancelFunc
	done        chan error
}

func startOperator(t *testing.T, dir, listen string, ch *chain) *operator {
	t.Helper()
	p, err := zkstore.New(zkstore.Config{DataDir: dir, Listen: listen, Region: region, Depth: params.Depth, BatchSize: params.BatchSize,
		KeysDir: keysDir(), BatchWait: time.Hour, RoundInterval: time.Hour, Faucet: 1_000_000}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	k, err := p.LoadKeys()
	if err != nil {
		t.Fatal(err)
	}
	ch.mu.Lock()
	if ch.vk == nil {
		ch.vk = k.VerifyingKey()
		ch.root, _ = p.Store().GenesisRoot()
	}
	ch.mu.Unlock()
	p.SetChain(ch)
	ctx, cancel := context.WithCancel(context.Background())
	op := &operator{Peer: p, dir: dir, listen: p.Addr().Addr, cancel: cancel, done: make(chan error, 1)}
	go func() { op.done <- p.Node().Serve(ctx) }()
	t.Cleanup(op.stop)
	return op
}

func (o *operator) stop() {
	if o.cancel == nil {
		return
	}
	o.cancel()
	o.Close()
	<-o.done
	o.cancel = nil
}

// prove proves and submits every pending transfer.
func (o *operator) prove(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := o.Batcher().RunOnce(ctx, true); err != nil {
		t.Fatalf("prove the pending batches: %v", err)
	}
}

// miner is a peer that serves a wallet binding, as package miner does.
type miner struct {
	id   *identity.Key
	addr string
	key  *rollup.PrivateKey // written by the test goroutine only (rebind)
	stop func()             // closes the miner's node: out of reach from then on

	mu      sync.Mutex // the handler reads what the test changes
	binding wallet.Binding
	serveFn func(m *miner) []byte
}

// newMiner makes a miner node; serve returns what it serves (nil: no wallet).
func newMiner(t *testing.T, serve func(m *miner) []byte) *miner {
	t.Helper()
	id, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	m := &miner{id: id, serveFn: serve}
	if m.key, m.binding, err = wallet.LoadOrCreateKey(t.TempDir(), id); err != nil {
		t.Fatal(err)
	}
	n, err := transport.Listen(transport.Config{Key: id, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	n.Handle(wire.TypeGetWalletBinding, transport.Unary(func(context.Context, identity.PeerID, *wire.GetWalletBinding) (wire.Message, error) {
		m.mu.Lock()
		serve := m.serveFn
		m.mu.Unlock()
		b := serve(m)
		if b == nil {
			return nil, wire.Errorf(wire.CodeNoWallet, "no wallet")
		}
		return &wire.WalletBinding{Binding: b}, nil
	}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.Serve(ctx); close(done) }()
	var once sync.Once
	m.stop = func() { once.Do(func() { cancel(); n.Close(); <-done }) }
	t.Cleanup(m.stop)
	m.addr = n.Addr().String()
	return m
}

// serve makes the miner serve what serve returns from now on.
func (m *miner) serve(serve func(m *miner) []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.serveFn = serve
}

// rebind gives the miner a new wallet key and binding, as its operator
// does by replacing its wallet files, and returns the old key.
func (m *miner) rebind(t *testing.T) *rollup.PrivateKey {
	t.Helper()
	key, b, err := wallet.LoadOrCreateKey(t.TempDir(), m.id)
	if err != nil {
		t.Fatal(err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	old := m.key
	m.key, m.binding = key, b
	return old
}

func honest(m *miner) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.binding.Marshal()
}

type harness struct {
	t      *testing.T
	dir    string
	ch     *chain
	op     *operator
	client *transport.Node
	miners map[identity.PeerID]*miner
	id     *identity.Key
	reg    *prometheus.Registry
	logs   *logBuffer // what the payers log, at debug level and up
}

// logBuffer collects log lines; the payer's ledger logs from its own
// goroutines, hence the lock.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines returns the lines logged so far that contain every one of words.
func (b *logBuffer) lines(words ...string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, l := range strings.Split(b.buf.String(), "\n") {
		ok := true
		for _, w := range words {
			ok = ok && strings.Contains(l, w)
		}
		if ok && l != "" {
			out = append(out, l)
		}
	}
	return out
}

func newHarness(t *testing.T) *harness {
	h := &harness{t: t, dir: t.TempDir(), ch: &chain{}, miners: map[identity.PeerID]*miner{}, logs: &logBuffer{}}
	h.op = startOperator(t, filepath.Join(h.dir, "zkstore"), "127.0.0.1:0", h.ch)
	var err error
	if h.id, err = identity.Generate(); err != nil {
		t.Fatal(err)
	}
	if h.client, err = transport.Listen(transport.Config{Key: h.id, Listen: "127.0.0.1:0", DialTimeout: time.Second, RequestTimeout: 5 * time.Second}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.client.Close() })
	return h
}

func (h *harness) add(serve func(*miner) []byte) *miner {
	m := newMiner(h.t, serve)
	h.miners[m.id.ID()] = m
	return m
}

// payer opens the verifier's payer on the harness's data directory.
func (h *harness) payer() *Payer { return h.payerWith(nil) }

// payerWith is payer with the config changed by edit (nil: as is).
func (h *harness) payerWith(edit func(*Config)) *Payer {
	h.t.Helper()
	h.reg = prometheus.NewRegistry()
	cfg := Config{DataDir: filepath.Join(h.dir, "verifier"), Region: region, Operator: h.op.Addr(), Timeout: 5 * time.Second,
		Payment:   verifier.PaymentConfig{ZkStore: true, PricePerProof: 10},
		MinerAddr: func(_ context.Context, m identity.PeerID) (string, error) { return h.miners[m].addr, nil }}
	if edit != nil {
		edit(&cfg)
	}
	log := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p, err := New(cfg, h.id, h.client, nil, log, h.reg)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { p.Close() })
	return p
}

func (h *harness) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	h.t.Cleanup(cancel)
	return ctx
}

// fund sends amount from the faucet (the operator's account 0) to key.
func (h *harness) fund(key rollup.PublicKey, amount uint64) {
	h.t.Helper()
	op, err := rollup.LoadOrCreateKeyFile(filepath.Join(h.op.dir, zkstore.AccountKeyFile))
	if err != nil {
		h.t.Fatal(err)
	}
	if _, err := wallet.New(op, wallet.Binding{}, region, h.client, nil, h.op.Addr(), nil).Send(h.ctx(), key, amount); err != nil {
		h.t.Fatalf("fund: %v", err)
	}
}

// proven is an account's balance checked against the chain's root.
func (h *harness) proven(key *rollup.PrivateKey) uint64 {
	h.t.Helper()
	b, err := wallet.New(key, wallet.Binding{}, region, h.client, nil, h.op.Addr(), h.ch).Balance(h.ctx())
	if err != nil {
		h.t.Fatalf("proven balance: %v", err)
	}
	return b.Proven
}

func (h *harness) pending(key *rollup.PrivateKey) (balance, nonce uint64) {
	h.t.Helper()
	st, err := wallet.New(key, wallet.Binding{}, region, h.client, nil, h.op.Addr(), nil).Account(h.ctx())
	if err != nil {
		h.t.Fatal(err)
	}
	return st.Balance, st.Nonce
}

func shardCID(t *testing.T, i int) cid.Cid {
	sum := sha256.Sum256([]byte{byte(i)})
	mh, err := multihash.Encode(sum[:], multihash.SHA2_256)
	if err != nil {
		t.Fatal(err)
	}
	return cid.NewCidV1(cid.Raw, mh)
}

func passes(t *testing.T, epoch uint64, m *miner, shards ...int) []verifier.PassEvent {
	var out []verifier.PassEvent
	for _, s := range shards {
		out = append(out, verifier.PassEvent{Epoch: epoch, Miner: m.id.ID(), Shard: shardCID(t, s)})
	}
	return out
}

func result(h *harness, p *Payer, r string) float64 {
	var m dto.Metric
	if err := p.metrics.payments.WithLabelValues(r).Write(&m); err != nil {
		h.t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// A miner's proven balance grows by the price of each passed proof after a
// round it passed, and not after a round it missed; a round paid is not
// paid again, neither when handed over twice nor after a restart. (The
// other tests check the operator's pending balances: proving is this
// test's business, and each proof costs seconds, more under -race.)
func TestMinersArePaidForPassedRounds(t *testing.T) {
	h := newHarness(t)
	a, b := h.add(honest), h.add(honest)
	p := h.payer()
	h.fund(p.Address(), 1000)

	// Round 1: a passes two replicas, b one.
	if err := p.PayRound(h.ctx(), 1, append(passes(t, 1, a, 1, 2), passes(t, 1, b, 3)...)); err != nil {
		t.Fatal(err)
	}
	h.op.prove(t)
	if pa, pb := h.proven(a.key), h.proven(b.key); pa != 20 || pb != 10 {
		t.Fatalf("after round 1: a %d, b %d; want 20 and 10", pa, pb)
	}
	// Round 2: a misses (no pass), b passes.
	if err := p.PayRound(h.ctx(), 2, passes(t, 2, b, 3)); err != nil {
		t.Fatal(err)
	}
	h.op.prove(t)
	if pa, pb := h.proven(a.key), h.proven(b.key); pa != 20 || pb != 20 {
		t.Fatalf("after round 2 (a missed): a %d, b %d; want 20 and 20", pa, pb)
	}
	if got := result(h, p, resultPaid); got != 3 {
		t.Fatalf("%v payments recorded, want 3 (one per miner per round)", got)
	}
	_, nonce := h.pending(h.verifierKey(t))

	// The same round again, and again after a restart: nothing more is paid.
	if err := p.PayRound(h.ctx(), 2, passes(t, 2, b, 3)); err != nil {
		t.Fatal(err)
	}
	p.Close()
	p = h.payer()
	if err := p.PayRound(h.ctx(), 2, append(passes(t, 2, b, 3), passes(t, 1, a, 1)...)); err != nil {
		t.Fatal(err)
	}
	if _, again := h.pending(h.verifierKey(t)); again != nonce {
		t.Fatalf("a round paid before was paid again: the verifier's nonce went from %d to %d", nonce, again)
	}
	if n, _ := p.Owed(); n != 0 {
		t.Fatalf("%d passes owed after everything was paid", n)
	}
	if bal, _ := h.pending(h.verifierKey(t)); bal != 1000-40 {
		t.Fatalf("the verifier's balance %d, want %d", bal, 1000-40)
	}
}

func (h *harness) verifierKey(t *testing.T) *rollup.PrivateKey {
	k, err := rollup.LoadOrCreateKeyFile(filepath.Join(h.dir, "verifier", wallet.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// The zkstore operator down: the round is not blocked past the payer's
// timeout, the failure is counted, the passes stay owed and are paid once
// the operator is back.
func TestOperatorDownKeepsPassesOwed(t *testing.T) {
	h := newHarness(t)
	a := h.add(honest)
	p := h.payer()
	h.fund(p.Address(), 1000)
	listen := h.op.listen
	h.op.stop()

	start := time.Now()
	err := p.PayRound(h.ctx(), 1, passes(t, 1, a, 1, 2))
	if err == nil {
		t.Fatal("a settlement with the operator down reported no failure")
	}
	if took := time.Since(start); took > 8*time.Second {
		t.Fatalf("the settlement blocked %v with the operator down (timeout 5s)", took)
	}
	if got := result(h, p, resultOperator); got != 1 {
		t.Fatalf("operator_down counted %v times, want 1", got)
	}
	if n, _ := p.Owed(); n != 2 {
		t.Fatalf("%d passes owed, want 2", n)
	}

	h.op = startOperator(t, h.op.dir, listen, h.ch)
	if err := p.PayRound(h.ctx(), 2, nil); err != nil {
		t.Fatalf("settlement with the operator back: %v", err)
	}
	if got, _ := h.pending(a.key); got != 20 {
		t.Fatalf("after the operator came back, a holds %d, want 20", got)
	}
}

// Out of funds: nothing is sent (no nonce spent), the passes stay owed and
// are paid once the account is funded. A miner without a wallet, or serving
// a binding for another peer, is not paid and stays owed.
func TestOutOfFundsAndMinersWithoutWallet(t *testing.T) {
	h := newHarness(t)
	a := h.add(honest)
	none := h.add(func(*miner) []byte { return nil })
	forger := h.add(func(*miner) []byte { return a.binding.Marshal() }) // a's binding, to be paid into a's account... or its own
	p := h.payer()
	h.fund(p.Address(), 15)

	round := append(passes(t, 1, a, 1, 2), passes(t, 1, none, 3)...)
	round = append(round, passes(t, 1, forger, 4)...)
	err := p.PayRound(h.ctx(), 1, round)
	if !errors.Is(err, ErrOutOfFunds) || !errors.Is(err, ErrNoWallet) {
		t.Fatalf("settlement: %v; want ErrOutOfFunds (a) and ErrNoWallet (the other two)", err)
	}
	if result(h, p, resultOutOfFunds) != 1 || result(h, p, resultNoWallet) != 2 || result(h, p, resultPaid) != 0 {
		t.Fatalf("counted out_of_funds %v, no_wallet %v, paid %v", result(h, p, resultOutOfFunds), result(h, p, resultNoWallet), result(h, p, resultPaid))
	}
	if _, nonce := h.pending(h.verifierKey(t)); nonce != 0 {
		t.Fatalf("a transfer was sent without funds (nonce %d)", nonce)
	}
	if n, _ := p.Owed(); n != 4 {
		t.Fatalf("%d passes owed, want 4", n)
	}
	h.fund(p.Address(), 100)
	if err := p.PayRound(h.ctx(), 2, nil); !errors.Is(err, ErrNoWallet) || errors.Is(err, ErrOutOfFunds) {
		t.Fatalf("settlement after funding: %v; want only the miners without wallets", err)
	}
	if got, _ := h.pending(a.key); got != 20 {
		t.Fatalf("a holds %d after the verifier was funded, want 20", got)
	}
	if n, _ := p.Owed(); n != 2 {
		t.Fatalf("%d passes owed, want the 2 of the miners without a wallet", n)
	}
}

// A crash between recording a transfer and submitting it, or between the
// operator accepting it and the ledger confirming it: the next settlement
// submits it again as signed or confirms it by the account's nonce, and the
// miner is paid exactly once.
func TestCrashAroundSubmitPaysOnce(t *testing.T) {
	h := newHarness(t)
	a := h.add(honest)
	p := h.payer()
	h.fund(p.Address(), 1000)
	ctx := h.ctx()
	// Crash before the submit: recorded, never sent.
	h.outstanding(p, a, 1, 1)
	p.Close()
	p = h.payer()
	if err := p.Settle(ctx); err != nil {
		t.Fatal(err)
	}
	// Crash after the operator took it, before the ledger forgot it.
	o := h.outstanding(p, a, 2, 2)
	if _, err := p.wallet.Submit(ctx, &o.msg); err != nil {
		t.Fatal(err)
	}
	p.Close()
	p = h.payer()
	if err := p.Settle(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.PayRound(ctx, 2, passes(t, 2, a, 2)); err != nil {
		t.Fatal(err)
	}
	if got, _ := h.pending(a.key); got != 20 {
		t.Fatalf("a holds %d, want 20 (two passes paid once each)", got)
	}
	if _, nonce := h.pending(h.verifierKey(t)); nonce != 2 {
		t.Fatalf("the verifier's nonce is %d, want 2", nonce)
	}
}

// outstanding records the pass of miner m for shard in epoch as owed and
// then as paid by a signed transfer recorded and not submitted: the ledger
// of a payer that crashed between the two steps of a settlement.
func (h *harness) outstanding(p *Payer, m *miner, epoch uint64, shard int) *outstanding {
	h.t.Helper()
	ctx := h.ctx()
	acct, err := p.accountOf(ctx, m.id.ID())
	if err != nil {
		h.t.Fatal(err)
	}
	pass := passes(h.t, epoch, m, shard)
	if err := p.record(pass); err != nil {
		h.t.Fatal(err)
	}
	me, err := p.wallet.Account(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	msg, err := p.wallet.Prepare(ctx, me, acct, 10)
	if err != nil {
		h.t.Fatal(err)
	}
	o := &outstanding{Miner: m.id.ID().String(), Amount: 10, Passes: [][]byte{passKey(pass[0])}, Msg: msg.Append(nil), nonce: msg.Nonce, msg: *msg}
	if err := p.commitTransfer(o); err != nil {
		h.t.Fatal(err)
	}
	return o
}

// writeRound writes a round record in the verifier's data directory, as
// the verifier does before it hands the round to the payer.
func (h *harness) writeRound(rec *verifier.RoundRecord) {
	h.t.Helper()
	rounds := filepath.Join(h.dir, "verifier", "rounds")
	if err := os.MkdirAll(rounds, 0o700); err != nil {
		h.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rounds, fmt.Sprintf("%012d.round", rec.Epoch)), rec.Append(nil), 0o600); err != nil {
		h.t.Fatal(err)
	}
	if back, err := verifier.ReadRound(filepath.Join(h.dir, "verifier"), rec.Epoch); err != nil || len(back.Miners) != len(rec.Miners) {
		h.t.Fatalf("the test's round record does not read back: %v", err)
	}
}

// A round judged and written but never handed to the payer (the verifier
// killed in between) is read back from its round record when the next
// round comes, and paid once.
func TestMissedRoundIsReadFromItsRecord(t *testing.T) {
	h := newHarness(t)
	a := h.add(honest)
	p := h.payer()
	h.fund(p.Address(), 1000)
	if err := p.PayRound(h.ctx(), 1, nil); err != nil {
		t.Fatal(err)
	}
	// Epoch 2 was judged (a passed two replicas, missed one) but not handed over.
	rec := &verifier.RoundRecord{Epoch: 2, Miners: []verifier.MinerRound{{Miner: a.id.ID(), Answered: true, Replicas: []verifier.RoundReplica{
		{Shard: shardCID(t, 1), Verdict: verifier.VerdictPass}, {Shard: shardCID(t, 2), Verdict: verifier.VerdictPass},
		{Shard: shardCID(t, 3), Verdict: verifier.VerdictInvalid}}}}}
	h.writeRound(rec)
	p.Close()
	p = h.payer()
	if err := p.PayRound(h.ctx(), 3, passes(t, 3, a, 1)); err != nil {
		t.Fatal(err)
	}
	// Handed over late after all: nothing more.
	if err := p.PayRound(h.ctx(), 2, passes(t, 2, a, 1, 2)); err != nil {
		t.Fatal(err)
	}
	if err := p.Settle(h.ctx()); err != nil {
		t.Fatal(err)
	}
	if got, _ := h.pending(a.key); got != 30 {
		t.Fatalf("a holds %d, want 30 (two passes of the unhanded round, one of the next)", got)
	}
}
