package sched

import (
	"sort"
	"time"
)

// DefaultPrior is the speed Urgent assumes of a tunnel it has not measured yet
// (bytes per second): 1 MiB/s, about a loaded home uplink, so that the first
// pieces of a stream spread over the tunnels instead of piling onto one.
const DefaultPrior = 1 << 20

// HedgeSlack is how late a started piece may be, by its tunnel's measured
// speed, before a streaming client fetches it a second time from another
// holder (Overdue, Hedge): a few round trips on a regional link, well under
// the play time of a 256 KiB piece at 8 Mbit/s (262 ms).
const HedgeSlack = 150 * time.Millisecond

// Urgent is the urgency-first policy for streaming. Pieces are added in
// playback order (Add; after a seek the caller cancels what it no longer
// needs and adds from the seek point), and each is assigned at once to the
// tunnel, among the miners holding it, whose expected completion time for it
// is earliest:
//
//	ECT(t) = now + rem(t) + (queued(t) + size) / speed(t)
//
// where speed(t) is the tunnel's measured throughput (an exponentially
// weighted mean of the delivery gaps of its pieces; DefaultPrior until the
// first one), queued(t) the bytes assigned to it and not started, and rem(t)
// the time its started pieces still need: their bytes over speed(t) minus the
// time since they started (or since its last delivery). A tunnel late on its
// started pieces is assumed to need as long again as it is late, so a stalled
// or dead tunnel looks slower the longer it stays silent.
//
// This is the scheduling rule of the seed paper's streaming client (tunnels,
// expected completion times, playback order); TestUrgentSeedPaperExample
// replays its six-tunnel example.
//
// Each time a measurement changes (Done, Fail, Drop, Cancel) the pieces not
// yet started are assigned again in playback order, so a tunnel found slower
// than assumed loses its queue to faster ones. Tunnels pull their work with
// Next (and Take, to extend a request to the following piece). A started piece
// that is overdue (Overdue) may be hedged: fetched a second time from another
// holder (Hedge), the first arrival winning.
//
// Urgent is not safe for concurrent use; the caller serialises calls. Time is
// passed in by the caller, so a simulation can run it on a virtual clock.
type Urgent struct {
	prior   float64
	alpha   float64
	tunnels map[Miner]*tunnel
	names   []Miner // tunnels in the order first seen, for deterministic ties
	pieces  map[int]*upiece
	seq     uint64
}

type tunnel struct {
	name     Miner
	speed    float64 // bytes per second
	measured bool
	dropped  bool
	queue    []*upiece // assigned, not started, in playback order
	started  []*upiece // fetching
	lastDone time.Time
}

// fetch is one tunnel's claim on a piece.
type fetch struct {
	t       *tunnel
	started bool
	at      time.Time // when started
}

type upiece struct {
	p       int
	size    int64
	order   uint64 // playback rank: order of Add
	holders []Miner
	failed  []Miner
	fetches []fetch // at most two: the assignment and a hedge
	done    bool    // delivered; a fetch left is a hedge's late copy
}

// NewUrgent returns an empty scheduler that assumes prior bytes per second of
// a tunnel it has not measured (DefaultPrior if prior <= 0).
func NewUrgent(prior float64) *Urgent {
	if prior <= 0 {
		prior = DefaultPrior
	}
	return &Urgent{prior: prior, alpha: 0.5, tunnels: map[Miner]*tunnel{}, pieces: map[int]*upiece{}}
}

func (u *Urgent) tunnel(m Miner) *tunnel {
	if t, ok := u.tunnels[m]; ok {
		return t
	}
	t := &tunnel{name: m, speed: u.prior}
	u.tunnels[m] = t
	u.names = append(u.names, m)
	return t
}

// SetSpeed sets tunnel m's speed estimate to bps bytes per second (from an
// earlier measurement, for instance a previous stream of the same miners).
// Later deliveries keep refining it.
func (u *Urgent) SetSpeed(m Miner, bps float64) {
	if bps > 0 {
		t := u.tunnel(m)
		t.speed, t.measured = bps, true
	}
}

// Speed returns tunnel m's speed estimate in bytes per second.
func (u *Urgent) Speed(m Miner) float64 { return u.tunnel(m).speed }

func seconds(b float64, speed float64) time.Duration {
	return time.Duration(b / speed * float64(time.Second))
}

