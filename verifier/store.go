package verifier

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/ipfs/go-cid"
	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/internal/pebbledb"
	"github.com/ppstore/ppstore/proofs"
	"github.com/ppstore/ppstore/shard"
	"github.com/ppstore/ppstore/wire"
)

// Replica status, as recorded and shown by `ppstore stat`.
const (
	StatusProven    = wire.ProofProven    // PoRep passed, no miss since the last pass
	StatusFailing   = wire.ProofFailing   // missed the last round(s)
	StatusRepairing = wire.ProofRepairing // missed MissesToRepair rounds in a row: reported for repair
)

// StatusName names a status.
func StatusName(s uint8) string {
	switch s {
	case StatusProven:
		return "proven"
	case StatusFailing:
		return "failing"
	case StatusRepairing:
		return "repairing"
	}
	return fmt.Sprintf("status(%d)", s)
}

// ReplicaState is what the verifier records about one proven replica.
type ReplicaState struct {
	Miner     identity.PeerID
	Shard     cid.Cid
	Size      int64
	PieceSize int64
	Layers    int
	CommR     shard.Digest
	Proven    uint64 // epoch of the passed PoRep
	LastPass  uint64 // epoch of the last passed PoSt (0: none yet)
	Misses    uint32 // rounds missed in a row
	Status    uint8
	// RepairTo is the miner a repair of this (repairing) replica was sent
	// to, and RepairAt when (zero: none under way). The new replica
	// replaces this one at the indexer once its PoRep passes (index.go).
	RepairTo identity.PeerID
	RepairAt time.Time
}

// Replica returns the proofs description of the replica.
func (r *ReplicaState) Replica() (*proofs.Replica, error) {
	root, err := shard.DigestOf(r.Shard, shard.ShardCodec)
	if err != nil {
		return nil, err
	}
	return &proofs.Replica{Miner: r.Miner.Bytes(), CommD: root, Size: r.Size, PieceSize: r.PieceSize, Layers: r.Layers, CommR: r.CommR}, nil
}

func (r *ReplicaState) encode() []byte {
	e := wire.Enc{}
	e.U8(2)
	e.Peer(r.Miner)
	e.CID(r.Shard)
	e.U64(uint64(r.Size))
	e.U32(uint32(r.PieceSize))
	e.U32(uint32(r.Layers))
	e.Digest(r.CommR)
	e.U64(r.Proven)
	e.U64(r.LastPass)
	e.U32(r.Misses)
	e.U8(r.Status)
	e.Peer(r.RepairTo)
	var at uint64
	if !r.RepairAt.IsZero() {
		at = uint64(r.RepairAt.UnixNano())
	}
	e.U64(at)
	return e.B
}

func decodeReplicaState(b []byte) (*ReplicaState, error) {
	d := wire.NewDec(b)
	v := d.U8()
	if v != 1 && v != 2 {
		return nil, fmt.Errorf("verifier: replica record version %d, this verifier reads 1 and 2", v)
	}
	r := &ReplicaState{Miner: d.Peer(), Shard: d.CID()}
	r.Size = int64(d.U64())
	r.PieceSize = int64(d.U32())
	r.Layers = int(d.U32())
	r.CommR = d.Digest()
	r.Proven = d.U64()
	r.LastPass = d.U64()
	r.Misses = d.U32()
	r.Status = d.U8()
	if v >= 2 { // 1 had no repair under way
		r.RepairTo = d.Peer()
		if at := d.U64(); at != 0 {
			r.RepairAt = time.Unix(0, int64(at))
		}
	}
	if err := d.Finish(); err != nil {
		return nil, fmt.Errorf("verifier: replica record: %w", err)
	}
	return r, nil
}

// Keys:
//
//	m/chain                         secret(32) ‖ length(8) ‖ genesis unix ns(8)
//	m/epoch                         last epoch judged (8)
//	r/<len(2)‖miner><shard CID>     ReplicaState
//	p/<len(2)‖shard CID><new miner> failing miner: a repair under way (index.go)
var (
	keyChain     = []byte("m/chain")
	keyLastEpoch = []byte("m/epoch")
	replicaLo    = []byte("r/")
	replicaHi    = []byte("r0")
)

