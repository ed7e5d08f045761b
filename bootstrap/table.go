package bootstrap

import (
	"bytes"
	"slices"
	"sync"

	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/wire"
)

// Limits of one ListNodes answer.
const (
	maxListRecords = 4096
	// maxListBytes leaves room for the record count in a wire.MaxFrame body.
	maxListBytes = wire.MaxFrame - 4
)

// entry is the table's view of one peer.
type entry struct {
	rec  wire.NodeRecord
	key  []byte // the peer ID's bytes, for sorting
	size int    // bytes the record takes in a NodeList
	// keepUntil is the latest Expires of any record of this peer ever
	// accepted: until then the entry (and its Seq) is kept, even if rec has
	// expired, so that no older record can be replayed.
	keepUntil uint64
}

// table holds the records, one per peer. It checks nothing but Seq and its
// own size: the Peer checks records before putting them.
type table struct {
	max int

	mu     sync.Mutex
	byPeer map[identity.PeerID]*entry
}

func newTable(max int) *table {
	return &table{max: max, byPeer: map[identity.PeerID]*entry{}}
}

// put stores rec unless the table holds a record of the same peer with an
// equal or higher Seq (CodeConflict) or is full (CodeUnavailable). now is unix
// seconds. rec is copied.
func (t *table) put(rec *wire.NodeRecord, now uint64) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.byPeer[rec.Peer]
	if ok {
		if rec.Seq <= e.rec.Seq {
			return wire.Errorf(wire.CodeConflict, "record of %v has seq %d, not above the seq %d already accepted: sign each refresh with a higher seq",
				rec.Peer, rec.Seq, e.rec.Seq)
		}
	} else {
		if len(t.byPeer) >= t.max {
			t.sweepLocked(now)
		}
		if len(t.byPeer) >= t.max {
			return wire.Errorf(wire.CodeUnavailable, "this bootstrap holds its maximum of %d records; try another bootstrap of the region", t.max)
		}
		e = &entry{key: rec.Peer.Bytes()}
		t.byPeer[rec.Peer] = e
	}
	e.rec = *rec
	e.rec.Addrs = slices.Clone(rec.Addrs)
	e.rec.Sig = bytes.Clone(rec.Sig) // a decoded record aliases the frame buffer
	e.size = recordSize(&e.rec)
	e.keepUntil = max(e.keepUntil, rec.Expires)
	return nil
}

// seq returns the highest Seq held for peer, and whether there is one.
func (t *table) seq(peer identity.PeerID) (uint64, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.byPeer[peer]
	if !ok {
		return 0, false
	}
	return e.rec.Seq, true
}

// list returns the live records of role (0: every role) sorted by role then
// peer ID bytes, at most maxCount of them taking at most maxBytes in a
// NodeList. truncated tells whether live records were left out.
func (t *table) list(role wire.Role, now uint64, maxCount, maxBytes int) (recs []wire.NodeRecord, truncated bool) {
	t.mu.Lock()
	live := make([]*entry, 0, len(t.byPeer))
	for _, e := range t.byPeer {
		if e.rec.Expires > now && (role == 0 || e.rec.Role == role) {
			live = append(live, e)
		}
	}
	slices.SortFunc(live, func(a, b *entry) int {
		if a.rec.Role != b.rec.Role {
			return int(a.rec.Role) - int(b.rec.Role)
		}
		return bytes.Compare(a.key, b.key)
	})
	size := 0
	for _, e := range live {
		if len(recs) == maxCount || size+e.size > maxBytes {
			truncated = true
			break
		}
		size += e.size
		recs = append(recs, e.rec) // the stored slices are never modified, so sharing them is safe
	}
	t.mu.Unlock()
	return recs, truncated
}

// sweep drops the entries whose every record has expired and returns how many.
func (t *table) sweep(now uint64) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.sweepLocked(now)
}

func (t *table) sweepLocked(now uint64) int {
	n := 0
	for p, e := range t.byPeer {
		if e.keepUntil <= now {
			delete(t.byPeer, p)
			n++
		}
	}
	return n
}

// live counts the unexpired records by role.
func (t *table) live(now uint64) map[wire.Role]int {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[wire.Role]int{}
	for _, e := range t.byPeer {
		if e.rec.Expires > now {
			out[e.rec.Role]++
		}
	}
	return out
}

// len is the number of entries, expired or not.
func (t *table) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.byPeer)
}

// recordSize is the number of bytes rec takes inside a NodeList (a Register
// body is exactly one encoded record).
func recordSize(rec *wire.NodeRecord) int {
	return len((&wire.Register{Record: *rec}).Append(nil))
}
