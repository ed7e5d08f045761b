package zkstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble"
	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/rollup"
	"github.com/ppstore/ppstore/wire"
)

// maxHistory bounds a History answer.
const maxHistory = 1000

// toWire gives a rollup error its wire code.
func toWire(err error) error {
	code := wire.CodeInternal
	switch {
	case errors.Is(err, rollup.ErrBadSignature):
		code = wire.CodeBadSignature
	case errors.Is(err, rollup.ErrBadNonce):
		code = wire.CodeBadNonce
	case errors.Is(err, rollup.ErrInsufficientBalance):
		code = wire.CodeInsufficientBalance
	case errors.Is(err, rollup.ErrWrongRegion):
		code = wire.CodeWrongRegion
	case errors.Is(err, rollup.ErrUnknownAccount):
		code = wire.CodeNotFound
	case errors.Is(err, rollup.ErrKeyMismatch):
		code = wire.CodeConflict
	case errors.Is(err, rollup.ErrMalformed):
		code = wire.CodeBadRequest
	case errors.Is(err, rollup.ErrTreeFull):
		code = wire.CodeNoSpace
	default:
		return err
	}
	return &wire.Error{Code: code, Message: err.Error()}
}

func resultLabel(err error) string {
	var we *wire.Error
	if !errors.As(err, &we) {
		return "failed"
	}
	switch we.Code {
	case wire.CodeBadSignature:
		return "bad_signature"
	case wire.CodeBadNonce:
		return "bad_nonce"
	case wire.CodeInsufficientBalance:
		return "insufficient_balance"
	case wire.CodeWrongRegion:
		return "wrong_region"
	}
	return "rejected"
}

func (p *Peer) checkRegion(region string) error {
	if region != p.cfg.Region {
		return wire.Errorf(wire.CodeWrongRegion, "this operator serves region %q, not %q", p.cfg.Region, region)
	}
	return nil
}

func (p *Peer) handleSubmit(_ context.Context, peer identity.PeerID, req *wire.SubmitTransfer) (wire.Message, error) {
	err := p.checkRegion(req.Region)
	var seq uint64
	var root [32]byte
	if err == nil {
		st := rollup.SignedTransfer{Transfer: rollup.Transfer{From: req.From, To: req.To, Amount: req.Amount, Nonce: req.Nonce, ToKey: req.ToKey}, Sig: req.Signature}
		seq, root, err = p.store.Accept(st)
		err = toWire(err)
	}
	p.metrics.transfers.WithLabelValues(resultLabelOK(err)).Inc()
	if err != nil {
		if resultLabel(err) == "failed" {
			p.log.Error("transfer failed", "peer", peer.Short(), "err", err)
		} else {
			p.log.Debug("transfer refused", "peer", peer.Short(), "err", err)
		}
		return nil, err
	}
	p.log.Debug("transfer accepted", "seq", seq, "from", req.From, "to", req.To, "amount", req.Amount)
	if next, cut, _, _ := p.store.counters(); next-cut >= uint64(p.cfg.BatchSize) {
		p.batcher.Wake()
	}
	return &wire.TransferAccepted{Seq: seq, PendingRoot: root}, nil
}

func resultLabelOK(err error) string {
	if err == nil {
		return "ok"
	}
	return resultLabel(err)
}

func (p *Peer) handleGetAccount(_ context.Context, _ identity.PeerID, req *wire.GetAccount) (wire.Message, error) {
	if err := p.checkRegion(req.Region); err != nil {
		return nil, err
	}
	return p.store.AccountState(req.ByKey, req.Index, rollup.PublicKey(req.Key))
}

func (p *Peer) handleStatus(_ context.Context, _ identity.PeerID, _ *wire.GetZkStatus) (wire.Message, error) {
	st, err := p.store.Status()
	if err != nil {
		return nil, err
	}
	st.Region = p.cfg.Region
	return st, nil
}

func (p *Peer) handleHistory(_ context.Context, _ identity.PeerID, req *wire.GetHistory) (wire.Message, error) {
	if err := p.checkRegion(req.Region); err != nil {
		return nil, err
	}
	limit := int(req.Limit)
	if limit <= 0 || limit > maxHistory {
		limit = maxHistory
	}
	return p.store.History(req.Index, limit)
}

