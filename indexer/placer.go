package indexer

import (
	"bytes"
	"sort"
	"sync"
	"time"

	"github.com/ppstore/ppstore/config"
	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/shard"
	"github.com/ppstore/ppstore/wire"
)

// MaxPlaceCount is the most chains one Place request may ask for.
const MaxPlaceCount = 1024

// Placer picks miners for new shards from the live miner records.
//
// Each chain is Replicas distinct miners, each with Free at least ShardSize
// plus what this placer has already handed out to it since its record was
// last refreshed (its reservation). Miners are kept sorted by peer ID and a
// cursor rotates over them, so consecutive shards start at different miners
// and a file ends up spread over the whole region.
type Placer struct {
	now func() time.Time

	mu       sync.Mutex
	miners   []liveMiner // sorted by peer ID bytes
	byPeer   map[identity.PeerID]int
	reserved map[identity.PeerID]reservation
	cursor   int
}

type liveMiner struct {
	addr    wire.NodeAddr
	free    uint64
	seq     uint64
	expires time.Time
}

// reservation is what has been placed on a miner since the record with seq.
type reservation struct {
	seq   uint64
	bytes uint64
}

// NewPlacer returns a placer that knows no miner yet.
func NewPlacer() *Placer {
	return &Placer{now: time.Now, byPeer: map[identity.PeerID]int{}, reserved: map[identity.PeerID]reservation{}}
}

// Update replaces the live miner list with recs (whose signatures the caller
// has checked). Records that are not miners, carry no address or have
// expired are ignored; of several records of one peer the highest Seq wins.
// A miner's reservation is dropped when its record's Seq advances: the new
// record's Free is the miner's own account of its space.
func (p *Placer) Update(recs []wire.NodeRecord) {
	now := p.now()
	best := map[identity.PeerID]*wire.NodeRecord{}
	for i := range recs {
		r := &recs[i]
		if r.Role != wire.RoleMiner || r.Peer.IsZero() || len(r.Addrs) == 0 || !time.Unix(int64(r.Expires), 0).After(now) {
			continue
		}
		if old, ok := best[r.Peer]; !ok || r.Seq > old.Seq {
			best[r.Peer] = r
		}
	}
	miners := make([]liveMiner, 0, len(best))
	for _, r := range best {
		miners = append(miners, liveMiner{
			addr:    wire.NodeAddr{Peer: r.Peer, Addr: r.Addrs[0]},
			free:    r.Free,
			seq:     r.Seq,
			expires: time.Unix(int64(r.Expires), 0),
		})
	}
	sort.Slice(miners, func(i, j int) bool {
		return bytes.Compare(miners[i].addr.Peer.Bytes(), miners[j].addr.Peer.Bytes()) < 0
	})

	p.mu.Lock()
	defer p.mu.Unlock()
	byPeer := make(map[identity.PeerID]int, len(miners))
	reserved := make(map[identity.PeerID]reservation, len(p.reserved))
	for i, m := range miners {
		byPeer[m.addr.Peer] = i
		if r, ok := p.reserved[m.addr.Peer]; ok && r.seq == m.seq {
			reserved[m.addr.Peer] = r
		}
	}
	p.miners, p.byPeer, p.reserved = miners, byPeer, reserved
	if len(miners) > 0 {
		p.cursor %= len(miners)
	} else {
		p.cursor = 0
	}
}

// Live returns the address of a live miner.
func (p *Placer) Live(peer identity.PeerID) (wire.NodeAddr, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	i, ok := p.byPeer[peer]
	if !ok || !p.miners[i].expires.After(p.now()) {
		return wire.NodeAddr{}, false
	}
	return p.miners[i].addr, true
}

// LiveCount is the number of miners in the last update.
func (p *Placer) LiveCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.miners)
}

// Place answers a placement request: Count chains of Replicas distinct
// miners, none of them excluded. Either every chain is filled and reserved,
// or an error is returned and nothing is reserved.
func (p *Placer) Place(req *wire.Place) (*wire.Placement, error) {
	switch {
	case req.Replicas < 1 || req.Replicas > MaxReplicas:
		return nil, wire.Errorf(wire.CodeBadRequest, "place: %d replicas; ask for 1 to %d", req.Replicas, MaxReplicas)
	case req.Count < 1 || req.Count > MaxPlaceCount:
		return nil, wire.Errorf(wire.CodeBadRequest, "place: %d chains; ask for 1 to %d per request", req.Count, MaxPlaceCount)
	case req.ShardSize == 0 || req.ShardSize > shard.MaxShardSize:
		return nil, wire.Errorf(wire.CodeBadRequest, "place: shard size %d not in [1, %d]", req.ShardSize, uint64(shard.MaxShardSize))
	}
	excluded := make(map[identity.PeerID]bool, len(req.Exclude))
	for _, e := range req.Exclude {
		excluded[e] = true
	}
	r := int(req.Replicas)
	size := req.ShardSize

	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	n := len(p.miners)
	// room[i] is what miner i can still take in this request; -1 if ineligible.
	room := make([]uint64, n)
	eligible, nExcluded, live := make([]bool, n), 0, 0
	fit := 0
	for i, m := range p.miners {
		if !m.expires.After(now) {
			continue
		}
		live++
		if excluded[m.addr.Peer] {
			nExcluded++
			continue
		}
		res := p.reserved[m.addr.Peer].bytes
		if m.free > res {
			room[i] = m.free - res
		}
		if room[i] >= size {
			eligible[i] = true
			fit++
		}
	}
	unavailable := func(have int) error {
		return wire.Errorf(wire.CodeUnavailable, "need %d miners with %v free, have %d live (%d excluded, %d with room); start more miners or ask for fewer replicas",
			r, config.ByteSize(size), live, nExcluded, have)
	}
	if fit < r {
		return nil, unavailable(fit)
	}

	chains := make([][]wire.NodeAddr, req.Count)
	addrs := make([]wire.NodeAddr, int(req.Count)*r)
	taken := make([]uint64, n) // bytes placed on miner i by this request
	cursor := p.cursor
	for c := range chains {
		chain := addrs[c*r : c*r : (c+1)*r]
		// Walk the ring from the cursor; the walk visits each miner once, so
		// the chain's miners are distinct.
		first := -1
		for k := 0; k < n && len(chain) < r; k++ {
			i := (cursor + k) % n
			if eligible[i] && room[i]-taken[i] >= size {
				if first < 0 {
					first = i
				}
				chain = append(chain, p.miners[i].addr)
				taken[i] += size
			}
		}
		if len(chain) < r {
			have := 0
			for i := range p.miners {
				if eligible[i] && room[i]-taken[i] >= size {
					have++
				}
			}
			return nil, unavailable(have)
		}
		chains[c] = chain
		cursor = (first + 1) % n // the next chain starts after this one's first miner
	}
	pl := &wire.Placement{Chains: chains}
	if placementSize(pl) > budget(wire.TypePlacement) {
		return nil, wire.Errorf(wire.CodeTooLarge, "placement of %d chains of %d does not fit in one message; ask for fewer chains per request", req.Count, req.Replicas)
	}
	p.cursor = cursor
	for i, t := range taken {
		if t > 0 {
			m := p.miners[i]
			res := p.reserved[m.addr.Peer]
			res.seq = m.seq
			res.bytes += t
			p.reserved[m.addr.Peer] = res
		}
	}
	return pl, nil
}
