package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ppstore/ppstore/config"
	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/indexer"
	"github.com/ppstore/ppstore/miner"
	"github.com/ppstore/ppstore/user"
	"github.com/ppstore/ppstore/verifier"
	"github.com/prometheus/client_golang/prometheus"
)

// repairEpoch is the verifier's epoch in TestRepairWithinThreeEpochs. A
// round waits for the killed miners' dials up to its deadline (deadline
// base 1 s, plus 1 s) before judging, then the repairs copy, seal and prove
// in about a second: 5 s epochs leave the repair a whole epoch of slack
// under a loaded machine.
const repairEpoch = 5 * time.Second

// TestRepairWithinThreeEpochs is the devnet scenario in one
// process over QUIC: 6 miners, a file with 3 replicas; two of the three
// holders of its shard are killed; within 3 epochs the indexer lists three
// proven replicas again (the two new ones copied miner to miner, none on a
// dead miner); then the third original holder is killed too and get still
// returns the file byte for byte.
func TestRepairWithinThreeEpochs(t *testing.T) {
	r := newRegionWith(t, 6, func(cfg any) {
		if mc, ok := cfg.(*miner.Config); ok {
			mc.Proofs = e2eProofs
		}
	})
	vcfg := verifier.Config{DataDir: filepath.Join(r.dir, "verifier"), Region: "test", Bootstrap: []string{config.FormatPeerAddr(r.bootA)},
		Epoch: repairEpoch, DeadlineBase: time.Second, MissesToRepair: 1, Proofs: e2eProofs}
	v, err := verifier.New(vcfg, testLogger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	vp := startProc(t, v)
	t.Cleanup(vp.stop)
	ix := r.idx.svc.(*indexer.Peer)

	c := r.client()
	defer c.Close()
	data := make([]byte, 300<<10) // one shard of two pieces
	rand.Read(data)
	id := put(t, c, data, 3)

	// proven returns the shard's replicas the indexer lists, and fails
	// unless they are three proven ones on live miners.
	var sc cid.Cid
	proven := func(dead map[identity.PeerID]bool) ([]identity.PeerID, error) {
		st, err := c.Stat(context.Background(), id)
		if err != nil {
			return nil, err
		}
		if len(st.Shards) != 1 {
			return nil, fmt.Errorf("%d shards", len(st.Shards))
		}
		sc, _ = cid.Decode(st.Shards[0].CID)
		var out []identity.PeerID
		for _, rs := range st.Shards[0].Replicas {
			p, err := identity.Parse(rs.Miner)
			if err != nil {
				return nil, err
			}
			if dead[p] || rs.Status != "proven" {
				return nil, fmt.Errorf("replica on %s is %s (dead: %v)", p.Short(), rs.Status, dead[p])
			}
			out = append(out, p)
		}
		if len(out) != 3 {
			return nil, fmt.Errorf("%d replicas listed", len(out))
		}
		return out, nil
	}
	var holders []identity.PeerID
	waitFor(t, 60*time.Second, "three proven replicas at the indexer", func() (err error) {
		holders, err = proven(nil)
		return err
	})

	// Kill two of the three holders.
	dead := map[identity.PeerID]bool{holders[0]: true, holders[1]: true}
	for _, h := range holders[:2] {
		r.miners[r.minerIndex(h.String())].stop()
	}
	killed := v.Epoch()
	start := time.Now()
	var now []identity.PeerID
	waitFor(t, 4*repairEpoch+30*time.Second, "three proven replicas again, none on a killed miner", func() (err error) {
		now, err = proven(dead)
		return err
	})
	var last uint64
	for _, h := range now {
		if h == holders[2] {
			continue
		}
		e, err := ix.Store().ProvenEpoch(sc, h)
		if err != nil || e == 0 {
			t.Fatalf("new holder %s: proven epoch %d, %v", h.Short(), e, err)
		}
		last = max(last, e)
	}
	t.Logf("killed in epoch %d; three proven replicas again in epoch %d (%d epochs of %v; %v)",
		killed, last, last-killed, repairEpoch, time.Since(start).Round(100*time.Millisecond))
	if last-killed > 3 {
		t.Errorf("repair took %d epochs (killed in %d, proven in %d); want at most 3", last-killed, killed, last)
	}
	// The verifier records exactly three replicas of the shard, none dead.
	reps, err := v.Replicas()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, rp := range reps {
		if rp.Shard.Equals(sc) {
			n++
			if dead[rp.Miner] {
				t.Errorf("the verifier still records the killed miner %s (%s)", rp.Miner.Short(), verifier.StatusName(rp.Status))
			}
		}
	}
	if n != 3 {
		t.Errorf("the verifier records %d replicas of the shard, want 3", n)
	}

	// stat shows the PoRep epoch of every replica, the new ones included.
	st, err := c.Stat(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CheckProofs(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	for _, rs := range st.Shards[0].Replicas {
		if rs.ProvenEpoch == 0 || rs.Status != "proven" {
			t.Errorf("stat of %s: status %q, proven epoch %d", rs.Miner, rs.Status, rs.ProvenEpoch)
		}
	}

	// Kill the third original holder: the repaired copies serve the file.
	r.miners[r.minerIndex(holders[2].String())].stop()
	if got, _ := get(t, c, id, user.GetOptions{}); !bytes.Equal(got, data) {
		t.Fatal("get after the repair returned other bytes")
	}
}
