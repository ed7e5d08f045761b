package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/ppstore/ppstore/bootstrap"
	"github.com/ppstore/ppstore/config"
	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/indexer"
	"github.com/ppstore/ppstore/miner"
	"github.com/ppstore/ppstore/proofs"
	"github.com/ppstore/ppstore/user"
	"github.com/ppstore/ppstore/verifier"
	"github.com/prometheus/client_golang/prometheus"
)

// e2eProofs keep sealing in this test to milliseconds per shard.
var e2eProofs = proofs.Params{Rounds: 1, MinSealBlocks: 4096}

// TestProofsInARegion runs real miners and a real verifier: the miners
// seal what they store, prove it (PoRep), pass the rounds (PoSt) and keep
// serving gets from their sealed replicas; a killed miner misses and its
// replica is reported for repair and copied miner to miner to another
// miner, which seals and proves it.
func TestProofsInARegion(t *testing.T) {
	r := &region{t: t, dir: t.TempDir()}
	bcfg := bootstrap.Config{DataDir: filepath.Join(r.dir, "bootstrap"), Region: "test", Listen: "127.0.0.1:0"}
	bcfg.EnsureDefaults()
	b, err := bootstrap.New(bcfg, testLogger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	r.boot, r.bootA = startProc(t, b), b.Addr()
	seed := []string{config.FormatPeerAddr(r.bootA)}
	r.idxCfg = indexer.Config{DataDir: filepath.Join(r.dir, "indexer"), Region: "test", Listen: "127.0.0.1:0", Bootstrap: seed, RefreshInterval: 200 * time.Millisecond}
	r.idxCfg.EnsureDefaults()
	r.startIndexer()
	t.Cleanup(r.close)
	vcfg := verifier.Config{DataDir: filepath.Join(r.dir, "verifier"), Region: "test", Bootstrap: seed,
		Epoch: 1500 * time.Millisecond, DeadlineBase: time.Second, MissesToRepair: 2, Proofs: e2eProofs}
	v, err := verifier.New(vcfg, testLogger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	vp := startProc(t, v)
	t.Cleanup(vp.stop)
	for i := 0; i < 4; i++ {
		mc := miner.Config{DataDir: filepath.Join(r.dir, fmt.Sprintf("miner-%d", i)), Region: "test", Listen: "127.0.0.1:0",
			Bootstrap: seed, Capacity: 1 << 30, Proofs: e2eProofs}
		mc.EnsureDefaults()
		r.mcfgs = append(r.mcfgs, mc)
		r.miners = append(r.miners, nil)
		r.startMiner(i)
	}
	r.waitReady(4)

	c := r.client()
	defer c.Close()
	data := make([]byte, 600<<10)
	rand.Read(data)
	id := put(t, c, data, 3)
	// Every replica sealed, proven, then passed in a round.
	waitFor(t, 60*time.Second, "every replica proven and passed", func() error {
		reps, err := v.Replicas()
		if err != nil {
			return err
		}
		if len(reps) != 3 {
			return fmt.Errorf("%d replicas proven", len(reps))
		}
		for _, rp := range reps {
			if rp.LastPass == 0 {
				return fmt.Errorf("replica of %s not passed yet", rp.Miner.Short())
			}
		}
		return nil
	})
	if got, _ := get(t, c, id, user.GetOptions{}); !bytes.Equal(got, data) {
		t.Fatal("get from sealed replicas returned other bytes")
	}
	proofStates := func() map[string]user.ReplicaStat {
		st, err := c.Stat(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.CheckProofs(context.Background(), st); err != nil {
			t.Fatal(err)
		}
		out := map[string]user.ReplicaStat{}
		for _, s := range st.Shards {
			for _, r := range s.Replicas {
				out[r.Miner] = r
			}
		}
		return out
	}
	for m, r := range proofStates() {
		if r.Proof != "proven" || r.LastPassEpoch == 0 {
			t.Fatalf("stat of miner %s: proof %q, last pass %d", m, r.Proof, r.LastPassEpoch)
		}
	}

	// Kill a holder: its replica misses and is reported for repair, then
	// copied miner to miner to the fourth miner, which seals and proves it.
	states := proofStates()
	var dead identity.PeerID
	for i, m := range r.miners {
		if _, holds := states[m.svc.Addr().Peer.String()]; holds {
			dead = m.svc.Addr().Peer
			r.miners[i].stop()
			break
		}
	}
	waitFor(t, 90*time.Second, "three proven replicas again, none on the dead miner", func() error {
		reps, err := v.Replicas()
		if err != nil {
			return err
		}
		proven := 0
		for _, rp := range reps {
			if rp.Miner == dead {
				return fmt.Errorf("the dead miner's replica is %s after %d misses", verifier.StatusName(rp.Status), rp.Misses)
			}
			if rp.Status == verifier.StatusProven {
				proven++
			}
		}
		if len(reps) != 3 || proven != 3 {
			return fmt.Errorf("%d replicas recorded, %d proven", len(reps), proven)
		}
		return nil
	})
}
