package wire

import (
	"github.com/ipfs/go-cid"
	"github.com/ppstore/ppstore/identity"
)

// Lifecycle of a replica: reserved at the indexer before an upload (so that
// no shard gets more replicas than asked, and a shard the region holds is
// not uploaded again), reported stored after it, confirmed by a commit or
// reclaimed by its miner when its lease ends, and dropped when no file
// references its shard any more (rm). See docs/LEASES.md.
const (
	TypeReserve     Type = 40 // client → indexer
	TypeReservation Type = 41
	TypeShardStored Type = 42 // client → indexer
	TypeStoredAck   Type = 43
	TypeLeaseCheck  Type = 44 // miner → indexer
	TypeLeaseStatus Type = 45
	TypeRemove      Type = 46 // client → indexer
	TypeRemoved     Type = 47
	TypeDropShards  Type = 48 // indexer → miner
	TypeDropped     Type = 49
)

// Codes of chain and lifecycle failures.
const (
	// CodeHopLost names, in a HopFailure, a miner that the miner before it
	// in the chain lost: unreachable, silent past its idle timeout, or gone
	// before answering. It is that miner's failure, observed by its
	// upstream, which is not at fault itself.
	CodeHopLost Code = 13
	// CodeUpstreamLost is a miner's answer when the peer sending it the
	// upload went silent or away: the answering miner is not at fault.
	CodeUpstreamLost Code = 14
	// CodeReclaimed reports a replica its miner dropped because no commit
	// confirmed it within its lease: store the shard again.
	CodeReclaimed Code = 15
)

// ErrHopLost, ErrUpstreamLost and ErrReclaimed match the codes above with errors.Is.
var (
	ErrHopLost      = &Error{Code: CodeHopLost}
	ErrUpstreamLost = &Error{Code: CodeUpstreamLost}
	ErrReclaimed    = &Error{Code: CodeReclaimed}
)

func init() {
	codeNames[CodeHopLost] = "next miner lost"
	codeNames[CodeUpstreamLost] = "upstream lost"
	codeNames[CodeReclaimed] = "replica reclaimed"
	typeNames[TypeReserve] = "Reserve"
	typeNames[TypeReservation] = "Reservation"
	typeNames[TypeShardStored] = "ShardStored"
	typeNames[TypeStoredAck] = "StoredAck"
	typeNames[TypeLeaseCheck] = "LeaseCheck"
	typeNames[TypeLeaseStatus] = "LeaseStatus"
	typeNames[TypeRemove] = "Remove"
	typeNames[TypeRemoved] = "Removed"
	typeNames[TypeDropShards] = "DropShards"
	typeNames[TypeDropped] = "Dropped"
}

// KnownCode reports whether c is a code this build knows; a peer's unknown
// code is passed on as CodeInternal.
func KnownCode(c Code) bool { _, ok := codeNames[c]; return ok }

// newLifecycle returns an empty lifecycle message of type t, or nil.
func newLifecycle(t Type) Message {
	switch t {
	case TypeReserve:
		return new(Reserve)
	case TypeReservation:
		return new(Reservation)
	case TypeShardStored:
		return new(ShardStored)
	case TypeStoredAck:
		return new(StoredAck)
	case TypeLeaseCheck:
		return new(LeaseCheck)
	case TypeLeaseStatus:
		return new(LeaseStatus)
	case TypeRemove:
		return new(Remove)
	case TypeRemoved:
		return new(Removed)
	case TypeDropShards:
		return new(DropShards)
	case TypeDropped:
		return new(Dropped)
	}
	return nil
}

// MaxLeaseBatch is the most shards one LeaseCheck or DropShards names.
const MaxLeaseBatch = 4096