// remaining is the time t's started pieces still need.
func (t *tunnel) remaining(now time.Time) time.Duration {
	if len(t.started) == 0 {
		return 0
	}
	var bytes int64
	oldest := t.started[0].fetchBy(t).at
	for _, pc := range t.started {
		bytes += pc.size
		if at := pc.fetchBy(t).at; at.Before(oldest) {
			oldest = at
		}
	}
	// Bytes delivered since the oldest start are no longer counted, so the
	// clock runs from the later of that start and the last delivery.
	mark := t.lastDone
	if mark.Before(oldest) {
		mark = oldest
	}
	expected := seconds(float64(bytes), t.speed)
	elapsed := now.Sub(mark)
	if elapsed <= expected {
		return expected - elapsed
	}
	return elapsed - expected // late: assume it needs as long again as it is late
}

func (t *tunnel) queued() int64 {
	var n int64
	for _, pc := range t.queue {
		n += pc.size
	}
	return n
}

// expected is the completion time of size more bytes queued on t.
func (t *tunnel) expected(size int64, now time.Time) time.Time {
	return now.Add(t.remaining(now) + seconds(float64(t.queued()+size), t.speed))
}

// Expected returns when a piece of size bytes would arrive if it were
// assigned to tunnel m now: the ECT of the scheduling rule.
func (u *Urgent) Expected(m Miner, size int64, now time.Time) time.Time {
	return u.tunnel(m).expected(size, now)
}

func (pc *upiece) fetchBy(t *tunnel) *fetch {
	for i := range pc.fetches {
		if pc.fetches[i].t == t {
			return &pc.fetches[i]
		}
	}
	return nil
}

func (pc *upiece) started() bool {
	for _, f := range pc.fetches {
		if f.started {
			return true
		}
	}
	return false
}

// best returns the holder of pc, other than those already fetching it, with
// the earliest expected completion (ties: the tunnel seen first).
func (u *Urgent) best(pc *upiece, now time.Time) *tunnel {
	var bt *tunnel
	var bw time.Time
	for _, m := range u.names {
		t := u.tunnels[m]
		if t.dropped || !hasMiner(pc.holders, m) || hasMiner(pc.failed, m) || pc.fetchBy(t) != nil {
			continue
		}
		if w := t.expected(pc.size, now); bt == nil || w.Before(bw) {
			bt, bw = t, w
		}
	}
	return bt
}

func hasMiner(ms []Miner, m Miner) bool {
	for _, x := range ms {
		if x == m {
			return true
		}
	}
	return false
}

// enqueue puts pc in t's queue, keeping playback order.
func (t *tunnel) enqueue(pc *upiece) {
	i := sort.Search(len(t.queue), func(i int) bool { return t.queue[i].order > pc.order })
	t.queue = append(t.queue, nil)
	copy(t.queue[i+1:], t.queue[i:])
	t.queue[i] = pc
}

func removePiece(s []*upiece, pc *upiece) []*upiece {
	for i, x := range s {
		if x == pc {
			return append(s[:i], s[i+1:]...)
		}
	}
	return s
}

func (u *Urgent) assign(pc *upiece, now time.Time) (Miner, bool) {
	t := u.best(pc, now)
	if t == nil {
		return "", false
	}
	pc.fetches = append(pc.fetches, fetch{t: t})
	t.enqueue(pc)
	return t.name, true
}

// Add makes piece p of size bytes wanted after every piece added before it,
// held by holders, and assigns it to the holder with the earliest expected
// completion. It returns that tunnel, or false if no holder is left (see
// Orphans). Adding a piece already wanted changes nothing.
func (u *Urgent) Add(p int, size int64, holders []Miner, now time.Time) (Miner, bool) {
	if pc, ok := u.pieces[p]; ok {
		if len(pc.fetches) > 0 {
			return pc.fetches[0].t.name, true
		}
		return "", false
	}
	u.seq++
	pc := &upiece{p: p, size: size, order: u.seq, holders: append([]Miner(nil), holders...)}
	for _, m := range holders {
		u.tunnel(m)
	}
	u.pieces[p] = pc
	return u.assign(pc, now)
}

// Next starts the first piece in tunnel m's queue and returns it, or false if
// its queue is empty.
func (u *Urgent) Next(m Miner, now time.Time) (int, bool) {
	t := u.tunnel(m)
	if t.dropped || len(t.queue) == 0 {
		return 0, false
	}
	pc := t.queue[0]
	t.queue = t.queue[1:]
	u.start(t, pc, now)
	return pc.p, true
}

