package zkpay

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/ppstore/ppstore/discover"
	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/internal/pebbledb"
	"github.com/ppstore/ppstore/rollup"
	"github.com/ppstore/ppstore/transport"
	"github.com/ppstore/ppstore/verifier"
	"github.com/ppstore/ppstore/wallet"
	"github.com/ppstore/ppstore/wire"
	"github.com/prometheus/client_golang/prometheus"
)

// Config configures a Payer.
type Config struct {
	// DataDir is the verifier's data directory: the payer's wallet key and
	// binding sit beside its identity key, the ledger in DataDir/payments.
	DataDir string
	// Region is the region whose zkStore pays (transfers are signed for it).
	Region string
	// Payment is the verifier's payment table (price, settlement period).
	Payment verifier.PaymentConfig
	// Operator is the region's zkstore operator; zero: found at the
	// bootstrap through the discover client given to New.
	Operator wire.NodeAddr
	// Timeout bounds one settlement (every call it makes); default 10s. A
	// settlement that runs out of time leaves what it did not pay owed.
	Timeout time.Duration
	// BindingTimeout bounds each call asking a miner for its wallet
	// binding (every paid miner is asked at each settlement, all at once);
	// default a quarter of Timeout, at most Timeout. A miner that does not
	// answer in time is paid into the account of its last verified binding.
	BindingTimeout time.Duration
	// KeepPaidEpochs is how many epochs of paid-pass records ('d') the
	// ledger keeps behind the last epoch handed over, at least
	// Payment.SettleEvery; default DefaultKeepPaidEpochs. Older ones are
	// pruned at each settlement (see the package doc).
	KeepPaidEpochs int
	// MinerAddr finds a miner's address to ask it for its wallet binding;
	// nil: the miners' records at the bootstrap.
	MinerAddr func(ctx context.Context, miner identity.PeerID) (string, error)
}

// Errors of the payer.
var (
	// ErrNoWallet: a miner has no valid wallet binding (none, a bad
	// signature, or one naming another peer); its passes stay owed until it
	// has one.
	ErrNoWallet = errors.New("zkpay: the miner has no valid wallet binding")
	// ErrOutOfFunds: the verifier's account cannot cover a miner's payment;
	// the passes stay owed until the account is funded.
	ErrOutOfFunds = errors.New("zkpay: the verifier's account cannot cover the payment; fund it (its address is in the verifier's log)")
)

// Payer pays miners for their passed proofs through the region's zkStore,
// one transfer per miner per settlement (see the package doc). It
// implements verifier.RoundPayer.
type Payer struct {
	cfg       Config
	log       *slog.Logger
	node      *transport.Node
	disc      *discover.Client
	wallet    *wallet.Wallet
	db        *pebbledb.DB
	metrics   *metrics
	pruneStep int // the most paid records one settlement prunes (whole epochs: one epoch more at most)

	mu sync.Mutex // one settlement at a time
}

var _ verifier.RoundPayer = (*Payer)(nil)

