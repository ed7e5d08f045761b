package zkstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/ppstore/ppstore/internal/pebbledb"
	"github.com/ppstore/ppstore/rollup"
	"github.com/ppstore/ppstore/wire"
)

// Keys of the operator's pebble database (besides the two trees, under
// prefixes 'P' and 'V', see rollup.State):
//
//	'q' seq u64                  → rollup.TxWitness of the transfer queued as seq
//	'h' index u32 | seq u64      → (empty) seq names account index
//	'b' batch u64                → batch record (encodeBatch)
//	'm' name                     → counter u64: "seq" next seq, "cut" first seq in
//	                               no batch, "batch" next batch number, "accepted"
//	                               last batch the chain accepted, "genesis" 1 once
//	                               the genesis accounts are written; "circuit",
//	                               "depth" and "batch_size" the rollup.Params and
//	                               rollup.CircuitVersion the database was made for
//
// Seqs and batch numbers start at 1. Batch n holds seqs (n-1)·B+1 .. n·B: a
// batch is always full, the operator pads it with zero transfers from its own
// account.
const (
	prefixPending = 'P'
	prefixProven  = 'V'
)

// batchRecord is one batch's progress.
type batchRecord struct {
	Number  uint64
	State   uint8 // wire.BatchCut, BatchProven, BatchAccepted
	First   uint64
	Count   uint32
	Prev    [32]byte
	Next    [32]byte
	ProofMs uint64
	Height  uint64
	Proof   []byte
	Data    []byte
}

func encodeBatch(r batchRecord) []byte {
	e := wire.Enc{}
	e.U8(r.State)
	e.U64(r.First)
	e.U32(r.Count)
	e.Digest(r.Prev)
	e.Digest(r.Next)
	e.U64(r.ProofMs)
	e.U64(r.Height)
	e.Bytes(r.Proof)
	e.Bytes(r.Data)
	return e.B
}

func decodeBatch(n uint64, b []byte) (batchRecord, error) {
	d := wire.NewDec(b)
	r := batchRecord{Number: n, State: d.U8(), First: d.U64(), Count: d.U32(), Prev: d.Digest(), Next: d.Digest(),
		ProofMs: d.U64(), Height: d.U64()}
	r.Proof = append([]byte(nil), d.Bytes()...)
	r.Data = append([]byte(nil), d.Bytes()...)
	if err := d.Finish(); err != nil {
		return r, fmt.Errorf("zkstore: batch record %d: %w", n, err)
	}
	return r, nil
}

func u64key(p byte, v uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{p}, v)
}

func histKey(index uint32, seq uint64) []byte {
	k := binary.BigEndian.AppendUint32([]byte{'h'}, index)
	return binary.BigEndian.AppendUint64(k, seq)
}

func metaKey(name string) []byte { return append([]byte{'m'}, name...) }

// Store is the operator's durable state: the pending tree (every accepted
// transfer applied), the proven tree (every batch the chain accepted), the
// queue of transfers with their witnesses and the batch records. A transfer
// is acknowledged only after one synced pebble batch holds its queue entry and
// its effect on the pending tree, so an acknowledged transfer survives a crash
// and is applied exactly once.
type Store struct {
	db      *pebbledb.DB
	params  rollup.Params
	tag     [32]byte
	pending *rollup.State
	proven  *rollup.State
	op      *rollup.PrivateKey

	mu        sync.Mutex // serializes writes to the pending tree, queue and counters
	nextSeq   uint64
	cutSeq    uint64
	nextBatch uint64
	accepted  uint64
	oldest    time.Time // arrival of the oldest transfer in no batch (zero: none)
}

