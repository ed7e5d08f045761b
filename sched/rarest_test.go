package sched

import (
	"reflect"
	"testing"
)

// The example from the BitTorrent incentives paper's description of
// rarest-first: piece 1 on A,B,C,D; piece 2 on B,C,D; piece 3 on A,B;
// piece 4 on A only. A gets 4, B gets 3, and C and D take 1 and 2.
func TestSeedPaperExample(t *testing.T) {
	s := NewRarestFirst()
	s.Add(1, []Miner{"A", "B", "C", "D"})
	s.Add(2, []Miner{"B", "C", "D"})
	s.Add(3, []Miner{"A", "B"})
	s.Add(4, []Miner{"A"})
	got := map[Miner]int{}
	for _, m := range []Miner{"A", "B", "C", "D"} {
		p, ok := s.Next(m)
		if !ok {
			t.Fatalf("%s got nothing", m)
		}
		got[m] = p
	}
	if got["A"] != 4 || got["B"] != 3 {
		t.Fatalf("A got %d, B got %d; want 4 and 3", got["A"], got["B"])
	}
	cd := map[int]bool{got["C"]: true, got["D"]: true}
	if !cd[1] || !cd[2] {
		t.Fatalf("C and D got %d and %d; want 1 and 2", got["C"], got["D"])
	}
	// Same outcome whichever order the miners ask in.
	for _, order := range permutations([]Miner{"A", "B", "C", "D"}) {
		s := NewRarestFirst()
		s.Add(1, []Miner{"A", "B", "C", "D"})
		s.Add(2, []Miner{"B", "C", "D"})
		s.Add(3, []Miner{"A", "B"})
		s.Add(4, []Miner{"A"})
		got := map[Miner]int{}
		for _, m := range order {
			got[m], _ = s.Next(m)
		}
		cd := map[int]bool{got["C"]: true, got["D"]: true}
		if got["A"] != 4 || got["B"] != 3 || !cd[1] || !cd[2] {
			t.Fatalf("order %v: got %v; want A 4, B 3, C and D 1 and 2", order, got)
		}
	}
}

func permutations(ms []Miner) [][]Miner {
	if len(ms) <= 1 {
		return [][]Miner{append([]Miner(nil), ms...)}
	}
	var out [][]Miner
	for i := range ms {
		rest := append(append([]Miner(nil), ms[:i]...), ms[i+1:]...)
		for _, p := range permutations(rest) {
			out = append(out, append([]Miner{ms[i]}, p...))
		}
	}
	return out
}

func TestFailDropAndOrphans(t *testing.T) {
	s := NewRarestFirst()
	s.Add(0, []Miner{"A", "B"})
	s.Add(1, []Miner{"A"})
	p, _ := s.Next("A")
	if p != 1 {
		t.Fatalf("A got %d, want 1", p)
	}
	// A sends bad bytes for 1 and is dropped: 1 has no holder left.
	s.Fail(1, "A")
	s.Drop("A")
	if got := s.Orphans(); !reflect.DeepEqual(got, []int{1}) {
		t.Fatalf("orphans = %v, want [1]", got)
	}
	if _, ok := s.Next("A"); ok {
		t.Fatal("dropped miner was given work")
	}
	p, ok := s.Next("B")
	if !ok || p != 0 {
		t.Fatalf("B got %d,%v; want 0", p, ok)
	}
	s.Done(0)
	if s.Remaining() != 1 {
		t.Fatalf("remaining = %d", s.Remaining())
	}
	// Fail without drop: the miner is not asked for that piece again, others are.
	s2 := NewRarestFirst()
	s2.Add(7, []Miner{"X", "Y"})
	s2.Next("X")
	s2.Fail(7, "X")
	if _, ok := s2.Next("X"); ok {
		t.Fatal("X asked again for a piece it failed")
	}
	if p, ok := s2.Next("Y"); !ok || p != 7 {
		t.Fatal("Y not given the failed piece")
	}
	s2.Release(7)
	if len(s2.Orphans()) != 0 {
		t.Fatal("piece with a live holder reported orphan")
	}
}

func TestInFlightPiecesNotGivenTwice(t *testing.T) {
	s := NewRarestFirst()
	for p := 0; p < 10; p++ {
		s.Add(p, []Miner{"A", "B"})
	}
	seen := map[int]bool{}
	for i := 0; i < 10; i++ {
		m := Miner("A")
		if i%2 == 1 {
			m = "B"
		}
		p, ok := s.Next(m)
		if !ok || seen[p] {
			t.Fatalf("step %d: piece %d (ok=%v) given twice or missing", i, p, ok)
		}
		seen[p] = true
	}
	if _, ok := s.Next("A"); ok {
		t.Fatal("work given with everything in flight")
	}
}

func TestTakeExtendsRuns(t *testing.T) {
	s := NewRarestFirst()
	for p := 0; p < 4; p++ {
		s.Add(p, []Miner{"A", "B"})
	}
	s.Add(4, []Miner{"B"})
	if p, _ := s.Next("A"); p != 0 {
		t.Fatalf("A got %d", p)
	}
	if !s.Take(1, "A") || s.Take(1, "B") {
		t.Fatal("Take of an idle piece failed, or a taken piece was taken twice")
	}
	if s.Take(4, "A") {
		t.Fatal("A took a piece it does not hold")
	}
	s.Drop("B")
	if s.Take(2, "B") {
		t.Fatal("a dropped miner took a piece")
	}
}