// New opens the ledger and loads (or makes) the verifier's wallet key bound
// to id. node carries the calls to miners and to the operator; disc (may be
// nil when cfg.Operator and cfg.MinerAddr are set) finds them.
func New(cfg Config, id *identity.Key, node *transport.Node, disc *discover.Client, log *slog.Logger, reg prometheus.Registerer) (*Payer, error) {
	cfg.Payment.EnsureDefaults()
	if err := cfg.Payment.Validate(); err != nil {
		return nil, err
	}
	if cfg.Region == "" {
		return nil, errors.New("zkpay: region is required (transfers are signed for one region)")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.BindingTimeout <= 0 {
		cfg.BindingTimeout = cfg.Timeout / 4
	}
	cfg.BindingTimeout = min(cfg.BindingTimeout, cfg.Timeout)
	if cfg.KeepPaidEpochs < 0 {
		return nil, fmt.Errorf("zkpay: keep %d epochs of paid passes: give at least 1 (0: the default, %d)", cfg.KeepPaidEpochs, DefaultKeepPaidEpochs)
	}
	if cfg.KeepPaidEpochs == 0 {
		cfg.KeepPaidEpochs = DefaultKeepPaidEpochs
	}
	cfg.KeepPaidEpochs = max(cfg.KeepPaidEpochs, cfg.Payment.SettleEvery)
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	key, binding, err := wallet.LoadOrCreateKey(cfg.DataDir, id)
	if err != nil {
		return nil, fmt.Errorf("zkpay: the verifier's wallet key: %w", err)
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("zkpay: metrics: %w", err)
	}
	db, err := pebbledb.Open(filepath.Join(cfg.DataDir, "payments"), pebbledb.Options{Name: "verifier payments", Logger: log})
	if err != nil {
		return nil, fmt.Errorf("zkpay: open the payment ledger: %w", err)
	}
	if reg != nil {
		for _, c := range db.Collectors() { // the ledger's disk-full figures
			if err := reg.Register(c); err != nil {
				db.Close()
				return nil, fmt.Errorf("zkpay: metrics: %w", err)
			}
		}
	}
	p := &Payer{cfg: cfg, log: log, node: node, disc: disc, db: db, metrics: m, pruneStep: maxPrunePerSettlement,
		wallet: wallet.New(key, binding, cfg.Region, node, disc, cfg.Operator, nil)}
	if n, err := p.Owed(); err == nil {
		m.owed.Set(float64(n))
	}
	log.Info("paying miners through the zkStore", "account", key.Public().String(), "price_per_proof", cfg.Payment.PricePerProof, "settle_every", cfg.Payment.SettleEvery)
	return p, nil
}

// Address is the verifier's paying account key (fund this address).
func (p *Payer) Address() rollup.PublicKey { return p.wallet.Address() }

// Close closes the ledger. Call it after the verifier's rounds have ended.
func (p *Payer) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.db == nil {
		return nil
	}
	err := p.db.Close()
	p.db = nil
	return err
}

// Watch returns nil when ctx is done, or the ledger's failure once its disk
// stopped taking writes (internal/pebbledb), so that the verifier stops
// rather than judging rounds it cannot pay for. Run it beside the verifier.
func (p *Payer) Watch(ctx context.Context) error {
	p.mu.Lock()
	db := p.db
	p.mu.Unlock()
	if db == nil {
		return nil
	}
	if err := db.Watch(ctx); err != nil {
		return fmt.Errorf("zkpay: the payment ledger: %w", err)
	}
	return nil
}

// Pay records one pass and settles when due (PayRound with one event).
func (p *Payer) Pay(ctx context.Context, ev verifier.PassEvent) error {
	return p.PayRound(ctx, ev.Epoch, []verifier.PassEvent{ev})
}

// PayRound records a round's passes as owed (durably; a pass already owed or
// paid is not recorded again) and, when payment.settle_every epochs have
// passed since the last settlement, settles everything owed. It returns the
// settlement's error (the operator down, ...) after recording: what was not
// paid stays owed for the next settlement.
func (p *Payer) PayRound(ctx context.Context, epoch uint64, passes []verifier.PassEvent) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.db == nil {
		return pebble.ErrClosed
	}
	if err := p.catchUp(epoch); err != nil {
		return err
	}
	if err := p.record(passes); err != nil {
		return err
	}
	if last, ok := p.meta('r'); !ok || epoch > last { // a round handed over late does not move it back
		if err := p.db.Set([]byte{'r'}, binary.BigEndian.AppendUint64(nil, epoch), pebble.Sync); err != nil {
			return err
		}
	}
	if last, ok := p.lastSettled(); ok && epoch < last+uint64(p.cfg.Payment.SettleEvery) {
		p.updateOwed()
		return nil
	}
	err := p.settle(ctx, epoch)
	p.updateOwed()
	return errors.Join(err, p.prune())
}

// Settle pays everything owed now, whatever the settlement period.
func (p *Payer) Settle(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.db == nil {
		return pebble.ErrClosed
	}
	last, _ := p.lastSettled()
	err := p.settle(ctx, last)
	p.updateOwed()
	return errors.Join(err, p.prune())
}

// Owed is the number of passes recorded and not yet paid.
func (p *Payer) Owed() (int, error) {
	it, err := p.db.NewIter(&pebble.IterOptions{LowerBound: []byte{'o'}, UpperBound: []byte{'p'}})
	if err != nil {
		return 0, err
	}
	defer it.Close()
	n := 0
	for it.First(); it.Valid(); it.Next() {
		n++
	}
	return n, it.Error()
}

func (p *Payer) updateOwed() {
	if n, err := p.Owed(); err == nil {
		p.metrics.owed.Set(float64(n))
	}
}