// OpenStore opens (or creates) the database at dir. On a new database it
// writes the genesis: the operator's account at index 0 with faucet units.
func OpenStore(dir string, params rollup.Params, region string, op *rollup.PrivateKey, faucet uint64) (*Store, error) {
	db, err := pebbledb.Open(dir, pebbledb.Options{Name: "zkstore"})
	if err != nil {
		return nil, fmt.Errorf("zkstore: %w", err)
	}
	s := &Store{db: db, params: params, tag: rollup.RegionTag(region),
		pending: rollup.NewState(prefixPending, params.Depth), proven: rollup.NewState(prefixProven, params.Depth), op: op}
	if err := s.load(faucet); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) meta(r pebble.Reader, name string) (uint64, error) {
	v, closer, err := r.Get(metaKey(name))
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer closer.Close()
	if len(v) != 8 {
		return 0, fmt.Errorf("zkstore: counter %s is %d bytes", name, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

func setMeta(b *pebble.Batch, name string, v uint64) error {
	return b.Set(metaKey(name), binary.BigEndian.AppendUint64(nil, v), nil)
}

func (s *Store) load(faucet uint64) error {
	g, err := s.meta(s.db, "genesis")
	if err != nil {
		return err
	}
	if g == 0 {
		b := s.db.NewIndexedBatch()
		defer b.Close()
		genesis := []rollup.Account{{Index: 0, Key: s.op.Public(), Balance: faucet}}
		if err := s.pending.Genesis(b, genesis); err != nil {
			return err
		}
		if err := s.proven.Genesis(b, genesis); err != nil {
			return err
		}
		for name, v := range map[string]uint64{"genesis": 1, "seq": 1, "cut": 1, "batch": 1, "faucet": faucet,
			"circuit": rollup.CircuitVersion, "depth": uint64(s.params.Depth), "batch_size": uint64(s.params.BatchSize)} {
			if err := setMeta(b, name, v); err != nil {
				return err
			}
		}
		if err := s.db.Commit(b, pebble.Sync); err != nil {
			return err
		}
	} else {
		if err := s.checkMade(); err != nil {
			return err
		}
		// The operator's key must be the one the genesis named.
		a, ok, err := s.pending.Account(s.db, 0)
		if err != nil {
			return err
		}
		if !ok || a.Key != s.op.Public() {
			return errors.New("zkstore: the operator account key does not match account 0 of this database; restore the key file that created it")
		}
	}
	for name, p := range map[string]*uint64{"seq": &s.nextSeq, "cut": &s.cutSeq, "batch": &s.nextBatch, "accepted": &s.accepted} {
		if *p, err = s.meta(s.db, name); err != nil {
			return err
		}
	}
	if s.nextSeq > s.cutSeq {
		s.oldest = time.Now()
	}
	return nil
}

// ErrIncompatible: the database was made for another circuit version, tree
// depth or batch size than the operator's, so its tree and queued witnesses
// cannot be proven with this circuit.
var ErrIncompatible = errors.New("zkstore: the data directory was made for another rollup circuit or parameters")

// checkMade refuses a database made for other parameters or another circuit
// version (one made before versions were recorded reads as version 0).
func (s *Store) checkMade() error {
	for _, m := range []struct {
		name string
		want uint64
		what string
	}{
		{"circuit", rollup.CircuitVersion, "rollup circuit version"},
		{"depth", uint64(s.params.Depth), "tree depth"},
		{"batch_size", uint64(s.params.BatchSize), "batch size"},
	} {
		got, err := s.meta(s.db, m.name)
		if err != nil {
			return err
		}
		if got != m.want {
			return fmt.Errorf("%w: it holds a %s of %d, this operator uses %d; start the region from a new data directory (its state cannot be proven by this circuit), or run the operator with the parameters it was made for", ErrIncompatible, m.what, got, m.want)
		}
	}
	return nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// GenesisRoot is the root both trees start from, the root the chain must hold
// for the region before the first batch.
func (s *Store) GenesisRoot() ([32]byte, error) {
	return rollup.GenesisRoot(s.params.Depth, []rollup.Account{{Index: 0, Key: s.op.Public(), Balance: s.genesisBalance()}})
}

func (s *Store) genesisBalance() uint64 {
	// What account 0 held at genesis, kept under its own counter.
	v, _ := s.meta(s.db, "faucet")
	return v
}

// Accept checks a signed transfer against the pending tree, queues it with its
// witness and applies it, durably, and returns its seq and the pending root.
// Errors wrap the rollup sentinels (bad signature, nonce, balance, key).
func (s *Store) Accept(st rollup.SignedTransfer) (uint64, [32]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.db.NewIndexedBatch()
	defer b.Close()
	seq, err := s.applyLocked(b, st)
	if err != nil {
		return 0, [32]byte{}, err
	}
	root, err := s.pending.Root(b)
	if err != nil {
		return 0, root, err
	}
	if err := s.db.Commit(b, pebble.Sync); err != nil {
		return 0, root, fmt.Errorf("zkstore: commit transfer: %w", err)
	}
	s.nextSeq = seq + 1
	if s.oldest.IsZero() {
		s.oldest = time.Now()
	}
	return seq, root, nil
}

// applyLocked applies st to the pending tree in b and queues it as the next
// seq (not yet committed; s.nextSeq unchanged).
func (s *Store) applyLocked(b *pebble.Batch, st rollup.SignedTransfer) (uint64, error) {
	w, err := s.pending.Apply(b, s.tag, st)
	if err != nil {
		return 0, err
	}
	seq, err := s.meta(b, "seq")
	if err != nil {
		return 0, err
	}
	wb, _ := w.MarshalBinary()
	if err := b.Set(u64key('q', seq), wb, nil); err != nil {
		return 0, err
	}
	if err := b.Set(histKey(st.From, seq), nil, nil); err != nil {
		return 0, err
	}
	if st.To != st.From {
		if err := b.Set(histKey(st.To, seq), nil, nil); err != nil {
			return 0, err
		}
	}
	return seq, setMeta(b, "seq", seq+1)
}

// Cut seals every full batch of queued transfers and, when force is set or the
// oldest transfer outside a batch has waited maxWait, pads the last partial
// batch with zero transfers from the operator's account and seals it too. It
// returns the number of batches sealed.
func (s *Store) Cut(force bool, maxWait time.Duration) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	B := uint64(s.params.BatchSize)
	uncut := s.nextSeq - s.cutSeq
	if uncut == 0 {
		return 0, nil
	}
	b := s.db.NewIndexedBatch()
	defer b.Close()
	next := s.nextSeq
	if rem := uncut % B; rem != 0 {
		if !force && time.Since(s.oldest) < maxWait {
			uncut -= rem
		} else {
			for i := uint64(0); i < B-rem; i++ {
				op, ok, err := s.pending.Account(b, 0)
				if err != nil || !ok {
					return 0, fmt.Errorf("zkstore: operator account: %v", err)
				}
				st, err := rollup.Sign(s.op, s.tag, rollup.Transfer{From: 0, To: 0, Amount: 0, Nonce: op.Nonce, ToKey: op.Key})
				if err != nil {
					return 0, err
				}
				if _, err := s.applyLocked(b, st); err != nil {
					return 0, fmt.Errorf("zkstore: padding transfer: %w", err)
				}
				next++
			}
			uncut += B - rem
		}
	}
	n := uncut / B
	if n == 0 {
		return 0, nil
	}
	cut, batch := s.cutSeq, s.nextBatch
	for i := uint64(0); i < n; i++ {
		first, err := s.witness(b, cut)
		if err != nil {
			return 0, err
		}
		last, err := s.witness(b, cut+B-1)
		if err != nil {
			return 0, err
		}
		rec := batchRecord{Number: batch, State: wire.BatchCut, First: cut, Count: uint32(B), Prev: first.RootBefore, Next: last.RootAfter}
		if err := b.Set(u64key('b', batch), encodeBatch(rec), nil); err != nil {
			return 0, err
		}
		cut += B
		batch++
	}
	if err := setMeta(b, "cut", cut); err != nil {
		return 0, err
	}
	if err := setMeta(b, "batch", batch); err != nil {
		return 0, err
	}
	if err := s.db.Commit(b, pebble.Sync); err != nil {
		return 0, fmt.Errorf("zkstore: commit batch cut: %w", err)
	}
	s.nextSeq, s.cutSeq, s.nextBatch = next, cut, batch
	if s.nextSeq == s.cutSeq {
		s.oldest = time.Time{}
	}
	return int(n), nil
}

func (s *Store) witness(r pebble.Reader, seq uint64) (rollup.TxWitness, error) {
	v, closer, err := r.Get(u64key('q', seq))
	if err != nil {
		return rollup.TxWitness{}, fmt.Errorf("zkstore: queued transfer %d: %w", seq, err)
	}
	defer closer.Close()
	return rollup.UnmarshalWitness(s.params.Depth, v)
}

// Batch reads batch record n.
func (s *Store) batch(r pebble.Reader, n uint64) (batchRecord, bool, error) {
	v, closer, err := r.Get(u64key('b', n))
	if errors.Is(err, pebble.ErrNotFound) {
		return batchRecord{}, false, nil
	}
	if err != nil {
		return batchRecord{}, false, err
	}
	defer closer.Close()
	rec, err := decodeBatch(n, v)
	return rec, err == nil, err
}

// Witnesses returns the witnesses of batch rec, in order.
func (s *Store) witnesses(rec batchRecord) ([]rollup.TxWitness, error) {
	ws := make([]rollup.TxWitness, rec.Count)
	for i := range ws {
		w, err := s.witness(s.db, rec.First+uint64(i))
		if err != nil {
			return nil, err
		}
		ws[i] = w
	}
	return ws, nil
}

// putBatch overwrites a batch record (proof stored, state changed).
func (s *Store) putBatch(rec batchRecord) error {
	return s.db.Set(u64key('b', rec.Number), encodeBatch(rec), pebble.Sync)
}

// markAccepted records that the chain accepted batch rec at height: it applies
// the batch's transfers to the proven tree and checks the result is the
// batch's root, all in one synced batch.
func (s *Store) markAccepted(rec batchRecord, height uint64) error {
	ws, err := s.witnesses(rec)
	if err != nil {
		return err
	}
	b := s.db.NewIndexedBatch()
	defer b.Close()
	for i, w := range ws {
		if _, err := s.proven.Apply(b, s.tag, w.Tx); err != nil {
			return fmt.Errorf("zkstore: replaying transfer %d of batch %d on the proven tree: %w", i, rec.Number, err)
		}
	}
	root, err := s.proven.Root(b)
	if err != nil {
		return err
	}
	if root != rec.Next {
		return fmt.Errorf("zkstore: proven tree after batch %d has root %x, the batch says %x", rec.Number, root[:8], rec.Next[:8])
	}
	rec.State, rec.Height = wire.BatchAccepted, height
	if err := b.Set(u64key('b', rec.Number), encodeBatch(rec), nil); err != nil {
		return err
	}
	if err := setMeta(b, "accepted", rec.Number); err != nil {
		return err
	}
	if err := s.db.Commit(b, pebble.Sync); err != nil {
		return err
	}
	s.mu.Lock()
	s.accepted = rec.Number
	s.mu.Unlock()
	return nil
}

// counters returns the in-memory counters.
func (s *Store) counters() (nextSeq, cutSeq, nextBatch, accepted uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nextSeq, s.cutSeq, s.nextBatch, s.accepted
}
