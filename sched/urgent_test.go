package sched

import (
	"reflect"
	"testing"
	"time"
)

var t0 = time.Unix(1_000_000, 0)

const mib = 1 << 20

// The seed paper's six-tunnel example: when piece d comes up, tunnels 1 and 2
// would finish it at 2 s, tunnel 3 at 2 s, tunnel 4 at 4 s, tunnel 5 at 1.5 s
// and tunnel 6 at 4 s, so d goes to tunnel 5. The tunnels' speeds and queues
// below give exactly those completion times for a 1 MiB piece.
func TestUrgentSeedPaperExample(t *testing.T) {
	u := NewUrgent(0)
	speeds := map[Miner]float64{"1": 1 * mib, "2": 0.5 * mib, "3": 1.5 * mib, "4": 0.5 * mib, "5": 2 * mib, "6": 0.25 * mib}
	for _, m := range []Miner{"1", "2", "3", "4", "5", "6"} {
		u.SetSpeed(m, speeds[m])
	}
	// Earlier pieces a, b, c held only by some tunnels fill their queues:
	// tunnel 1 one piece, tunnel 3 two, tunnel 4 one, tunnel 5 two.
	earlier := []struct {
		p int
		m Miner
	}{{0, "1"}, {1, "3"}, {2, "3"}, {3, "4"}, {4, "5"}, {5, "5"}}
	for _, e := range earlier {
		if got, ok := u.Add(e.p, mib, []Miner{e.m}, t0); !ok || got != e.m {
			t.Fatalf("piece %d went to %q, want %q", e.p, got, e.m)
		}
	}
	want := map[Miner]time.Duration{"1": 2 * time.Second, "2": 2 * time.Second, "3": 2 * time.Second, "4": 4 * time.Second, "5": 1500 * time.Millisecond, "6": 4 * time.Second}
	for m, w := range want {
		if got := u.Expected(m, mib, t0).Sub(t0); got != w {
			t.Errorf("tunnel %s: expected completion %v, want %v", m, got, w)
		}
	}
	all := []Miner{"1", "2", "3", "4", "5", "6"}
	if got, ok := u.Add(6, mib, all, t0); !ok || got != "5" {
		t.Fatalf("piece d went to tunnel %q, want 5", got)
	}
	// The next piece sees tunnel 5 at 2 s now, tied with 1, 2 and 3: the first
	// seen wins.
	if got := u.Expected("5", mib, t0).Sub(t0); got != 2*time.Second {
		t.Fatalf("tunnel 5 after d: %v, want 2s", got)
	}
	if got, _ := u.Add(7, mib, all, t0); got != "1" {
		t.Fatalf("piece e went to tunnel %q, want 1 (first of the 2 s ties)", got)
	}
}

// Speeds are measured from deliveries on the caller's clock, and pieces are
// handed out in playback order.
func TestUrgentMeasuresAndKeepsPlaybackOrder(t *testing.T) {
	u := NewUrgent(mib)
	for p := 0; p < 4; p++ {
		u.Add(p, mib, []Miner{"A"}, t0)
	}
	for want := 0; want < 2; want++ {
		if p, ok := u.Next("A", t0); !ok || p != want {
			t.Fatalf("A got %d,%v; want %d", p, ok, want)
		}
	}
	// Piece 0 took 250 ms (4 MiB/s); piece 1 came 250 ms after it.
	u.Done(0, "A", t0.Add(250*time.Millisecond))
	if s := u.Speed("A"); s != 4*mib {
		t.Fatalf("speed after one piece %v, want 4 MiB/s", s/mib)
	}
	u.Done(1, "A", t0.Add(500*time.Millisecond))
	if s := u.Speed("A"); s != 4*mib {
		t.Fatalf("speed %v, want 4 MiB/s (the gap since the last delivery)", s/mib)
	}
	// A delivery after 1 s halves the sample; the mean moves half way.
	u.Next("A", t0.Add(500*time.Millisecond))
	u.Done(2, "A", t0.Add(1500*time.Millisecond))
	if s := u.Speed("A"); s != 2.5*mib {
		t.Fatalf("speed %v MiB/s, want 2.5", s/mib)
	}
	if u.Remaining() != 1 {
		t.Fatalf("remaining %d, want 1", u.Remaining())
	}
}