// passKey is the suffix of a pass's 'o' and 'd' keys.
func passKey(ev verifier.PassEvent) []byte {
	pb := ev.Miner.Bytes()
	k := binary.BigEndian.AppendUint64(nil, ev.Epoch)
	k = append(k, byte(len(pb)))
	k = append(k, pb...)
	return append(k, ev.Shard.Bytes()...)
}

// minerOf reads the miner back from a pass key suffix.
func minerOf(suffix []byte) (identity.PeerID, error) {
	if len(suffix) < 9 || len(suffix) < 9+int(suffix[8]) {
		return identity.PeerID{}, errors.New("zkpay: ledger: short pass key")
	}
	return identity.IDFromBytes(suffix[9 : 9+int(suffix[8])])
}

func prefixed(prefix byte, b []byte) []byte { return append([]byte{prefix}, b...) }

func (p *Payer) has(key []byte) (bool, error) {
	_, c, err := p.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	c.Close()
	return true, nil
}

// record writes the passes not yet known as owed, in one synced batch. A
// pass of an epoch below the pruning floor ('p') is not recorded: its paid
// record may have been pruned, so whether it was paid is no longer known.
func (p *Payer) record(passes []verifier.PassEvent) error {
	b := p.db.NewBatch()
	defer b.Close()
	floor, _ := p.meta('p')
	stale := 0
	for _, ev := range passes {
		if !ev.Shard.Defined() || ev.Miner.IsZero() {
			continue
		}
		if ev.Epoch < floor {
			stale++
			continue
		}
		k := passKey(ev)
		owed, err := p.has(prefixed('o', k))
		if err != nil {
			return err
		}
		paid, err := p.has(prefixed('d', k))
		if err != nil {
			return err
		}
		if owed || paid {
			continue
		}
		if err := b.Set(prefixed('o', k), nil, nil); err != nil {
			return err
		}
	}
	if stale > 0 {
		p.metrics.stale.Add(float64(stale))
		p.log.Warn("passes of epochs whose paid records were pruned were handed over: not recorded (a round is paid once, when it is handed over first)",
			"passes", stale, "floor", floor)
	}
	if b.Empty() {
		return nil
	}
	return p.db.Commit(b, pebble.Sync)
}

// catchUpEpochs bounds how far back catchUp reads round records (the
// verifier keeps keep_epochs of them, 64 by default).
const catchUpEpochs = 64

// catchUp records the passes of rounds judged after the last round the
// payer was handed and before epoch, from the verifier's round records
// (rounds/<epoch>.round): a verifier killed after writing a round and
// before handing it over does not lose that round's pay.
func (p *Payer) catchUp(epoch uint64) error {
	last, ok := p.meta('r')
	if !ok || last+1 >= epoch {
		return nil
	}
	from := last + 1
	if epoch > catchUpEpochs && from < epoch-catchUpEpochs {
		from = epoch - catchUpEpochs
	}
	for e := from; e < epoch; e++ {
		rec, err := verifier.ReadRound(p.cfg.DataDir, e)
		if err != nil {
			continue // no round that epoch (none due, or not kept)
		}
		var passes []verifier.PassEvent
		for _, m := range rec.Miners {
			for _, r := range m.Replicas {
				if r.Verdict == verifier.VerdictPass {
					passes = append(passes, verifier.PassEvent{Epoch: e, Miner: m.Miner, Shard: r.Shard})
				}
			}
		}
		if len(passes) > 0 {
			p.log.Info("recording the passes of a round the payer missed", "epoch", e, "passes", len(passes))
		}
		if err := p.record(passes); err != nil {
			return err
		}
	}
	return nil
}

func (p *Payer) lastSettled() (uint64, bool) { return p.meta('s') }

// meta reads a u64 kept under a one-byte key.
func (p *Payer) meta(key byte) (uint64, bool) {
	v, c, err := p.db.Get([]byte{key})
	if err != nil {
		return 0, false
	}
	defer c.Close()
	if len(v) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(v), true
}

// outstanding is a signed transfer recorded before it was submitted, with
// the passes it pays.
type outstanding struct {
	Miner  string   `json:"miner"`
	Amount uint64   `json:"amount"`
	Passes [][]byte `json:"passes"` // pass key suffixes
	Msg    []byte   `json:"msg"`    // the wire.SubmitTransfer body
	nonce  uint64
	msg    wire.SubmitTransfer
}