func replicaKey(miner identity.PeerID, shardCID cid.Cid) []byte {
	m := miner.Bytes()
	k := append([]byte("r/"), byte(len(m)>>8), byte(len(m)))
	k = append(k, m...)
	return append(k, shardCID.Bytes()...)
}

// store is the verifier's pebble database. mu serialises the writes of
// replica records: a round's verdicts, PoReps and repairs run at once.
type store struct {
	db *pebbledb.DB
	mu sync.Mutex
}

func openStore(dir string, log *slog.Logger) (*store, error) {
	db, err := pebbledb.Open(dir, pebbledb.Options{Name: "verifier", Logger: log})
	if err != nil {
		return nil, fmt.Errorf("verifier: %w", err)
	}
	return &store{db: db}, nil
}

func (s *store) Close() error { return s.db.Close() }

// chain loads the hash chain and genesis, making them on first start.
func (s *store) chain(length int, now time.Time) (*HashChain, time.Time, error) {
	v, closer, err := s.db.Get(keyChain)
	if err == nil {
		defer closer.Close()
		if len(v) != 48 {
			return nil, time.Time{}, fmt.Errorf("verifier: chain record of %d bytes, want 48", len(v))
		}
		var secret [32]byte
		copy(secret[:], v)
		return NewHashChain(secret, binary.BigEndian.Uint64(v[32:])), time.Unix(0, int64(binary.BigEndian.Uint64(v[40:]))), nil
	}
	if !errors.Is(err, pebble.ErrNotFound) {
		return nil, time.Time{}, err
	}
	var secret [32]byte
	if _, err := rand.Read(secret[:]); err != nil {
		return nil, time.Time{}, err
	}
	b := append(secret[:], binary.BigEndian.AppendUint64(nil, uint64(length))...)
	b = binary.BigEndian.AppendUint64(b, uint64(now.UnixNano()))
	if err := s.db.Set(keyChain, b, pebble.Sync); err != nil {
		return nil, time.Time{}, err
	}
	return NewHashChain(secret, uint64(length)), now, nil
}

func (s *store) lastEpoch() (uint64, error) {
	v, closer, err := s.db.Get(keyLastEpoch)
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer closer.Close()
	if len(v) != 8 {
		return 0, fmt.Errorf("verifier: epoch record of %d bytes", len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

func (s *store) putReplica(r *ReplicaState) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.db.Set(replicaKey(r.Miner, r.Shard), r.encode(), pebble.Sync)
}

// replicas returns every recorded replica.
func (s *store) replicas() ([]*ReplicaState, error) {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: replicaLo, UpperBound: replicaHi})
	if err != nil {
		return nil, err
	}
	var out []*ReplicaState
	for it.First(); it.Valid(); it.Next() {
		r, err := decodeReplicaState(it.Value())
		if err != nil {
			it.Close()
			return nil, err
		}
		out = append(out, r)
	}
	return out, it.Close()
}

// saveRound records the verdicts of a round onto the replicas' current
// records (a repair may have replaced or changed one while the round ran:
// a record gone since stays gone) and the round as judged, in one synced
// batch.
func (s *store) saveRound(epoch uint64, states []*ReplicaState) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.db.NewBatch()
	defer b.Close()
	for _, r := range states {
		cur, err := s.replica(r.Miner, r.Shard)
		if err != nil {
			return err
		}
		if cur == nil {
			continue
		}
		cur.LastPass, cur.Misses, cur.Status = r.LastPass, r.Misses, r.Status
		if cur.Status == StatusProven && !cur.RepairTo.IsZero() {
			cur.Status = StatusRepairing // a repair under way goes on
		}
		b.Set(replicaKey(r.Miner, r.Shard), cur.encode(), nil)
	}
	b.Set(keyLastEpoch, binary.BigEndian.AppendUint64(nil, epoch), nil)
	return s.db.Commit(b, pebble.Sync)
}