func (u *Urgent) start(t *tunnel, pc *upiece, now time.Time) {
	f := pc.fetchBy(t)
	f.started, f.at = true, now
	t.started = append(t.started, pc)
}

// Take starts piece p on tunnel m if it is the first piece of m's queue; the
// caller uses it to extend a request to consecutive pieces of one shard.
func (u *Urgent) Take(p int, m Miner, now time.Time) bool {
	t := u.tunnel(m)
	if t.dropped || len(t.queue) == 0 || t.queue[0].p != p {
		return false
	}
	pc := t.queue[0]
	t.queue = t.queue[1:]
	u.start(t, pc, now)
	return true
}

// Done records that tunnel m delivered piece p (checked) at now: m's speed
// estimate takes the delivery into account, p is no longer wanted, and the
// pieces not yet started are assigned again. If p was hedged, a copy another
// tunnel has started stays on that tunnel's books until it reports it (Done
// or Fail): a silent tunnel keeps looking busier the longer it is late, and a
// slow one is measured when its copy arrives.
func (u *Urgent) Done(p int, m Miner, now time.Time) {
	t, ok := u.tunnels[m]
	if !ok {
		return
	}
	pc := u.pieces[p]
	if pc == nil || pc.fetchBy(t) == nil {
		pc = t.startedPiece(p) // the late copy of a hedged piece
	}
	if pc == nil {
		return
	}
	if f := pc.fetchBy(t); f != nil && f.started {
		from := f.at
		if t.lastDone.After(from) {
			from = t.lastDone
		}
		if dt := now.Sub(from); dt > 0 {
			sample := float64(pc.size) / dt.Seconds()
			if t.measured {
				t.speed = u.alpha*sample + (1-u.alpha)*t.speed
			} else {
				t.speed, t.measured = sample, true
			}
		}
		t.lastDone = now
	}
	if pc.done {
		u.unclaim(pc, t)
	} else {
		pc.done = true
		delete(u.pieces, p)
		var late []fetch
		for _, f := range pc.fetches {
			if f.t != t && f.started {
				late = append(late, f)
				continue
			}
			f.t.queue = removePiece(f.t.queue, pc)
			f.t.started = removePiece(f.t.started, pc)
		}
		pc.fetches = late
	}
	// Any other claim of t on p (a late copy of an earlier want of p) is
	// met by this delivery too.
	for other := t.startedPiece(p); other != nil; other = t.startedPiece(p) {
		u.unclaim(other, t)
	}
	u.rebalance(now)
}

func (t *tunnel) startedPiece(p int) *upiece {
	for _, pc := range t.started {
		if pc.p == p {
			return pc
		}
	}
	return nil
}

// forget removes pc from every tunnel.
func (u *Urgent) forget(pc *upiece) {
	for _, f := range pc.fetches {
		f.t.queue = removePiece(f.t.queue, pc)
		f.t.started = removePiece(f.t.started, pc)
	}
	pc.fetches = nil
	delete(u.pieces, pc.p)
}

// Cancel withdraws piece p (the player moved on or seeked away). It reports
// whether p was being fetched, so the caller can end that request.
func (u *Urgent) Cancel(p int, now time.Time) bool {
	pc, ok := u.pieces[p]
	if !ok {
		return false
	}
	was := pc.started()
	u.forget(pc)
	u.rebalance(now)
	return was
}

// unclaim ends t's claim on pc.
func (u *Urgent) unclaim(pc *upiece, t *tunnel) {
	for i := range pc.fetches {
		if pc.fetches[i].t == t {
			pc.fetches = append(pc.fetches[:i], pc.fetches[i+1:]...)
			break
		}
	}
	t.queue = removePiece(t.queue, pc)
	t.started = removePiece(t.started, pc)
}