func (p *Payer) loadOutstanding() (*outstanding, error) {
	it, err := p.db.NewIter(&pebble.IterOptions{LowerBound: []byte{'t'}, UpperBound: []byte{'u'}})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	if !it.First() {
		return nil, it.Error()
	}
	var o outstanding
	if len(it.Key()) != 9 {
		return nil, fmt.Errorf("zkpay: ledger: bad transfer key %x", it.Key())
	}
	o.nonce = binary.BigEndian.Uint64(it.Key()[1:])
	if err := json.Unmarshal(it.Value(), &o); err != nil {
		return nil, fmt.Errorf("zkpay: ledger: transfer %d: %w", o.nonce, err)
	}
	if err := o.msg.Decode(o.Msg); err != nil {
		return nil, fmt.Errorf("zkpay: ledger: transfer %d: %w", o.nonce, err)
	}
	return &o, nil
}

// commitTransfer records o as outstanding and moves its passes from owed to
// paid, in one synced write.
func (p *Payer) commitTransfer(o *outstanding) error {
	v, err := json.Marshal(o)
	if err != nil {
		return err
	}
	b := p.db.NewBatch()
	defer b.Close()
	nonce := binary.BigEndian.AppendUint64(nil, o.nonce)
	b.Set(prefixed('t', nonce), v, nil)
	for _, k := range o.Passes {
		b.Delete(prefixed('o', k), nil)
		b.Set(prefixed('d', k), nonce, nil)
	}
	return p.db.Commit(b, pebble.Sync)
}

// confirm forgets an outstanding transfer the operator accepted.
func (p *Payer) confirm(o *outstanding) error {
	p.metrics.payments.WithLabelValues(resultPaid).Inc()
	p.metrics.units.Add(float64(o.Amount))
	return p.db.Delete(prefixed('t', binary.BigEndian.AppendUint64(nil, o.nonce)), pebble.Sync)
}

// restore undoes commitTransfer for a transfer the operator refused: its
// passes are owed again.
func (p *Payer) restore(o *outstanding) error {
	b := p.db.NewBatch()
	defer b.Close()
	b.Delete(prefixed('t', binary.BigEndian.AppendUint64(nil, o.nonce)), nil)
	for _, k := range o.Passes {
		b.Delete(prefixed('d', k), nil)
		b.Set(prefixed('o', k), nil, nil)
	}
	return p.db.Commit(b, pebble.Sync)
}

// transient reports whether a failed call may succeed later unchanged: the
// operator unreachable, busy or failing, rather than refusing the transfer.
func transient(err error) bool {
	var we *wire.Error
	if errors.As(err, &we) {
		switch we.Code {
		case wire.CodeInternal, wire.CodeUnavailable, wire.CodeDeadline:
			return true
		}
		return false
	}
	return true
}

