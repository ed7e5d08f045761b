package miner

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/ipfs/go-cid"
	"github.com/ppstore/ppstore/discover"
	"github.com/ppstore/ppstore/proofs"
	"github.com/ppstore/ppstore/shard"
	"github.com/ppstore/ppstore/transport"
	"github.com/ppstore/ppstore/wire"
)

// The miner's side of the proofs: after sealing a shard it proves the
// replica to the region's verifier (PoRep, see wire/proofs.go) and records
// the epoch it was proven in; it answers each round's PoStChallenge from
// its sealed replicas. Key:
//
//	v/<shard CID bytes>  →  epoch proven (8)
var (
	provenPrefix = []byte("v/")
	provenEnd    = []byte("v0")
)

func provenKey(c cid.Cid) []byte { return append(slices.Clip(provenPrefix), c.Bytes()...) }

// prover proves sealed replicas to the verifier.
type prover struct {
	p  *Peer
	mu sync.Mutex
	// verifier finds the verifier (the bootstrap's record; tests replace
	// it); call findVerifier.
	verifier func(ctx context.Context) (wire.NodeAddr, error)
	proven   map[shard.Digest]uint64
	// early counts the PoReps in a row refused because the shard was not
	// committed yet (the put's commit follows its uploads): they are
	// retried after 0.5 s, 1 s, 2 s, ... instead of proveRetry.
	early int
}

// earlyRetry is the first wait before proving again a replica whose shard
// was not committed yet.
const earlyRetry = 500 * time.Millisecond

// findVerifier returns the region's verifier.
func (pr *prover) findVerifier(ctx context.Context) (wire.NodeAddr, error) {
	pr.mu.Lock()
	find := pr.verifier
	pr.mu.Unlock()
	return find(ctx)
}

func newProver(p *Peer) (*prover, error) {
	pr := &prover{p: p, proven: map[shard.Digest]uint64{}}
	seeds, _ := discover.ParseSeeds(p.cfg.Bootstrap) // checked by Validate
	if len(seeds) > 0 {
		client := discover.NewClient(p.node, seeds)
		pr.verifier = func(ctx context.Context) (wire.NodeAddr, error) { return client.Find(ctx, wire.RoleVerifier) }
	} else {
		pr.verifier = func(context.Context) (wire.NodeAddr, error) {
			return wire.NodeAddr{}, wire.Errorf(wire.CodeUnavailable, "no bootstrap configured: cannot find a verifier")
		}
	}
	it, err := p.store.db.NewIter(&pebble.IterOptions{LowerBound: provenPrefix, UpperBound: provenEnd})
	if err != nil {
		return nil, err
	}
	for it.First(); it.Valid(); it.Next() {
		c, err := cid.Cast(it.Key()[len(provenPrefix):])
		var root shard.Digest
		if err == nil {
			root, err = shard.DigestOf(c, shard.ShardCodec)
		}
		if err != nil || len(it.Value()) != 8 {
			it.Close()
			return nil, fmt.Errorf("%w: proven key %x", errBadRecord, it.Key())
		}
		pr.proven[root] = binary.BigEndian.Uint64(it.Value())
	}
	return pr, it.Close()
}

// provenEpoch returns the epoch a shard's replica was proven in (0: not yet).
func (pr *prover) provenEpoch(root shard.Digest) uint64 {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	return pr.proven[root]
}

// RunOnce proves every sealed replica not proven yet.
func (pr *prover) RunOnce(ctx context.Context) error {
	sl := pr.p.sealer
	sl.mu.Lock()
	var todo []shard.Digest
	for root, si := range sl.sealed {
		if si.state == sealDone {
			todo = append(todo, root)
		}
	}
	sl.mu.Unlock()
	todo = slices.DeleteFunc(todo, func(r shard.Digest) bool { return pr.provenEpoch(r) != 0 })
	if len(todo) == 0 {
		return nil
	}
	to, err := pr.findVerifier(ctx)
	if err != nil {
		return err
	}
	var errs []error
	early := false
	for _, root := range todo {
		if err := pr.prove(ctx, to, root); err != nil {
			if errors.Is(err, wire.ErrNotCommitted) {
				early = true // not an error: the commit is on its way
				continue
			}
			errs = append(errs, err)
		}
	}
	pr.mu.Lock()
	if early {
		wait := earlyRetry << min(pr.early, 4)
		pr.early++
		if wait < proveRetry {
			time.AfterFunc(wait, pr.p.sealer.notify) // a wake-up of the sealing chore, which owns the work
		}
	} else {
		pr.early = 0
	}
	pr.mu.Unlock()
	return errors.Join(errs...)
}

// porepTimeout bounds one PoRep exchange.
const porepTimeout = time.Minute

