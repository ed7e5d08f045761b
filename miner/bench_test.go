package miner

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ppstore/ppstore/shard"
	"github.com/ppstore/ppstore/wire"
)

// BenchmarkPut uploads 64 MiB in 4 MiB shards (256 KiB pieces), `par`
// uploads at a time, to three miners in one process, with 1 and with 3
// replicas. All miners share this machine's cores, so unpaced, every byte
// costs about three times the CPU with 3 replicas. With the client paced like
// a link of a given speed (the usual bottleneck: a user's uplink), the
// miners have CPU to spare, as on separate machines, and the chain should
// cost little more than one piece's transfer per hop.
func BenchmarkPut(b *testing.B) {
	const total, shardSize, pieceSize = 64 << 20, 4 << 20, 256 << 10
	ms := []*testMiner{startMiner(b, "", nil), startMiner(b, "", nil), startMiner(b, "", nil)}
	cli := newClient(b)
	shards := make([]*shard.Shard, total/shardSize)
	for i := range shards {
		shards[i] = makeShard(b, shardSize, pieceSize)
	}
	for _, c := range []struct {
		par  int
		rate float64 // bytes per second of the client's link
	}{{1, 0}, {4, 0}, {4, 100e6}} {
		par := c.par
		for _, replicas := range []int{1, 3} {
			name := fmt.Sprintf("par=%d/replicas=%d", par, replicas)
			if c.rate > 0 {
				name = fmt.Sprintf("par=%d/link=%.0fMBps/replicas=%d", par, c.rate/1e6, replicas)
			}
			b.Run(name, func(b *testing.B) {
				b.SetBytes(total)
				for range b.N {
					b.StopTimer()
					for _, m := range ms { // fresh stores: a stored shard is not rewritten
						m.store.mu.Lock()
						m.store.shards = map[shard.Digest]*record{}
						m.store.used = 0
						m.store.mu.Unlock()
					}
					b.StartTimer()
					var wg sync.WaitGroup
					sem := make(chan struct{}, par)
					for i, sh := range shards {
						chain := make([]wire.NodeAddr, replicas)
						for j := range chain {
							chain[j] = ms[(i+j)%len(ms)].Addr()
						}
						sem <- struct{}{}
						wg.Go(func() {
							defer func() { <-sem }()
							o := defaultPut(pieceSize)
							o.rate = c.rate / float64(par)
							res, err := put(context.Background(), cli, chain[0], sh, chain[1:], o)
							if err != nil || len(res.Receipts) != replicas {
								b.Errorf("put: %v %+v", err, res)
							}
						})
					}
					wg.Wait()
				}
			})
		}
	}
}

// cpuTime returns this process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkGetSealed fetches the same 32 MiB (8 shards of 4 MiB, 256 KiB
// pieces) from a miner that keeps them unsealed and from one that keeps
// only sealed replicas (default proofs parameters), alternating in one run,
// in runs of 4 pieces with 4 requests in flight as the client does. It
// reports the ratio sealed/plain of the time per get.
func BenchmarkGetSealed(b *testing.B) {
	const shards, shardSize, pieceSize = 8, 4 << 20, 256 << 10
	plain := startMiner(b, "", nil)
	sealed := startMiner(b, "", nil)
	cli := newClient(b)
	var shs []*shard.Shard
	for range shards {
		sh := makeShard(b, shardSize, pieceSize)
		shs = append(shs, sh)
		for _, m := range []*testMiner{plain, sealed} {
			if _, err := put(context.Background(), cli, m.Addr(), sh, nil, defaultPut(pieceSize)); err != nil {
				b.Fatal(err)
			}
		}
	}
	var wg sync.WaitGroup
	for _, sh := range shs { // seal on every core
		wg.Go(func() {
			if err := sealed.sealer.seal(context.Background(), sh.Root, false); err != nil {
				b.Error(err)
			}
		})
	}
	wg.Wait()
	getAll := func(m *testMiner) time.Duration {
		start := time.Now()
		sem := make(chan struct{}, 4)
		var wg sync.WaitGroup
		for _, sh := range shs {
			for first := 0; first < len(sh.Pieces); first += 4 {
				sem <- struct{}{}
				wg.Go(func() {
					defer func() { <-sem }()
					getRange(b, cli, m.Addr(), sh, first, 4)
				})
			}
		}
		wg.Wait()
		return time.Since(start)
	}
	getAll(plain) // warm the page cache and connections
	getAll(sealed)
	var tp, ts, cp, cs time.Duration
	b.SetBytes(shards * shardSize)
	for i := 0; b.Loop(); i++ { // alternate which goes first
		c0 := cpuTime()
		if i%2 == 0 {
			tp += getAll(plain)
			c1 := cpuTime()
			ts += getAll(sealed)
			cp, cs = cp+c1-c0, cs+cpuTime()-c1
		} else {
			ts += getAll(sealed)
			c1 := cpuTime()
			tp += getAll(plain)
			cs, cp = cs+c1-c0, cp+cpuTime()-c1
		}
	}
	b.ReportMetric(float64(ts)/float64(tp), "sealed/plain")
	// CPU time of the whole process (client and both miners): what the get
	// costs on a machine it has to itself, whatever the load of others.
	b.ReportMetric(float64(cs)/float64(cp), "cpu-sealed/plain")
	// CPU per MiB served, so the extra cost of sealed replicas can be set
	// against the unsealing cost per MiB that proofs' BenchmarkUnseal gives.
	mib := float64(b.N) * shards * shardSize / (1 << 20)
	b.ReportMetric(cp.Seconds()*1e3/mib, "plain-cpu-ms/MiB")
	b.ReportMetric(cs.Seconds()*1e3/mib, "sealed-cpu-ms/MiB")
	b.ReportMetric(float64(b.N)*shards*shardSize/tp.Seconds()/1e6, "plainMB/s")
	b.ReportMetric(float64(b.N)*shards*shardSize/ts.Seconds()/1e6, "sealedMB/s")
}