// settle pays what is owed, one transfer per miner, after resolving the
// transfer a crash or an unreachable operator left outstanding. It stops at
// the first transient failure (the operator down): at most one transfer is
// ever outstanding, so a resubmission needs no nonce bookkeeping.
func (p *Payer) settle(ctx context.Context, epoch uint64) error {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	me, err := p.wallet.Account(ctx)
	if err != nil {
		p.metrics.payments.WithLabelValues(resultOperator).Inc()
		return fmt.Errorf("zkpay: ask the zkstore operator for the verifier's account: %w", err)
	}
	p.metrics.balance.Set(float64(me.Balance))
	o, err := p.loadOutstanding()
	if err != nil {
		return err
	}
	if o != nil {
		if me, err = p.resolve(ctx, me, o); err != nil {
			return err
		}
	}
	owed, err := p.owedByMiner()
	if err != nil {
		return err
	}
	miners := make([]string, 0, len(owed))
	for m := range owed {
		miners = append(miners, m)
	}
	sort.Strings(miners)
	ids := make([]identity.PeerID, len(miners))
	for i, m := range miners {
		ids[i], _ = minerOf(owed[m][0])
	}
	accts, err := p.accounts(ctx, ids)
	if err != nil {
		return err
	}
	var failed []error
	for i, m := range miners {
		passes := owed[m]
		miner := ids[i]
		amount := uint64(len(passes)) * p.cfg.Payment.PricePerProof
		acct, err := accts[miner].acct, accts[miner].err
		if err != nil {
			if errors.Is(err, ErrNoWallet) {
				p.metrics.payments.WithLabelValues(resultNoWallet).Inc()
			} else {
				p.metrics.payments.WithLabelValues(resultUnreachable).Inc()
			}
			p.log.Warn("cannot pay a miner yet: its passes stay owed", "miner", miner.Short(), "passes", len(passes), "err", err)
			failed = append(failed, err)
			continue
		}
		msg, err := p.wallet.Prepare(ctx, me, acct, amount)
		if errors.Is(err, wire.ErrInsufficientBalance) || errors.Is(err, wallet.ErrNoAccount) {
			p.metrics.payments.WithLabelValues(resultOutOfFunds).Inc()
			p.log.Warn("the verifier's account cannot pay a miner: its passes stay owed", "miner", miner.Short(), "amount", amount,
				"balance", me.Balance, "account", p.Address().String())
			failed = append(failed, fmt.Errorf("%w: miner %s is owed %d, the account holds %d", ErrOutOfFunds, miner.Short(), amount, me.Balance))
			continue
		}
		if err != nil {
			p.metrics.payments.WithLabelValues(resultOperator).Inc()
			return fmt.Errorf("zkpay: prepare the payment to miner %s: %w", miner.Short(), err)
		}
		tr := &outstanding{Miner: miner.String(), Amount: amount, Passes: passes, Msg: msg.Append(nil), nonce: msg.Nonce, msg: *msg}
		if err := p.commitTransfer(tr); err != nil {
			return err
		}
		if me, err = p.submit(ctx, me, tr); err != nil {
			return err
		}
	}
	if err := p.db.Set([]byte{'s'}, binary.BigEndian.AppendUint64(nil, epoch), pebble.Sync); err != nil {
		return err
	}
	return errors.Join(failed...)
}

// resolve settles the outstanding transfer o against the account's nonce:
// past it, the operator took it; at it, it is submitted again as signed.
func (p *Payer) resolve(ctx context.Context, me *wire.AccountState, o *outstanding) (*wire.AccountState, error) {
	switch {
	case me.Nonce > o.nonce:
		p.log.Info("an earlier payment was accepted", "miner", o.Miner, "amount", o.Amount, "nonce", o.nonce)
		return me, p.confirm(o)
	case me.Nonce == o.nonce:
		return p.submit(ctx, me, o)
	default: // the operator lost a transfer it acknowledged, or another key spent the nonce
		p.log.Error("the operator's nonce is behind a recorded payment: its passes are owed again", "nonce", me.Nonce, "recorded", o.nonce)
		p.metrics.payments.WithLabelValues(resultRefused).Inc()
		return me, p.restore(o)
	}
}

// submit sends the recorded transfer o and returns the account after it.
func (p *Payer) submit(ctx context.Context, me *wire.AccountState, o *outstanding) (*wire.AccountState, error) {
	sent, err := p.wallet.Submit(ctx, &o.msg)
	if err != nil && transient(err) {
		p.metrics.payments.WithLabelValues(resultOperator).Inc()
		return me, fmt.Errorf("zkpay: submit the payment to miner %s (kept, resubmitted next settlement): %w", o.Miner, err)
	}
	if err != nil {
		p.metrics.payments.WithLabelValues(resultRefused).Inc()
		p.log.Warn("the operator refused a payment: its passes are owed again", "miner", o.Miner, "amount", o.Amount, "err", err)
		if rerr := p.restore(o); rerr != nil {
			return me, rerr
		}
		return p.wallet.Account(ctx)
	}
	p.log.Info("paid a miner for its passed proofs", "miner", o.Miner, "amount", o.Amount, "passes", len(o.Passes), "seq", sent.Seq)
	next := *me
	next.Nonce++
	next.Balance -= o.Amount
	return &next, p.confirm(o)
}

// owedByMiner groups the owed passes by miner (the peer's string).
func (p *Payer) owedByMiner() (map[string][][]byte, error) {
	it, err := p.db.NewIter(&pebble.IterOptions{LowerBound: []byte{'o'}, UpperBound: []byte{'p'}})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	out := map[string][][]byte{}
	for it.First(); it.Valid(); it.Next() {
		k := bytes.Clone(it.Key()[1:])
		m, err := minerOf(k)
		if err != nil {
			return nil, err
		}
		out[m.String()] = append(out[m.String()], k)
	}
	return out, it.Error()
}