// A tunnel found slow loses the pieces it has not started to faster ones.
func TestUrgentRebalancesWhenATunnelIsSlow(t *testing.T) {
	u := NewUrgent(mib)
	both := []Miner{"fast", "slow"}
	for p := 0; p < 6; p++ {
		u.Add(p, mib, both, t0)
	}
	// Equal priors: the pieces alternate.
	if got := u.tunnels["slow"].queue; len(got) != 3 {
		t.Fatalf("slow has %d queued, want 3", len(got))
	}
	f, _ := u.Next("fast", t0)
	s, _ := u.Next("slow", t0)
	// fast delivers in 100 ms (10 MiB/s); slow is still busy.
	u.Done(f, "fast", t0.Add(100*time.Millisecond))
	now := t0.Add(100 * time.Millisecond)
	if n := len(u.tunnels["slow"].queue); n != 0 {
		t.Fatalf("slow kept %d queued pieces, want 0 (fast finishes them sooner)", n)
	}
	if !u.Fetching(s, "slow") {
		t.Fatal("the started piece was taken from slow")
	}
	var order []int
	for {
		p, ok := u.Next("fast", now)
		if !ok {
			break
		}
		order = append(order, p)
	}
	if !reflect.DeepEqual(order, []int{2, 3, 4, 5}) {
		t.Fatalf("fast fetches %v, want [2 3 4 5] in playback order", order)
	}
}

func TestUrgentFailDropOrphansAndCancel(t *testing.T) {
	u := NewUrgent(mib)
	u.Add(0, mib, []Miner{"A", "B"}, t0)
	u.Add(1, mib, []Miner{"A"}, t0)
	if p, _ := u.Next("A", t0); p != 0 {
		t.Fatalf("A started %d, want 0", p)
	}
	// A fails piece 0: it goes to B, and A is not asked for it again.
	if to, ok := u.Fail(0, "A", t0); !ok || to != "B" {
		t.Fatalf("failed piece went to %q,%v; want B", to, ok)
	}
	if p, ok := u.Next("B", t0); !ok || p != 0 {
		t.Fatalf("B got %d,%v; want 0", p, ok)
	}
	u.Fail(0, "B", t0)
	if got := u.Orphans(); !reflect.DeepEqual(got, []int{0}) {
		t.Fatalf("orphans %v, want [0]", got)
	}
	// Dropping A orphans piece 1 and reports nothing started.
	if started := u.Drop("A", t0); len(started) != 0 {
		t.Fatalf("drop reported %v started", started)
	}
	if got := u.Orphans(); !reflect.DeepEqual(got, []int{0, 1}) {
		t.Fatalf("orphans %v, want [0 1]", got)
	}
	if _, ok := u.Next("A", t0); ok {
		t.Fatal("a dropped tunnel was given work")
	}
	if _, ok := u.Add(2, mib, []Miner{"A"}, t0); ok {
		t.Fatal("a piece held only by a dropped tunnel was assigned")
	}

	// Cancel withdraws queued and started pieces and says which were started.
	v := NewUrgent(mib)
	v.Add(0, mib, []Miner{"X"}, t0)
	v.Add(1, mib, []Miner{"X"}, t0)
	v.Next("X", t0)
	if !v.Cancel(0, t0) || v.Cancel(1, t0) || v.Cancel(9, t0) {
		t.Fatal("Cancel misreported which pieces were being fetched")
	}
	if _, ok := v.Next("X", t0); ok || v.Remaining() != 0 {
		t.Fatal("cancelled pieces still handed out")
	}
	// A drop reports the started pieces and moves them.
	w := NewUrgent(mib)
	w.Add(0, mib, []Miner{"X", "Y"}, t0)
	w.Next("X", t0)
	if got := w.Drop("X", t0); !reflect.DeepEqual(got, []int{0}) {
		t.Fatalf("drop reported %v, want [0]", got)
	}
	if p, ok := w.Next("Y", t0); !ok || p != 0 {
		t.Fatal("the dropped tunnel's piece did not move to Y")
	}
}

