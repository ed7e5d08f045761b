// Package sched decides which piece each download tunnel (a connection to one
// miner) fetches next. It owns only that decision: it moves no bytes, knows no
// network, and is driven by the downloader through Add/Next/Done/Fail/Drop.
//
// RarestFirst is the policy for ordinary downloads: an idle miner is given,
// among the wanted pieces it holds that nobody is fetching, the one held by the
// fewest reachable miners (ties: lowest piece number), so scarce pieces finish
// first and losing a miner later costs little.
package sched

import (
	"errors"
	"sort"
)

// ErrNoHolder reports pieces that no reachable miner holds any more.
var ErrNoHolder = errors.New("sched: no reachable miner holds the piece")

// Miner names a tunnel; the downloader uses peer IDs rendered as strings.
type Miner string

type piece struct {
	holders  map[Miner]struct{}
	inFlight bool
	done     bool
	failedAt map[Miner]struct{} // miners that failed this piece; not asked again
}

// RarestFirst is not safe for concurrent use; the downloader serialises calls.
type RarestFirst struct {
	pieces  map[int]*piece
	wanted  map[int]struct{} // not done
	dropped map[Miner]struct{}
}

// NewRarestFirst returns an empty scheduler.
func NewRarestFirst() *RarestFirst {
	return &RarestFirst{pieces: map[int]*piece{}, wanted: map[int]struct{}{}, dropped: map[Miner]struct{}{}}
}

// Add makes piece p wanted, held by the given miners (dropped miners are ignored).
func (s *RarestFirst) Add(p int, holders []Miner) {
	pc := &piece{holders: map[Miner]struct{}{}}
	for _, m := range holders {
		if _, gone := s.dropped[m]; !gone {
			pc.holders[m] = struct{}{}
		}
	}
	s.pieces[p] = pc
	s.wanted[p] = struct{}{}
}

// Next returns the piece miner m should fetch, or false if it holds none that
// is wanted and idle.
func (s *RarestFirst) Next(m Miner) (int, bool) {
	if _, gone := s.dropped[m]; gone {
		return 0, false
	}
	best, bestN := -1, 0
	for p := range s.wanted {
		pc := s.pieces[p]
		if pc.inFlight {
			continue
		}
		if _, ok := pc.holders[m]; !ok {
			continue
		}
		if _, failed := pc.failedAt[m]; failed {
			continue
		}
		n := len(pc.holders)
		if best < 0 || n < bestN || (n == bestN && p < best) {
			best, bestN = p, n
		}
	}
	if best < 0 {
		return 0, false
	}
	s.pieces[best].inFlight = true
	return best, true
}

// Done marks p fetched and checked.
func (s *RarestFirst) Done(p int) {
	if pc, ok := s.pieces[p]; ok {
		pc.done, pc.inFlight = true, false
		delete(s.wanted, p)
	}
}

// Fail returns p to the wanted set after m failed to deliver it; m is not asked
// for p again and no longer counts as its holder.
func (s *RarestFirst) Fail(p int, m Miner) {
	pc, ok := s.pieces[p]
	if !ok {
		return
	}
	pc.inFlight = false
	if pc.failedAt == nil {
		pc.failedAt = map[Miner]struct{}{}
	}
	pc.failedAt[m] = struct{}{}
	delete(pc.holders, m)
}

// Drop removes a miner (dead, or sent bad bytes) from every piece. Pieces it was
// fetching must be passed to Fail or Release by the caller.
func (s *RarestFirst) Drop(m Miner) {
	s.dropped[m] = struct{}{}
	for _, pc := range s.pieces {
		delete(pc.holders, m)
	}
}

// Release returns an in-flight piece to the wanted set without blaming anyone.
func (s *RarestFirst) Release(p int) {
	if pc, ok := s.pieces[p]; ok {
		pc.inFlight = false
	}
}

// Orphans returns the wanted pieces that are not in flight and that no
// remaining miner can serve, in order. A download with orphans cannot finish.
func (s *RarestFirst) Orphans() []int {
	var out []int
	for p := range s.wanted {
		pc := s.pieces[p]
		if pc.inFlight {
			continue
		}
		serve := false
		for m := range pc.holders {
			if _, failed := pc.failedAt[m]; !failed {
				serve = true
				break
			}
		}
		if !serve {
			out = append(out, p)
		}
	}
	sort.Ints(out)
	return out
}

// Remaining is the number of wanted pieces.
func (s *RarestFirst) Remaining() int { return len(s.wanted) }