// AccountState answers GetAccount from one snapshot of the database.
func (s *Store) AccountState(byKey bool, index uint32, key rollup.PublicKey) (*wire.AccountState, error) {
	snap := s.db.NewSnapshot()
	defer snap.Close()
	out := &wire.AccountState{}
	var err error
	if out.NextFree, err = s.pending.NextFree(snap); err != nil && !errors.Is(err, rollup.ErrTreeFull) {
		return nil, err
	}
	if byKey {
		i, ok, err := s.pending.IndexOf(snap, key)
		if err != nil {
			return nil, err
		}
		if !ok {
			return out, nil // Found false: a transfer to this key opens it at NextFree
		}
		index = i
	}
	a, ok, err := s.pending.Account(snap, index)
	if err != nil {
		return nil, toWire(err)
	}
	out.Found, out.Index = ok, index
	if ok {
		out.Key, out.Balance, out.Nonce = a.Key, a.Balance, a.Nonce
	}
	pa, pok, err := s.proven.Account(snap, index)
	if err != nil {
		return nil, err
	}
	out.ProvenFound = pok
	if pok {
		out.ProvenBalance, out.ProvenNonce = pa.Balance, pa.Nonce
	}
	if out.ProvenRoot, err = s.proven.Root(snap); err != nil {
		return nil, err
	}
	if out.ProvenBatch, err = s.meta(snap, "accepted"); err != nil {
		return nil, err
	}
	if out.Path, err = s.proven.Path(snap, index); err != nil {
		return nil, err
	}
	return out, nil
}

// pendingCount is the number of queued transfers not in an accepted batch.
func (s *Store) pendingCount() uint64 {
	next, _, _, accepted := s.counters()
	return next - 1 - accepted*uint64(s.params.BatchSize)
}

// Status reports the queue and the newest proven batch.
func (s *Store) Status() (*wire.ZkStatus, error) {
	_, _, nextBatch, accepted := s.counters()
	st := &wire.ZkStatus{Depth: uint8(s.params.Depth), BatchSize: uint32(s.params.BatchSize), Pending: s.pendingCount(),
		Batches: nextBatch - 1, ProvenBatch: accepted}
	for n := nextBatch - 1; n >= 1; n-- {
		rec, ok, err := s.batch(s.db, n)
		if err != nil {
			return nil, err
		}
		if ok && rec.State >= wire.BatchProven {
			st.LastBatch, st.LastSize, st.LastProofMs, st.LastState = n, rec.Count, rec.ProofMs, rec.State
			break
		}
	}
	var err error
	if st.PendingRoot, err = s.pending.Root(s.db); err != nil {
		return nil, err
	}
	if st.ProvenRoot, err = s.proven.Root(s.db); err != nil {
		return nil, err
	}
	if accepted > 0 {
		if rec, ok, err := s.batch(s.db, accepted); err == nil && ok {
			st.ChainHeight = rec.Height
		}
	}
	return st, nil
}

// History lists the newest transfers naming index, at most limit.
func (s *Store) History(index uint32, limit int) (*wire.History, error) {
	_, cut, _, _ := s.counters()
	lo := histKey(index, 0)
	hi := histKey(index+1, 0)
	if index == ^uint32(0) {
		hi = []byte{'h' + 1}
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	out := &wire.History{}
	for ok := it.Last(); ok && len(out.Entries) < limit; ok = it.Prev() {
		k := it.Key()
		if len(k) != 13 {
			return nil, fmt.Errorf("zkstore: history key of %d bytes", len(k))
		}
		seq := beU64(k[5:])
		w, err := s.witness(s.db, seq)
		if err != nil {
			return nil, err
		}
		var batch uint64
		if seq < cut {
			batch = (seq-1)/uint64(s.params.BatchSize) + 1
		}
		out.Entries = append(out.Entries, wire.HistoryEntry{Seq: seq, Batch: batch, From: w.Tx.From, To: w.Tx.To, Amount: w.Tx.Amount, Nonce: w.Tx.Nonce})
	}
	return out, it.Error()
}

func beU64(b []byte) uint64 {
	var v uint64
	for _, c := range b[:8] {
		v = v<<8 | uint64(c)
	}
	return v
}
