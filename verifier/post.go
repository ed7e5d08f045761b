package verifier

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/proofs"
	"github.com/ppstore/ppstore/wire"
)

// runRounds runs the round of each epoch as it starts, until ctx is done.
func (p *Peer) runRounds(ctx context.Context) error {
	for {
		if err := p.RunRound(ctx); err != nil && ctx.Err() == nil {
			p.log.Warn("round failed", "err", err)
		}
		if err := p.RunRepairs(ctx); err != nil && ctx.Err() == nil {
			p.log.Warn("repair failed; retrying next epoch", "err", err)
		}
		next := p.genesis.Add(time.Duration(p.epochAt(p.now())) * p.cfg.Epoch)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Until(next)):
		}
	}
}

// maxParallelMiners bounds the miners challenged at once.
const maxParallelMiners = 32

// RunRound runs the round of the current epoch unless it was judged
// already: it challenges every recorded replica with the epoch's seed,
// judges the responses, records pass or miss per replica, writes the
// round's record for `verifier check`, and pays each pass.
func (p *Peer) RunRound(ctx context.Context) error {
	p.roundMu.Lock()
	defer p.roundMu.Unlock()
	epoch := p.epochAt(p.now())
	last, err := p.store.lastEpoch()
	if err != nil {
		return err
	}
	if epoch <= last {
		return nil
	}
	return p.runRound(ctx, epoch)
}

// RunEpoch runs the round of a given epoch unless an epoch at or after it
// was judged already (for tests, and for an operator catching up). The
// epoch must not be in the future: its seed would be revealed early.
func (p *Peer) RunEpoch(ctx context.Context, epoch uint64) error {
	p.roundMu.Lock()
	defer p.roundMu.Unlock()
	if now := p.epochAt(p.now()); epoch > now {
		return fmt.Errorf("verifier: epoch %d has not started (now %d)", epoch, now)
	}
	last, err := p.store.lastEpoch()
	if err != nil {
		return err
	}
	if epoch <= last {
		return fmt.Errorf("verifier: epoch %d is judged already (last %d)", epoch, last)
	}
	return p.runRound(ctx, epoch)
}

