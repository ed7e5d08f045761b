package sched

import (
	"fmt"
	"testing"
	"time"
)

// The simulation: a player reads a video piece by piece at its bit rate while
// a client fetches pieces from miners over links of different speeds, on a
// deterministic virtual clock (1 ms steps). Both policies run on the same
// client model: the same read-ahead window past the play position, the same
// requests per miner, the same timeout for a silent miner; only the choice of
// piece and tunnel differs. A link serves its requests one after another (a
// FIFO at its speed, after a one-way latency), and a link that dies delivers
// nothing after its death and is detected only by the timeout.

type simLink struct {
	name  Miner
	speed float64       // bytes per second
	dies  time.Duration // 0: never
}

type simConfig struct {
	pieces             int
	size               int64   // bytes per piece
	bitrate            float64 // bytes per second the player consumes
	latency            time.Duration
	window             int // pieces fetched ahead of the play position
	slots              int // requests in flight per miner
	timeout            time.Duration
	perShard, replicas int
	links              []simLink
}

type simResult struct {
	firstPiece time.Duration // from start to the first piece arriving
	stalls     int           // reads after the first second waiting longer than a piece plays
	stallTime  time.Duration // their total wait
	maxWait    time.Duration // the longest read wait after the first second
	end        time.Duration // when the player read the last piece
}

func (r simResult) String() string {
	return fmt.Sprintf("first piece %v, %d stalls (%v in all, longest %v), done at %v", r.firstPiece, r.stalls, r.stallTime, r.maxWait, r.end)
}

type simReq struct {
	p      int
	finish time.Duration
	lost   bool // on a link that died before finishing it
}

type simTunnel struct {
	link     simLink
	inflight []*simReq
	free     time.Duration // when the link has sent everything asked so far
	progress time.Duration // last issue to an idle link or last delivery
	dropped  bool
}

// simPolicy is what the simulated client asks of a scheduler.
type simPolicy interface {
	add(p int, holders []Miner, now time.Duration)
	next(m Miner, now time.Duration) (int, bool)
	done(p int, m Miner, now time.Duration)
	drop(m Miner, inflight []int, now time.Duration)
	hedge(from, to int, now time.Duration) // pieces [from, to) are needed soon
}

type rarestPolicy struct{ s *RarestFirst }

func (r rarestPolicy) add(p int, h []Miner, _ time.Duration)     { r.s.Add(p, h) }
func (r rarestPolicy) next(m Miner, _ time.Duration) (int, bool) { return r.s.Next(m) }
func (r rarestPolicy) done(p int, _ Miner, _ time.Duration)      { r.s.Done(p) }
func (r rarestPolicy) drop(m Miner, inflight []int, _ time.Duration) {
	for _, p := range inflight {
		r.s.Fail(p, m)
	}
	r.s.Drop(m)
}
func (r rarestPolicy) hedge(int, int, time.Duration) {}

type urgentPolicy struct {
	u    *Urgent
	size int64
}

func at(d time.Duration) time.Time { return t0.Add(d) }

func (u urgentPolicy) add(p int, h []Miner, now time.Duration) { u.u.Add(p, u.size, h, at(now)) }
func (u urgentPolicy) next(m Miner, now time.Duration) (int, bool) {
	return u.u.Next(m, at(now))
}
func (u urgentPolicy) done(p int, m Miner, now time.Duration) { u.u.Done(p, m, at(now)) }
func (u urgentPolicy) drop(m Miner, _ []int, now time.Duration) {
	u.u.Drop(m, at(now))
}
func (u urgentPolicy) hedge(from, to int, now time.Duration) {
	for _, p := range u.u.Overdue(at(now), HedgeSlack) {
		if p >= from && p < to {
			u.u.Hedge(p, at(now))
		}
	}
}