// prove runs one PoRep with the verifier.
func (pr *prover) prove(ctx context.Context, to wire.NodeAddr, root shard.Digest) error {
	p := pr.p
	rec, si := p.store.get(root), p.sealer.info(root)
	if rec == nil || si == nil {
		return nil
	}
	c := shard.ShardCID(root)
	tree, err := p.sealer.tree(c)
	if err != nil {
		return err
	}
	f, err := os.Open(p.store.shardPath(root))
	if err != nil {
		return fmt.Errorf("miner: prove %v: %w", c, err)
	}
	defer f.Close()
	rep := p.sealer.replica(root, rec, si)
	ctx, cancel := context.WithTimeout(ctx, porepTimeout)
	defer cancel()
	s, err := p.node.Open(ctx, to)
	if err != nil {
		return err
	}
	defer s.Close()
	s.SetDeadline(time.Now().Add(porepTimeout))
	if err := s.Send(&wire.SealCommit{Shard: c, Size: uint64(rec.size), PieceSize: uint32(rec.pieceSize), Layers: uint32(si.layers), CommR: si.commR}); err != nil {
		return err
	}
	var ch wire.PoRepChallenge
	if err := s.Expect(&ch); err != nil {
		return fmt.Errorf("miner: PoRep of %v: %w", c, err)
	}
	proof, err := proofs.ProvePoRep(rep, tree, ch.Seed, p.cfg.Proofs, rec.pieces, replicaReader(f, rec.size, si.tail))
	if err != nil {
		return err
	}
	if len(proof.Openings) != int(ch.Parts) {
		return fmt.Errorf("miner: PoRep of %v: the verifier expects %d openings, the proof has %d (proofs parameters differ)", c, ch.Parts, len(proof.Openings))
	}
	for _, o := range proof.Openings {
		one := proofs.PoRepProof{Openings: []proofs.PoRepOpening{o}}
		if err := s.Send(&wire.PoRepPart{Proof: one.Append(nil)}); err != nil {
			return err
		}
	}
	s.CloseWrite()
	var res wire.PoRepResult
	if err := s.Expect(&res); err != nil {
		return fmt.Errorf("miner: PoRep of %v: %w", c, err)
	}
	if err := p.store.db.Set(provenKey(c), binary.BigEndian.AppendUint64(nil, res.Epoch), pebble.Sync); err != nil {
		return p.store.ioError("record the proof of", c, err)
	}
	pr.mu.Lock()
	pr.proven[root] = res.Epoch
	pr.mu.Unlock()
	p.log.Info("replica proven", "shard", c, "epoch", res.Epoch)
	return nil
}

// tree loads a sealed replica's cached tree.
func (sl *sealer) tree(c cid.Cid) (*proofs.Tree, error) {
	v, closer, err := sl.p.store.db.Get(treeKey(c))
	if err != nil {
		return nil, fmt.Errorf("miner: replica tree of %v: %w", c, err)
	}
	defer closer.Close()
	return proofs.ParseTree(v)
}

// replica describes this miner's replica of a shard.
func (sl *sealer) replica(root shard.Digest, rec *record, si *sealInfo) *proofs.Replica {
	return &proofs.Replica{Miner: sl.p.key.ID().Bytes(), CommD: root, Size: rec.size, PieceSize: rec.pieceSize, Layers: si.layers, CommR: si.commR}
}

// postPartProofs is how many replica proofs go in one PoStPart (about 7
// KiB each at the default parameters).
const postPartProofs = 64

// handlePoStChallenge answers a round for the shards the verifier names:
// every one this miner holds sealed gets its proof; the others are left
// out (the verifier records them as missing). The parts end with the
// miner's signature of them (wire.PoStSignature).
func (p *Peer) handlePoStChallenge(ctx context.Context, s *transport.Stream, m wire.Message) error {
	ch, ok := m.(*wire.PoStChallenge)
	if !ok {
		return wire.Errorf(wire.CodeBadRequest, "unexpected %v", m.Type())
	}
	round := &proofs.Round{Epoch: ch.Epoch, Seed: ch.Seed}
	var held []proofs.Held
	var sent [][]byte // the parts, signed at the end
	var files []*os.File
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	send := func(last bool) error {
		resp, err := proofs.ProvePoSt(round, p.cfg.Proofs, held)
		if err != nil {
			return wire.Errorf(wire.CodeInternal, "%s: PoSt: %v", p.short, err)
		}
		held = held[:0]
		part := resp.Append(nil)
		sent = append(sent, part)
		return s.Send(&wire.PoStPart{Last: last, Response: part})
	}
	for _, c := range ch.Shards {
		root, err := shard.DigestOf(c, shard.ShardCodec)
		if err != nil {
			continue
		}
		rec := p.store.get(root)
		si := p.sealer.info(root)
		if rec == nil || si == nil || si.state != sealDone {
			continue
		}
		tree, err := p.sealer.tree(c)
		if err != nil {
			p.log.Error("cannot load a replica tree", "shard", c, "err", err)
			continue
		}
		f, err := os.Open(p.store.shardPath(root))
		if err != nil {
			p.log.Error("cannot open a sealed replica", "shard", c, "err", err)
			continue
		}
		files = append(files, f)
		held = append(held, proofs.Held{Replica: p.sealer.replica(root, rec, si), Tree: tree, Read: replicaReader(f, rec.size, si.tail)})
		if len(held) == postPartProofs {
			if err := send(false); err != nil {
				return err
			}
		}
	}
	if err := send(true); err != nil {
		return err
	}
	// The response is ours: signed over the round, the verifier asking and
	// the parts (wire.SignPoSt), so it cannot be forged or reused.
	return s.Send(&wire.PoStSignature{Sig: wire.SignPoSt(p.key, ch.Epoch, ch.Seed, s.Peer(), sent)})
}