// Reserve asks the indexer for the miners one shard still needs so that it
// has Replicas replicas, and reserves them for this put. Put is a number the
// client draws once per put: a later Reserve or ShardStored of the same put
// and shard replaces this one's reservation. With Private set the indexer
// neither reports nor counts existing replicas (an encrypted shard must not
// reveal whether the region holds it) and places Replicas new ones.
type Reserve struct {
	Put      uint64
	Shard    cid.Cid
	Size     uint64 // bytes
	Replicas uint8
	Private  bool
	Exclude  []identity.PeerID // miners not to place on (failed during this put)
}

func (*Reserve) Type() Type { return TypeReserve }
func (m *Reserve) Append(b []byte) []byte {
	e := Enc{B: b}
	e.U64(m.Put)
	e.CID(m.Shard)
	e.U64(m.Size)
	e.U8(m.Replicas)
	e.Bool(m.Private)
	appendPeers(&e, m.Exclude)
	return e.B
}
func (m *Reserve) Decode(b []byte) error {
	d := NewDec(b)
	m.Put = d.U64()
	m.Shard = d.CID()
	m.Size = d.U64()
	m.Replicas = d.U8()
	m.Private = d.Bool()
	m.Exclude = decodePeers(d)
	return d.Finish()
}

// Reservation answers Reserve. Have lists the miners that hold the shard
// already (committed, or stored by a put that is still under way); Chain the
// miners reserved for this put, to upload to as one chain (empty when Have
// is enough). RetryAfter (milliseconds) is set, with both lists empty, when
// other puts' reservations would make up the replicas: ask again then, as
// they either store the shard or fail.
type Reservation struct {
	Have       []NodeAddr
	Chain      []NodeAddr
	RetryAfter uint32
}

func (*Reservation) Type() Type { return TypeReservation }
func (m *Reservation) Append(b []byte) []byte {
	e := Enc{B: b}
	appendAddrs(&e, m.Have)
	appendAddrs(&e, m.Chain)
	e.U32(m.RetryAfter)
	return e.B
}
func (m *Reservation) Decode(b []byte) error {
	d := NewDec(b)
	m.Have = decodeAddrs(d)
	m.Chain = decodeAddrs(d)
	m.RetryAfter = d.U32()
	return d.Finish()
}

// ShardStored reports the receipts one chain upload of a put brought back
// (none if it failed): the indexer lists those miners as holders while the
// put lasts and releases the rest of the put's reservation for the shard.
type ShardStored struct {
	Put      uint64
	Shard    cid.Cid
	Receipts []Receipt
}

func (*ShardStored) Type() Type { return TypeShardStored }
func (m *ShardStored) Append(b []byte) []byte {
	e := Enc{B: b}
	e.U64(m.Put)
	e.CID(m.Shard)
	appendReceipts(&e, m.Receipts)
	return e.B
}
func (m *ShardStored) Decode(b []byte) error {
	d := NewDec(b)
	m.Put = d.U64()
	m.Shard = d.CID()
	m.Receipts = decodeReceipts(d)
	return d.Finish()
}

// StoredAck answers ShardStored with the replicas the shard now has.
type StoredAck struct{ Replicas uint32 }

func (*StoredAck) Type() Type               { return TypeStoredAck }
func (m *StoredAck) Append(b []byte) []byte { e := Enc{B: b}; e.U32(m.Replicas); return e.B }
func (m *StoredAck) Decode(b []byte) error  { d := NewDec(b); m.Replicas = d.U32(); return d.Finish() }

// LeaseCheck asks the indexer, for replicas whose lease ended at the asking
// miner, whether a commit confirmed them. At most MaxLeaseBatch shards.
type LeaseCheck struct{ Shards []cid.Cid }

func (*LeaseCheck) Type() Type { return TypeLeaseCheck }
func (m *LeaseCheck) Append(b []byte) []byte {
	e := Enc{B: b}
	appendCIDs(&e, m.Shards)
	return e.B
}
func (m *LeaseCheck) Decode(b []byte) error {
	d := NewDec(b)
	m.Shards = decodeCIDs(d)
	if len(m.Shards) > MaxLeaseBatch {
		d.Fail("%d shards, at most %d", len(m.Shards), MaxLeaseBatch)
	}
	return d.Finish()
}