func simulate(pol simPolicy, c simConfig) simResult {
	const step = time.Millisecond
	tunnels := make(map[Miner]*simTunnel, len(c.links))
	names := make([]Miner, len(c.links))
	for i, l := range c.links {
		tunnels[l.name] = &simTunnel{link: l}
		names[i] = l.name
	}
	holders := func(p int) []Miner {
		s := p / c.perShard
		var h []Miner
		for k := 0; k < c.replicas; k++ {
			h = append(h, names[(s+k)%len(names)])
		}
		return h
	}
	playTime := time.Duration(float64(c.size) / c.bitrate * float64(time.Second))
	have := make([]bool, c.pieces)
	var res simResult
	res.firstPiece = -1
	added, pos := 0, 0
	var due, playStart time.Duration // when the player wants piece pos
	waiting := false
	for now := time.Duration(0); pos < c.pieces; now += step {
		if now > 10*time.Minute {
			panic("simulation did not finish")
		}
		// Deliveries.
		for _, m := range names {
			t := tunnels[m]
			kept := t.inflight[:0]
			for _, r := range t.inflight {
				if r.lost || r.finish > now {
					kept = append(kept, r)
					continue
				}
				t.progress = now
				if !have[r.p] {
					have[r.p] = true
					if res.firstPiece < 0 {
						res.firstPiece = now
					}
				}
				pol.done(r.p, m, now)
			}
			t.inflight = kept
			// A silent link is given up after the timeout.
			if !t.dropped && len(t.inflight) > 0 && now-t.progress >= c.timeout {
				var ps []int
				for _, r := range t.inflight {
					ps = append(ps, r.p)
				}
				t.inflight, t.dropped = nil, true
				pol.drop(m, ps, now)
			}
		}
		// The player.
		if res.firstPiece >= 0 && !waiting && pos == 0 {
			due, playStart, waiting = now, now, true
		}
		for waiting && pos < c.pieces && now >= due && have[pos] {
			if wait := now - due; due-playStart > time.Second {
				if wait > playTime {
					res.stalls++
					res.stallTime += wait
				}
				res.maxWait = max(res.maxWait, wait)
			}
			pos++
			due = now + playTime
		}
		res.end = now
		// Read-ahead window, hedging, requests.
		for ; added < c.pieces && added < pos+c.window; added++ {
			pol.add(added, holders(added), now)
		}
		pol.hedge(pos, pos+2, now)
		for _, m := range names {
			t := tunnels[m]
			for !t.dropped && len(t.inflight) < c.slots {
				p, ok := pol.next(m, now)
				if !ok {
					break
				}
				if len(t.inflight) == 0 {
					t.progress = now
				}
				start := max(now+t.link.latency(c), t.free)
				t.free = start + time.Duration(float64(c.size)/t.link.speed*float64(time.Second))
				r := &simReq{p: p, finish: t.free + c.latency}
				r.lost = t.link.dies > 0 && r.finish > t.link.dies
				t.inflight = append(t.inflight, r)
			}
		}
	}
	return res
}

func (l simLink) latency(c simConfig) time.Duration { return c.latency }

// streamCase is the benchmark's scenario: an 8 Mbit/s video from four miners
// (every shard on three), one linked at a quarter of the others' speed, and
// one fast miner dying 8 s in.
func streamCase() simConfig {
	const fast = 3e6 // bytes per second (24 Mbit/s)
	return simConfig{
		pieces: 120, size: 256 << 10, bitrate: 1e6, latency: 10 * time.Millisecond,
		window: 16, slots: 4, timeout: 10 * time.Second, perShard: 16, replicas: 3,
		links: []simLink{{"m0", fast, 0}, {"m1", fast, 8 * time.Second}, {"m2", fast, 0}, {"m3", fast / 4, 0}},
	}
}

func runBoth(c simConfig) (urgent, rarest simResult) {
	urgent = simulate(urgentPolicy{NewUrgent(0), c.size}, c)
	rarest = simulate(rarestPolicy{NewRarestFirst()}, c)
	return
}

// Urgency-first keeps an 8 Mbit/s stream going over a slow link and a dead
// miner, where rarest-first stalls; both start as fast.
func TestSimUrgentVersusRarest(t *testing.T) {
	c := streamCase()
	u, r := runBoth(c)
	t.Logf("urgency-first: %v", u)
	t.Logf("rarest-first:  %v", r)
	if u.stalls != 0 {
		t.Errorf("urgency-first stalled %d times", u.stalls)
	}
	if r.stalls == 0 {
		t.Errorf("rarest-first did not stall: the scenario does not tell the policies apart")
	}
	if u.firstPiece > r.firstPiece {
		t.Errorf("urgency-first's first piece at %v, after rarest-first's %v", u.firstPiece, r.firstPiece)
	}
	// Without the dead miner and with equal links, neither stalls.
	c.links = []simLink{{"m0", 3e6, 0}, {"m1", 3e6, 0}, {"m2", 3e6, 0}, {"m3", 3e6, 0}}
	u, r = runBoth(c)
	if u.stalls != 0 || r.stalls != 0 {
		t.Errorf("equal links: urgency-first %d stalls, rarest-first %d", u.stalls, r.stalls)
	}
	// Deterministic: the same run gives the same result.
	if simulate(urgentPolicy{NewUrgent(0), c.size}, c) != u {
		t.Error("the simulation is not deterministic")
	}
}

// BenchmarkSimStream reports the scenario's figures for both policies
// (go test -run '^$' -bench SimStream ./sched/).
func BenchmarkSimStream(b *testing.B) {
	for _, pol := range []string{"urgent", "rarest"} {
		b.Run(pol, func(b *testing.B) {
			var r simResult
			for i := 0; i < b.N; i++ {
				c := streamCase()
				if pol == "urgent" {
					r = simulate(urgentPolicy{NewUrgent(0), c.size}, c)
				} else {
					r = simulate(rarestPolicy{NewRarestFirst()}, c)
				}
			}
			b.ReportMetric(float64(r.firstPiece.Milliseconds()), "ms-first-piece")
			b.ReportMetric(float64(r.stalls), "stalls")
			b.ReportMetric(r.stallTime.Seconds(), "s-stalled")
			b.ReportMetric(float64(r.maxWait.Milliseconds()), "ms-longest-wait")
		})
	}
}