func (p *Peer) runRound(ctx context.Context, epoch uint64) error {
	start := time.Now()
	seed, err := p.chain.Seed(epoch)
	if err != nil {
		return err
	}
	states, err := p.store.replicas()
	if err != nil {
		return err
	}
	byMiner := map[identity.PeerID][]*ReplicaState{}
	for _, r := range states {
		byMiner[r.Miner] = append(byMiner[r.Miner], r)
	}
	addrs, err := p.minerAddrs(ctx)
	if err != nil {
		p.log.Warn("cannot list the miners; every miner is unreachable this round", "err", err)
	}
	rec := &RoundRecord{Anchor: p.chain.Anchor(), Epoch: epoch, Seed: seed, Params: p.cfg.Proofs, Verifier: p.key.ID()}
	miners := make([]identity.PeerID, 0, len(byMiner))
	for m := range byMiner {
		miners = append(miners, m)
	}
	sort.Slice(miners, func(i, j int) bool { return miners[i].String() < miners[j].String() })
	rec.Miners = make([]MinerRound, len(miners))
	var wg sync.WaitGroup
	sem := make(chan struct{}, maxParallelMiners)
	for i, m := range miners {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			rec.Miners[i] = p.challenge(ctx, epoch, seed, m, addrs[m], byMiner[m])
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}

	// Judge, update the states, make them durable with the round's record.
	var passes []PassEvent
	var changed []*ReplicaState
	for i := range rec.Miners {
		mr := &rec.Miners[i]
		round := &proofs.Round{Epoch: epoch, Seed: seed, Deadline: mr.Deadline}
		verdicts, err := judge(round, p.cfg.Proofs, rec.Verifier, mr)
		if err != nil {
			return err
		}
		for j, v := range verdicts {
			mr.Replicas[j].Verdict = v
			st := byMiner[mr.Miner][j]
			p.metrics.verdicts.WithLabelValues(v.String()).Inc()
			if v == VerdictPass {
				st.LastPass, st.Misses = epoch, 0
				if st.RepairTo.IsZero() { // a repair under way goes on (RunRepairs)
					st.Status = StatusProven
				}
				passes = append(passes, PassEvent{Epoch: epoch, Miner: st.Miner, Shard: st.Shard})
			} else {
				st.Misses++
				if st.Status != StatusRepairing {
					st.Status = StatusFailing
					if int(st.Misses) >= p.cfg.MissesToRepair {
						st.Status = StatusRepairing
						p.metrics.repairs.Inc()
						p.log.Warn("replica missed too many rounds: reported for repair", "miner", st.Miner.Short(), "shard", st.Shard, "misses", st.Misses)
					}
				}
			}
			changed = append(changed, st)
		}
	}
	if err := p.writeRound(rec); err != nil {
		return err
	}
	if err := p.store.saveRound(epoch, changed); err != nil {
		return fmt.Errorf("verifier: record round %d: %w", epoch, err)
	}
	p.pay(ctx, epoch, passes) // payment.go
	p.metrics.epoch.Set(float64(epoch))
	p.metrics.replicas.Set(float64(len(states)))
	p.metrics.roundTime.Observe(time.Since(start).Seconds())
	p.log.Info("round judged", "epoch", epoch, "miners", len(miners), "replicas", len(states), "passes", len(passes), "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// challenge asks one miner about its replicas and collects its response.
func (p *Peer) challenge(ctx context.Context, epoch uint64, seed [32]byte, miner identity.PeerID, addr string, reps []*ReplicaState) MinerRound {
	mr := MinerRound{Miner: miner, Replicas: make([]RoundReplica, len(reps))}
	for i, r := range reps {
		mr.Replicas[i] = RoundReplica{Shard: r.Shard, Size: r.Size, PieceSize: r.PieceSize, Layers: r.Layers, CommR: r.CommR}
	}
	sent := time.Now()
	mr.Deadline = proofs.DeadlineFor(sent, len(reps), p.cfg.DeadlineBase, p.cfg.DeadlinePerReplica)
	if addr == "" {
		return mr // not registered: no answer
	}
	// Read until a little after the deadline, so a late answer is recorded
	// as late rather than as silence.
	cctx, cancel := context.WithDeadline(ctx, mr.Deadline.Add(p.cfg.DeadlineBase+time.Second))
	defer cancel()
	for lo := 0; lo < len(reps); lo += wire.MaxPoStShards {
		hi := min(lo+wire.MaxPoStShards, len(reps))
		parts, sig, err := p.ask(cctx, epoch, seed, mr.Deadline, wire.NodeAddr{Peer: miner, Addr: addr}, mr.Replicas[lo:hi])
		if err != nil {
			p.log.Info("no answer to a challenge", "miner", miner.Short(), "epoch", epoch, "err", err)
			mr.Answered, mr.Parts, mr.Streams = false, nil, nil
			return mr
		}
		mr.Parts = append(mr.Parts, parts...)
		mr.Streams = append(mr.Streams, SignedStream{Parts: len(parts), Sig: sig})
	}
	mr.Answered = true
	mr.Received = time.Now()
	p.metrics.responseTime.Observe(mr.Received.Sub(sent).Seconds())
	return mr
}

// ask sends one challenge stream and reads its parts up to the last, then
// the miner's signature of them.
func (p *Peer) ask(ctx context.Context, epoch uint64, seed [32]byte, deadline time.Time, to wire.NodeAddr, reps []RoundReplica) ([][]byte, []byte, error) {
	s, err := p.node.Open(ctx, to)
	if err != nil {
		return nil, nil, err
	}
	defer s.Close()
	if dl, ok := ctx.Deadline(); ok {
		s.SetDeadline(dl)
	}
	ch := &wire.PoStChallenge{Epoch: epoch, Seed: seed, Deadline: uint64(deadline.UnixMilli()), Shards: make([]cid.Cid, len(reps))}
	for i, r := range reps {
		ch.Shards[i] = r.Shard
	}
	if err := s.Send(ch); err != nil {
		return nil, nil, err
	}
	s.CloseWrite()
	var parts [][]byte
	for {
		var part wire.PoStPart
		if err := s.Expect(&part); err != nil {
			return nil, nil, err
		}
		parts = append(parts, bytes.Clone(part.Response)) // the stream reuses its buffer
		if part.Last {
			break
		}
		if len(parts) > len(reps)+1 {
			return nil, nil, errors.New("more response parts than replicas asked")
		}
	}
	var sig wire.PoStSignature
	if err := s.Expect(&sig); err != nil {
		return nil, nil, fmt.Errorf("response without its signature: %w", err)
	}
	return parts, bytes.Clone(sig.Sig), nil
}

// roundFile names the record of epoch.
func (p *Peer) roundFile(epoch uint64) string {
	return filepath.Join(p.cfg.DataDir, "rounds", fmt.Sprintf("%012d.round", epoch))
}

// writeRound writes the round's record durably and deletes the records
// older than KeepEpochs.
func (p *Peer) writeRound(rec *RoundRecord) error {
	path := p.roundFile(rec.Epoch)
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	_, err = f.Write(rec.Append(nil))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("verifier: write round %d: %w", rec.Epoch, err)
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		return err
	}
	for _, e := range entries {
		n, ok := strings.CutSuffix(e.Name(), ".round")
		if !ok {
			continue
		}
		if ep, err := strconv.ParseUint(n, 10, 64); err == nil && ep+uint64(p.cfg.KeepEpochs) <= rec.Epoch {
			os.Remove(filepath.Join(filepath.Dir(path), e.Name()))
		}
	}
	return nil
}

// ReadRound reads the record of a judged round from a verifier's data
// directory (or any copy of its rounds folder).
func ReadRound(dataDir string, epoch uint64) (*RoundRecord, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, "rounds", fmt.Sprintf("%012d.round", epoch)))
	if err != nil {
		return nil, err
	}
	return ParseRoundRecord(b)
}

// Replicas returns the recorded replicas and their states.
func (p *Peer) Replicas() ([]*ReplicaState, error) { return p.store.replicas() }