// LeaseState is the indexer's answer about one replica.
type LeaseState uint8

const (
	// LeaseUnknown: no commit confirmed the replica and no put under way
	// reported it; its miner deletes it.
	LeaseUnknown LeaseState = 0
	// LeasePending: a put under way reported it; ask again after a lease.
	LeasePending LeaseState = 1
	// LeaseCommitted: a committed file references it; keep it.
	LeaseCommitted LeaseState = 2
)

// LeaseStatus answers LeaseCheck, one state per shard asked, in order.
type LeaseStatus struct{ States []LeaseState }

func (*LeaseStatus) Type() Type { return TypeLeaseStatus }
func (m *LeaseStatus) Append(b []byte) []byte {
	e := Enc{B: b}
	e.U32(uint32(len(m.States)))
	for _, s := range m.States {
		e.U8(uint8(s))
	}
	return e.B
}
func (m *LeaseStatus) Decode(b []byte) error {
	d := NewDec(b)
	n := d.Count(1)
	m.States = make([]LeaseState, n)
	for i := 0; i < n && d.Err() == nil; i++ {
		m.States[i] = LeaseState(d.U8())
		if m.States[i] > LeaseCommitted {
			d.Fail("lease state %d", m.States[i])
		}
	}
	return d.Finish()
}

// Remove takes a file out of the sender's listing (ppstore rm). Shards that
// no listed file references any more are deleted from their miners.
type Remove struct{ CID cid.Cid }

func (*Remove) Type() Type               { return TypeRemove }
func (m *Remove) Append(b []byte) []byte { e := Enc{B: b}; e.CID(m.CID); return e.B }
func (m *Remove) Decode(b []byte) error  { d := NewDec(b); m.CID = d.CID(); return d.Finish() }

// Removed answers Remove: whether the file itself went (no other owner lists
// it) and how many shards were freed with it.
type Removed struct {
	FileGone bool
	Shards   uint32
}

func (*Removed) Type() Type { return TypeRemoved }
func (m *Removed) Append(b []byte) []byte {
	e := Enc{B: b}
	e.Bool(m.FileGone)
	e.U32(m.Shards)
	return e.B
}
func (m *Removed) Decode(b []byte) error {
	d := NewDec(b)
	m.FileGone = d.Bool()
	m.Shards = d.U32()
	return d.Finish()
}

// DropShards tells a miner to delete its replicas of shards no file
// references any more. Only the region's indexer may send it. At most
// MaxLeaseBatch shards.
type DropShards struct{ Shards []cid.Cid }

func (*DropShards) Type() Type { return TypeDropShards }
func (m *DropShards) Append(b []byte) []byte {
	e := Enc{B: b}
	appendCIDs(&e, m.Shards)
	return e.B
}
func (m *DropShards) Decode(b []byte) error {
	d := NewDec(b)
	m.Shards = decodeCIDs(d)
	if len(m.Shards) > MaxLeaseBatch {
		d.Fail("%d shards, at most %d", len(m.Shards), MaxLeaseBatch)
	}
	return d.Finish()
}

// Dropped answers DropShards with the number of replicas deleted (shards the
// miner did not hold are not counted).
type Dropped struct{ Count uint32 }

func (*Dropped) Type() Type               { return TypeDropped }
func (m *Dropped) Append(b []byte) []byte { e := Enc{B: b}; e.U32(m.Count); return e.B }
func (m *Dropped) Decode(b []byte) error  { d := NewDec(b); m.Count = d.U32(); return d.Finish() }

func appendCIDs(e *Enc, cs []cid.Cid) {
	e.U32(uint32(len(cs)))
	for _, c := range cs {
		e.CID(c)
	}
}

func decodeCIDs(d *Dec) []cid.Cid {
	n := d.Count(4)
	out := make([]cid.Cid, n)
	for i := 0; i < n && d.Err() == nil; i++ {
		out[i] = d.CID()
	}
	return out
}