// Fail records that tunnel m could not deliver piece p; m is not asked for p
// again and p goes to the best other holder, unless another tunnel is already
// fetching it. It returns the new tunnel, or false if none (see Orphans).
func (u *Urgent) Fail(p int, m Miner, now time.Time) (Miner, bool) {
	t := u.tunnel(m)
	pc, ok := u.pieces[p]
	if !ok {
		if late := t.startedPiece(p); late != nil {
			u.unclaim(late, t) // the late copy of a piece delivered elsewhere
			u.rebalance(now)
		}
		return "", false
	}
	u.unclaim(pc, t)
	if !hasMiner(pc.failed, m) {
		pc.failed = append(pc.failed, m)
	}
	var to Miner
	var got bool
	if len(pc.fetches) > 0 {
		to, got = pc.fetches[0].t.name, true
	} else {
		to, got = u.assign(pc, now)
	}
	u.rebalance(now)
	return to, got
}

// Drop removes tunnel m (dead, or it sent bad bytes): every piece it was
// assigned or fetching goes to the best other holder. It returns the pieces m
// had started, whose requests the caller should end.
func (u *Urgent) Drop(m Miner, now time.Time) []int {
	t := u.tunnel(m)
	t.dropped = true
	var started []int
	for _, pc := range append(append([]*upiece(nil), t.started...), t.queue...) {
		if f := pc.fetchBy(t); f != nil && f.started {
			started = append(started, pc.p)
		}
		u.unclaim(pc, t)
		if len(pc.fetches) == 0 && !pc.done {
			u.assign(pc, now)
		}
	}
	u.rebalance(now)
	return started
}

// rebalance assigns every piece not yet started again, in playback order.
func (u *Urgent) rebalance(now time.Time) {
	var moving []*upiece
	for _, m := range u.names {
		t := u.tunnels[m]
		for _, pc := range t.queue {
			if !pc.started() {
				moving = append(moving, pc)
			}
		}
	}
	if len(moving) == 0 {
		return
	}
	sort.Slice(moving, func(i, j int) bool { return moving[i].order < moving[j].order })
	for _, pc := range moving {
		for _, f := range pc.fetches {
			f.t.queue = removePiece(f.t.queue, pc)
		}
		pc.fetches = nil
	}
	for _, pc := range moving {
		u.assign(pc, now)
	}
}

// Overdue returns the started pieces, in playback order, that should have
// arrived more than slack ago by their tunnel's speed and that are not hedged
// yet. The caller hedges those it needs soon.
func (u *Urgent) Overdue(now time.Time, slack time.Duration) []int {
	var late []*upiece
	for _, m := range u.names {
		t := u.tunnels[m]
		if t.dropped || len(t.started) == 0 {
			continue
		}
		// Started pieces of one tunnel arrive in the order they started.
		at := t.lastDone
		for _, pc := range t.started {
			if f := pc.fetchBy(t); f.at.After(at) {
				at = f.at
			}
			at = at.Add(seconds(float64(pc.size), t.speed))
			if now.Sub(at) > slack && len(pc.fetches) == 1 && !pc.done {
				late = append(late, pc)
			}
		}
	}
	sort.Slice(late, func(i, j int) bool { return late[i].order < late[j].order })
	out := make([]int, len(late))
	for i, pc := range late {
		out[i] = pc.p
	}
	return out
}

// Hedge assigns a second fetch of started piece p to the best holder not
// already fetching it. It returns that tunnel, or false if p is not started,
// already hedged, or has no other holder.
func (u *Urgent) Hedge(p int, now time.Time) (Miner, bool) {
	pc, ok := u.pieces[p]
	if !ok || !pc.started() || len(pc.fetches) != 1 {
		return "", false
	}
	return u.assign(pc, now)
}

// Fetching reports whether tunnel m has started piece p and has not
// reported it yet (also the late copy of a piece delivered elsewhere).
func (u *Urgent) Fetching(p int, m Miner) bool {
	t, ok := u.tunnels[m]
	return ok && t.startedPiece(p) != nil
}

// Wanted reports whether piece p is still wanted (added, not done or
// cancelled).
func (u *Urgent) Wanted(p int) bool {
	_, ok := u.pieces[p]
	return ok
}

// Orphans returns the wanted pieces, in playback order, that no tunnel is
// fetching or queued to fetch because every holder failed or was dropped.
func (u *Urgent) Orphans() []int {
	var out []*upiece
	for _, pc := range u.pieces {
		if len(pc.fetches) == 0 {
			out = append(out, pc)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].order < out[j].order })
	ps := make([]int, len(out))
	for i, pc := range out {
		ps[i] = pc.p
	}
	return ps
}

// Remaining is the number of wanted pieces.
func (u *Urgent) Remaining() int { return len(u.pieces) }
