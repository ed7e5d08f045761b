// Package sched decides which piece each download tunnel (a connection to one
// miner) fetches next. It owns only that decision: it moves no bytes, knows no
// network, and is driven by the downloader through Add/Next/Done/Fail/Drop.
//
// RarestFirst is the policy for ordinary downloads: an idle miner is given,
// among the wanted pieces it holds that nobody is fetching, the one held by the
// fewest reachable miners (ties: lowest piece number), so scarce pieces finish
// first and losing a miner later costs little.
//
// Pieces are dense small integers and miners are interned to small integers,
// so Next is one pass over the wanted pieces with no hashing: the downloader
// keeps the wanted set to a window of a few hundred pieces.
package sched

// Miner names a tunnel; the downloader uses peer IDs rendered as strings.
type Miner string

type pieceState struct {
	added, done, inFlight bool
	holders               []int32 // reachable miners that may serve it
	failed                []int32 // miners that failed it; never asked again
}

// RarestFirst is not safe for concurrent use; the downloader serialises calls.
type RarestFirst struct {
	ids     map[Miner]int32
	dropped []bool
	pieces  []pieceState
	wanted  []int // pieces added and not done, increasing (done ones removed lazily)
	stale   int   // done pieces still in wanted
	left    int
}

// NewRarestFirst returns an empty scheduler.
func NewRarestFirst() *RarestFirst {
	return &RarestFirst{ids: map[Miner]int32{}}
}

func (s *RarestFirst) id(m Miner) int32 {
	if id, ok := s.ids[m]; ok {
		return id
	}
	id := int32(len(s.dropped))
	s.ids[m] = id
	s.dropped = append(s.dropped, false)
	return id
}

func has(ids []int32, id int32) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

func remove(ids []int32, id int32) []int32 {
	for i, x := range ids {
		if x == id {
			return append(ids[:i], ids[i+1:]...)
		}
	}
	return ids
}

// Add makes piece p wanted, held by the given miners (dropped miners are
// ignored). Pieces should be added in increasing order (ties break by order).
func (s *RarestFirst) Add(p int, holders []Miner) {
	for len(s.pieces) <= p {
		s.pieces = append(s.pieces, pieceState{})
	}
	st := &s.pieces[p]
	if st.added {
		return
	}
	*st = pieceState{added: true}
	for _, m := range holders {
		id := s.id(m)
		if !s.dropped[id] && !has(st.holders, id) {
			st.holders = append(st.holders, id)
		}
	}
	if n := len(s.wanted); n > 0 && s.wanted[n-1] > p {
		// Out of order: keep wanted sorted.
		i := n
		for i > 0 && s.wanted[i-1] > p {
			i--
		}
		s.wanted = append(s.wanted[:i], append([]int{p}, s.wanted[i:]...)...)
	} else {
		s.wanted = append(s.wanted, p)
	}
	s.left++
}

// Next returns the piece miner m should fetch, or false if it holds none that
// is wanted and idle.
func (s *RarestFirst) Next(m Miner) (int, bool) {
	id, ok := s.ids[m]
	if !ok || s.dropped[id] {
		return 0, false
	}
	best, bestN := -1, 0
	for _, p := range s.wanted {
		st := &s.pieces[p]
		if st.done || st.inFlight || !has(st.holders, id) {
			continue
		}
		if n := len(st.holders); best < 0 || n < bestN {
			best, bestN = p, n
			if n == 1 {
				break // nothing is rarer
			}
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
	if p < 0 || p >= len(s.pieces) || !s.pieces[p].added || s.pieces[p].done {
		return
	}
	s.pieces[p].done, s.pieces[p].inFlight = true, false
	s.pieces[p].holders, s.pieces[p].failed = nil, nil
	s.left--
	s.stale++
	if s.stale > 64 && s.stale*2 > len(s.wanted) {
		kept := s.wanted[:0]
		for _, q := range s.wanted {
			if !s.pieces[q].done {
				kept = append(kept, q)
			}
		}
		s.wanted, s.stale = kept, 0
	}
}

// Fail returns p to the wanted set after m failed to deliver it; m is not asked
// for p again and no longer counts as its holder.
func (s *RarestFirst) Fail(p int, m Miner) {
	if p < 0 || p >= len(s.pieces) || !s.pieces[p].added {
		return
	}
	st := &s.pieces[p]
	st.inFlight = false
	id := s.id(m)
	st.holders = remove(st.holders, id)
	if !has(st.failed, id) {
		st.failed = append(st.failed, id)
	}
}

// Drop removes a miner (dead, or sent bad bytes) from every piece. Pieces it was
// fetching must be passed to Fail or Release by the caller.
func (s *RarestFirst) Drop(m Miner) {
	id := s.id(m)
	s.dropped[id] = true
	for _, p := range s.wanted {
		st := &s.pieces[p]
		st.holders = remove(st.holders, id)
	}
}

// Release returns an in-flight piece to the wanted set without blaming anyone.
func (s *RarestFirst) Release(p int) {
	if p >= 0 && p < len(s.pieces) {
		s.pieces[p].inFlight = false
	}
}

// Orphans returns the wanted pieces that are not in flight and that no
// remaining miner can serve, in order. A download with orphans cannot finish.
func (s *RarestFirst) Orphans() []int {
	var out []int
	for _, p := range s.wanted {
		st := &s.pieces[p]
		if !st.done && !st.inFlight && len(st.holders) == 0 {
			out = append(out, p)
		}
	}
	return out
}

// Remaining is the number of wanted pieces.
func (s *RarestFirst) Remaining() int { return s.left }

// Take claims piece p for miner m if it is wanted, idle and held by m; the
// downloader uses it to extend a run of consecutive pieces of one shard after
// Next (pieces of a shard share their holders, so they are equally rare).
func (s *RarestFirst) Take(p int, m Miner) bool {
	id, ok := s.ids[m]
	if !ok || s.dropped[id] || p < 0 || p >= len(s.pieces) {
		return false
	}
	st := &s.pieces[p]
	if !st.added || st.done || st.inFlight || !has(st.holders, id) {
		return false
	}
	st.inFlight = true
	return true
}