// A silent tunnel's piece becomes overdue, is hedged on another holder, and
// the first delivery wins.
func TestUrgentHedgesOverduePieces(t *testing.T) {
	u := NewUrgent(4 * mib)
	u.Add(0, mib, []Miner{"A", "B"}, t0)
	u.Add(1, mib, []Miner{"A", "B"}, t0)
	a, _ := u.Next("A", t0)
	b, _ := u.Next("B", t0)
	if a != 0 || b != 1 {
		t.Fatalf("A got %d, B got %d", a, b)
	}
	u.Done(1, "B", t0.Add(250*time.Millisecond))
	// At 4 MiB/s piece 0 was due at 250 ms; at 300 ms it is 50 ms late.
	if got := u.Overdue(t0.Add(300*time.Millisecond), 100*time.Millisecond); len(got) != 0 {
		t.Fatalf("overdue %v within slack", got)
	}
	now := t0.Add(time.Second)
	if got := u.Overdue(now, 100*time.Millisecond); !reflect.DeepEqual(got, []int{0}) {
		t.Fatalf("overdue %v, want [0]", got)
	}
	// A silent tunnel looks slower the longer it is late.
	if u.Expected("A", mib, now).Before(u.Expected("B", mib, now)) {
		t.Fatal("the late tunnel is expected to finish first")
	}
	if to, ok := u.Hedge(0, now); !ok || to != "B" {
		t.Fatalf("hedge went to %q,%v; want B", to, ok)
	}
	if _, ok := u.Hedge(0, now); ok {
		t.Fatal("a piece was hedged twice")
	}
	if got := u.Overdue(now, 100*time.Millisecond); len(got) != 0 {
		t.Fatalf("a hedged piece is still reported overdue: %v", got)
	}
	if p, ok := u.Next("B", now); !ok || p != 0 {
		t.Fatal("B did not get the hedge")
	}
	later := now.Add(250 * time.Millisecond)
	u.Done(0, "B", later)
	if u.Wanted(0) || !u.Fetching(0, "A") {
		t.Fatal("after the hedge won, p is still wanted, or A's late copy left its books")
	}
	// A stays busy while its copy is out, so new pieces go to B.
	if to, _ := u.Add(2, mib, []Miner{"A", "B"}, later); to != "B" {
		t.Fatalf("a new piece went to the silent tunnel %s", to)
	}
	// A's copy fails at its timeout: off its books, not reassigned.
	if _, ok := u.Fail(0, "A", later); ok || u.Fetching(0, "A") || u.Wanted(0) {
		t.Fatal("the late copy's failure brought the delivered piece back")
	}
	// A late copy that arrives is a measurement.
	v := NewUrgent(4 * mib)
	v.Add(0, mib, []Miner{"A", "B"}, t0)
	v.Next("A", t0)
	v.Hedge(0, t0)
	v.Next("B", t0)
	v.Done(0, "B", t0.Add(250*time.Millisecond))
	v.Done(0, "A", t0.Add(2*time.Second))
	if s := v.Speed("A"); s != 0.5*mib || v.Fetching(0, "A") {
		t.Fatalf("A's speed after its first piece took 2 s: %v MiB/s, want 0.5", s/mib)
	}
}

func TestUrgentTakeExtendsRuns(t *testing.T) {
	u := NewUrgent(mib)
	for p := 0; p < 3; p++ {
		u.Add(p, mib, []Miner{"A"}, t0)
	}
	u.Next("A", t0)
	if u.Take(2, "A", t0) {
		t.Fatal("took a piece that is not next in the queue")
	}
	if !u.Take(1, "A", t0) || !u.Fetching(1, "A") {
		t.Fatal("could not extend the run to piece 1")
	}
}

// A piece wanted again while the late copy of its earlier want is still out
// on a tunnel: one delivery from that tunnel settles both claims.
func TestUrgentRewantedPieceWithALateCopy(t *testing.T) {
	u := NewUrgent(4 * mib)
	u.Add(0, mib, []Miner{"A", "B"}, t0)
	u.Next("A", t0)
	u.Hedge(0, t0)
	u.Next("B", t0)
	u.Done(0, "B", t0.Add(250*time.Millisecond)) // A's copy is late
	now := t0.Add(300 * time.Millisecond)
	u.Cancel(0, now)
	u.Add(0, mib, []Miner{"A"}, now) // wanted again: only A holds it now
	if p, ok := u.Next("A", now); !ok || p != 0 {
		t.Fatal("A was not given the piece again")
	}
	u.Done(0, "A", now.Add(100*time.Millisecond))
	if u.Fetching(0, "A") || u.Wanted(0) || len(u.tunnels["A"].started) != 0 {
		t.Fatalf("A still owes %d pieces after delivering", len(u.tunnels["A"].started))
	}
}
