package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ppstore/ppstore/discover"
	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/indexer"
	"github.com/ppstore/ppstore/miner"
	"github.com/ppstore/ppstore/shard"
	"github.com/ppstore/ppstore/transport"
	"github.com/ppstore/ppstore/user"
	"github.com/ppstore/ppstore/wire"
)

// diskUsage is the bytes under miner i's shard and temp folders.
func (r *region) diskUsage(i int) int64 {
	var n int64
	for _, sub := range []string{"shards", "tmp"} {
		filepath.WalkDir(filepath.Join(r.mcfgs[i].DataDir, sub), func(_ string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				if info, err := d.Info(); err == nil {
					n += info.Size()
				}
			}
			return nil
		})
	}
	return n
}

// totalDisk is the bytes of the running miners' shard and temp files once
// each has sealed what it stores: sealing rewrites shard files in the
// background, and a measurement taken during it would count a seal's work.
func (r *region) totalDisk() int64 {
	r.t.Helper()
	for i, p := range r.miners {
		if p == nil || p.cancel == nil {
			continue // stopped: its files do not change
		}
		m, ok := p.svc.(*miner.Peer)
		if !ok {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		err := m.SealNow(ctx)
		cancel()
		if err != nil {
			r.t.Fatalf("miner %d: sealing before measuring its disk: %v", i, err)
		}
	}
	return r.rawDisk()
}

// rawDisk is the bytes of every miner's shard and temp files as they are
// now, sealing or not: for a wait on "at least so much" while uploads run.
func (r *region) rawDisk() int64 {
	var n int64
	for i := range r.miners {
		n += r.diskUsage(i)
	}
	return n
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v, %s: %v", d, what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// replicasPerShard fails unless every shard of id has exactly want replicas
// on distinct miners.
func replicasPerShard(t *testing.T, c *user.Client, id cid.Cid, want int) {
	t.Helper()
	st, err := c.Stat(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range st.Shards {
		seen := map[string]bool{}
		for _, rep := range s.Replicas {
			seen[rep.Miner] = true
		}
		if len(seen) != want || len(s.Replicas) != want {
			t.Fatalf("shard %d has %d replicas (%d distinct), want exactly %d", i, len(s.Replicas), len(seen), want)
		}
	}
}

// storedCopies counts the miners whose store holds each shard of id, from
// their disks: what the region really keeps, whatever the index says.
func (r *region) storedCopies(t *testing.T, c *user.Client, id cid.Cid) []int {
	t.Helper()
	st, err := c.Stat(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]int, len(st.Shards))
	for i, s := range st.Shards {
		sc, err := cid.Decode(s.CID)
		if err != nil {
			t.Fatal(err)
		}
		d, err := shard.DigestOf(sc, shard.ShardCodec)
		if err != nil {
			t.Fatal(err)
		}
		h := fmt.Sprintf("%x", d[:])
		for m := range r.miners {
			if _, err := os.Stat(filepath.Join(r.mcfgs[m].DataDir, "shards", h[:2], h+".shard")); err == nil {
				out[i]++
			}
		}
	}
	return out
}

// A repeat put of a stored file sends almost nothing and adds the new owner;
// asking for more replicas adds only the difference.
func TestRepeatPutSendsOnlyWhatIsMissing(t *testing.T) {
	r := newRegion(t, 5)
	alice, bob := r.clientAs("alice"), r.clientAs("bob")
	data := randomBytes(t, 12<<20+777) // 4 shards
	id := put(t, alice, data, 2)
	// Replicas on disk, not bytes: miners seal what they store in the
	// background, which changes a shard file's size while the test runs.
	copies := r.storedCopies(t, alice, id)

	for _, c := range []*user.Client{alice, bob} {
		before := c.Stats().StreamBytesSent
		if got := put(t, c, data, 2); !got.Equals(id) {
			t.Fatalf("repeat put gave %v, want %v", got, id)
		}
		sent := c.Stats().StreamBytesSent - before
		if frac := float64(sent) / float64(len(data)); frac > 0.001 {
			t.Errorf("repeat put sent %d bytes, %.4f of the file; want ≤ 0.1%%", sent, frac)
		}
	}
	if got := r.storedCopies(t, alice, id); !slices.Equal(got, copies) {
		t.Fatalf("repeat puts changed the replicas on the miners' disks from %v to %v per shard", copies, got)
	}
	files, err := bob.List(context.Background())
	if err != nil || len(files) != 1 || !files[0].CID.Equals(id) {
		t.Fatalf("bob's listing %v, %v: want the file he put", files, err)
	}
	replicasPerShard(t, alice, id, 2)

	// Three replicas where two exist: one more upload per shard, not three.
	before := bob.Stats().StreamBytesSent
	put(t, bob, data, 3)
	sent := bob.Stats().StreamBytesSent - before
	if ratio := float64(sent) / float64(len(data)); ratio < 0.99 || ratio > 1.02 {
		t.Errorf("going from 2 to 3 replicas sent %.3f× the file; want one upload (≈1×)", ratio)
	}
	replicasPerShard(t, alice, id, 3)
	for i, n := range r.storedCopies(t, alice, id) {
		if n != 3 {
			t.Errorf("shard %d is on %d miners' disks, want 3", i, n)
		}
	}
}

// Several puts of one file at once, by several owners, leave every shard
// with exactly the replicas asked for.
func TestConcurrentPutsStoreOnce(t *testing.T) {
	r := newRegion(t, 6)
	data := randomBytes(t, 16<<20) // 4 shards
	var (
		wg  sync.WaitGroup
		ids = make([]cid.Cid, 4)
		err = make([]error, 4)
	)
	for i := range ids {
		c := r.clientAs(fmt.Sprint("owner", i))
		wg.Go(func() {
			ids[i], err[i] = c.Put(context.Background(), bytes.NewReader(data), user.PutOptions{Name: "same.bin", Replicas: 3})
		})
	}
	wg.Wait()
	for i := range ids {
		if err[i] != nil {
			t.Fatalf("put %d: %v", i, err[i])
		}
		if !ids[i].Equals(ids[0]) {
			t.Fatalf("put %d gave %v, put 0 %v", i, ids[i], ids[0])
		}
	}
	c := r.clientAs("owner0")
	replicasPerShard(t, c, ids[0], 3)
	for i, n := range r.storedCopies(t, c, ids[0]) {
		if n != 3 {
			t.Errorf("shard %d is on %d miners' disks, want exactly 3", i, n)
		}
	}
}

// blockingReader yields data, then blocks until release is closed.
type blockingReader struct {
	r       io.Reader
	release chan struct{}
}

func (b *blockingReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF {
		<-b.release
	}
	return n, err
}

// shortLeases sets a lease of d on the indexer and every miner.
func shortLeases(d time.Duration) func(cfg any) {
	return func(cfg any) {
		switch c := cfg.(type) {
		case *indexer.Config:
			c.UploadLease = d
		case *miner.Config:
			c.UploadLease = d
		}
	}
}

// interruptedPut stores data's full shards and cancels the put before its
// commit; it returns once the miners hold them.
func interruptedPut(t *testing.T, r *region, c *user.Client, data []byte, baseline int64) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	rd := &blockingReader{r: bytes.NewReader(data), release: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		_, err := c.Put(ctx, rd, user.PutOptions{Replicas: 2})
		done <- err
	}()
	// Every full shard's two replicas are on disk (the last, short shard
	// waits for the end of the input, which never comes).
	want := baseline + 2*int64(len(data)/(4<<20))*(4<<20)
	waitFor(t, 30*time.Second, "the interrupted put's shards reach the miners", func() error {
		if d := r.rawDisk(); d < want { // uploads are under way: nothing to settle
			return fmt.Errorf("%d bytes on the miners' disks, waiting for %d", d, want)
		}
		return nil
	})
	cancel()
	close(rd.release)
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("interrupted put: err = %v, want context.Canceled", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the interrupted put did not return")
	}
}

// An interrupted put's replicas are reclaimed within the lease; a committed
// file's are kept.
func TestInterruptedPutIsReclaimed(t *testing.T) {
	const lease = 3 * time.Second
	r := newRegionWith(t, 4, shortLeases(lease))
	c := r.clientAs("a")
	kept := put(t, c, randomBytes(t, 8<<20), 2)
	baseline := r.totalDisk()

	interruptedPut(t, r, c, randomBytes(t, 8<<20+1), baseline)
	start := time.Now()
	waitFor(t, 3*lease, "the interrupted put's bytes are reclaimed", func() error {
		if d := r.totalDisk(); d != baseline {
			return fmt.Errorf("%d bytes on the miners' disks, %d before the put", d, baseline)
		}
		return nil
	})
	t.Logf("reclaimed %v after the put was cancelled (lease %v)", time.Since(start).Round(10*time.Millisecond), lease)
	got, _ := get(t, c, kept, user.GetOptions{})
	if len(got) != 8<<20 {
		t.Fatal("the committed file was damaged")
	}
}

// A region restarted in the middle keeps what is committed and drops what
// is not.
func TestRestartKeepsCommittedDropsPending(t *testing.T) {
	const lease = 3 * time.Second
	r := newRegionWith(t, 4, shortLeases(lease))
	c := r.clientAs("a")
	data := randomBytes(t, 8<<20)
	kept := put(t, c, data, 2)
	baseline := r.totalDisk()
	interruptedPut(t, r, c, randomBytes(t, 8<<20+1), baseline)

	for i := range r.miners {
		r.miners[i].stop()
	}
	r.idx.stop()
	r.startIndexer()
	for i := range r.miners {
		r.startMiner(i)
	}
	r.waitReady(len(r.miners))
	waitFor(t, 4*lease, "the uncommitted replicas are dropped after the restart", func() error {
		if d := r.totalDisk(); d != baseline {
			return fmt.Errorf("%d bytes on the miners' disks, %d committed", d, baseline)
		}
		return nil
	})
	got, _ := get(t, c, kept, user.GetOptions{})
	if !bytes.Equal(got, data) {
		t.Fatal("the committed file did not survive the restart")
	}
	replicasPerShard(t, c, kept, 2)
}

// minerFree is what the bootstrap lists as free on each miner.
func (r *region) minerFree(t *testing.T) map[identity.PeerID]uint64 {
	t.Helper()
	key, _ := identity.Generate()
	node, err := transport.Listen(transport.Config{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	recs, err := discover.NewClient(node, []wire.NodeAddr{r.bootA}).List(context.Background(), wire.RoleMiner)
	if err != nil {
		t.Fatal(err)
	}
	out := map[identity.PeerID]uint64{}
	for _, rec := range recs {
		out[rec.Peer] = rec.Free
	}
	return out
}

// rm takes the owner's listing; a file two owners share survives one rm; the
// last rm deletes the shards from their miners and the bootstrap shows the
// space free again.
func TestRmReturnsTheSpace(t *testing.T) {
	r := newRegion(t, 4)
	alice, bob := r.clientAs("alice"), r.clientAs("bob")
	empty := r.totalDisk()
	freeBefore := r.minerFree(t)
	shared := randomBytes(t, 8<<20+5)
	id := put(t, alice, shared, 2)
	put(t, bob, shared, 2)
	other := randomBytes(t, 4<<20)
	otherID := put(t, alice, other, 2)
	withBoth := r.totalDisk()

	if _, err := bob.Remove(context.Background(), otherID); !errors.Is(err, wire.ErrNotFound) {
		t.Fatalf("bob removing alice's file: err = %v, want ErrNotFound", err)
	}
	res, err := alice.Remove(context.Background(), id)
	if err != nil || res.FileGone || res.Shards != 0 {
		t.Fatalf("alice's rm of a shared file: %+v, %v; want the file kept for bob", res, err)
	}
	if files, _ := alice.List(context.Background()); len(files) != 1 || !files[0].CID.Equals(otherID) {
		t.Fatalf("alice's listing after rm: %v", files)
	}
	if got, _ := get(t, bob, id, user.GetOptions{}); !bytes.Equal(got, shared) {
		t.Fatal("bob's copy of the shared file is gone after alice's rm")
	}
	if d := r.totalDisk(); d != withBoth {
		t.Fatalf("an rm that freed nothing changed the disks from %d to %d", withBoth, d)
	}

	res, err = bob.Remove(context.Background(), id)
	if err != nil || !res.FileGone || res.Shards != 3 {
		t.Fatalf("bob's rm: %+v, %v; want the file and its 3 shards gone", res, err)
	}
	want := empty + 2*int64(len(other))
	waitFor(t, 20*time.Second, "the removed file's replicas leave the miners", func() error {
		if d := r.totalDisk(); d != want {
			return fmt.Errorf("%d bytes on the disks, want %d", d, want)
		}
		return nil
	})
	if _, err := bob.Stat(context.Background(), id); !errors.Is(err, wire.ErrNotFound) {
		t.Fatalf("stat of a removed file: %v, want ErrNotFound", err)
	}
	if _, err := bob.Remove(context.Background(), id); !errors.Is(err, wire.ErrNotFound) {
		t.Fatalf("second rm: %v, want ErrNotFound", err)
	}
	// The bootstrap lists the space as free again: only the other file's
	// replicas are missing from what was free at the start.
	waitFor(t, 20*time.Second, "the bootstrap shows the space free", func() error {
		var lost uint64
		for p, f := range r.minerFree(t) {
			lost += freeBefore[p] - f
		}
		if lost != uint64(2*len(other)) {
			return fmt.Errorf("bootstrap lists %d bytes less free than at the start, want %d", lost, 2*len(other))
		}
		return nil
	})
	if got, _ := get(t, alice, otherID, user.GetOptions{}); !bytes.Equal(got, other) {
		t.Fatal("the other file was damaged by the rm")
	}
}
