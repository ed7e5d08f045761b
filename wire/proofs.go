package wire

import (
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ppstore/ppstore/identity"
)

// Messages of the proofs of storage (types 60-79; package proofs defines the
// proofs themselves, carried here as their canonical encodings).
//
// Proof of replication, one stream from a miner to the verifier after the
// miner sealed a shard:
//
//	miner --SealCommit--> verifier --PoRepChallenge--> miner --PoRepPart × K--> verifier --PoRepResult--> miner
//
// Proof of spacetime, one stream from the verifier to a miner per round:
//
//	verifier --PoStChallenge--> miner --PoStPart × n (the last with Last set)--> verifier
const (
	TypeSealCommit     Type = 60
	TypePoRepChallenge Type = 61
	TypePoRepPart      Type = 62
	TypePoRepResult    Type = 63
	TypePoStChallenge  Type = 64
	TypePoStPart       Type = 65
	TypeProofStatus    Type = 66
	TypeProofStates    Type = 67
	TypeRepairShard    Type = 68
	TypeRepairDone     Type = 69
)

// Error codes of the proofs (17-20).
const (
	CodeBadProof  Code = 17 // a proof did not verify
	CodeLate      Code = 18 // a response came after its deadline
	CodeStale     Code = 19 // a response answers another round
	CodeNotHolder Code = 20 // the replica is not this miner's (or is unknown)
)

// Sentinels for the proofs' codes, for errors.Is.
var (
	ErrBadProof  = &Error{Code: CodeBadProof}
	ErrLate      = &Error{Code: CodeLate}
	ErrStale     = &Error{Code: CodeStale}
	ErrNotHolder = &Error{Code: CodeNotHolder}
)

func init() {
	for t, n := range map[Type]string{TypeSealCommit: "SealCommit", TypePoRepChallenge: "PoRepChallenge",
		TypePoRepPart: "PoRepPart", TypePoRepResult: "PoRepResult", TypePoStChallenge: "PoStChallenge", TypePoStPart: "PoStPart",
		TypeProofStatus: "ProofStatus", TypeProofStates: "ProofStates", TypeRepairShard: "RepairShard", TypeRepairDone: "RepairDone"} {
		typeNames[t] = n
	}
	codeNames[CodeBadProof] = "bad proof"
	codeNames[CodeLate] = "late"
	codeNames[CodeStale] = "stale round"
	codeNames[CodeNotHolder] = "not the holder"
}

// newProofsMessage returns an empty message of one of the types above.
func newProofsMessage(t Type) Message {
	switch t {
	case TypeSealCommit:
		return new(SealCommit)
	case TypePoRepChallenge:
		return new(PoRepChallenge)
	case TypePoRepPart:
		return new(PoRepPart)
	case TypePoRepResult:
		return new(PoRepResult)
	case TypePoStChallenge:
		return new(PoStChallenge)
	case TypePoStPart:
		return new(PoStPart)
	case TypeProofStatus:
		return new(ProofStatus)
	case TypeProofStates:
		return new(ProofStates)
	case TypeRepairShard:
		return new(RepairShard)
	case TypeRepairDone:
		return new(RepairDone)
	}
	return nil
}

// SealCommit announces a sealed replica: the shard (its CID carries commD),
// its sizes, the sealing layers and the replica's root commR.
type SealCommit struct {
	Shard     cid.Cid
	Size      uint64
	PieceSize uint32
	Layers    uint32
	CommR     [32]byte
}

func (*SealCommit) Type() Type { return TypeSealCommit }
func (m *SealCommit) Append(b []byte) []byte {
	e := Enc{B: b}
	e.CID(m.Shard)
	e.U64(m.Size)
	e.U32(m.PieceSize)
	e.U32(m.Layers)
	e.Digest(m.CommR)
	return e.B
}
func (m *SealCommit) Decode(b []byte) error {
	d := NewDec(b)
	m.Shard = d.CID()
	m.Size = d.U64()
	m.PieceSize = d.U32()
	m.Layers = d.U32()
	m.CommR = d.Digest()
	return d.Finish()
}

// PoRepChallenge is the verifier's fresh randomness for a PoRep and the
// number of PoRepPart messages it expects.
type PoRepChallenge struct {
	Seed  [32]byte
	Parts uint32
}

func (*PoRepChallenge) Type() Type { return TypePoRepChallenge }
func (m *PoRepChallenge) Append(b []byte) []byte {
	e := Enc{B: b}
	e.Digest(m.Seed)
	e.U32(m.Parts)
	return e.B
}
func (m *PoRepChallenge) Decode(b []byte) error {
	d := NewDec(b)
	m.Seed = d.Digest()
	m.Parts = d.U32()
	return d.Finish()
}

// PoRepPart carries one opening of a PoRep: a proofs.PoRepProof encoding
// with one opening (proofs.ParsePoRepProof parses it).
type PoRepPart struct {
	Proof []byte
}

func (*PoRepPart) Type() Type { return TypePoRepPart }
func (m *PoRepPart) Append(b []byte) []byte {
	e := Enc{B: b}
	e.Bytes(m.Proof)
	return e.B
}
func (m *PoRepPart) Decode(b []byte) error {
	d := NewDec(b)
	m.Proof = d.Bytes()
	return d.Finish()
}

// PoRepResult accepts a PoRep: the replica is proven from Epoch on. A
// refused PoRep is answered with an Error frame (CodeBadProof, ...).
type PoRepResult struct {
	Epoch uint64
}

func (*PoRepResult) Type() Type { return TypePoRepResult }
func (m *PoRepResult) Append(b []byte) []byte {
	e := Enc{B: b}
	e.U64(m.Epoch)
	return e.B
}
func (m *PoRepResult) Decode(b []byte) error {
	d := NewDec(b)
	m.Epoch = d.U64()
	return d.Finish()
}

// MaxPoStShards bounds the replicas one PoStChallenge asks about; a round
// asks a miner holding more on several streams.
const MaxPoStShards = 4096

// PoStChallenge opens a round for one miner: the epoch, its randomness,
// the deadline (unix milliseconds) and the shards whose replicas to prove.
type PoStChallenge struct {
	Epoch    uint64
	Seed     [32]byte
	Deadline uint64
	Shards   []cid.Cid
}

// DeadlineTime returns Deadline as a time.
func (m *PoStChallenge) DeadlineTime() time.Time { return time.UnixMilli(int64(m.Deadline)) }

func (*PoStChallenge) Type() Type { return TypePoStChallenge }
func (m *PoStChallenge) Append(b []byte) []byte {
	e := Enc{B: b}
	e.U64(m.Epoch)
	e.Digest(m.Seed)
	e.U64(m.Deadline)
	e.U32(uint32(len(m.Shards)))
	for _, c := range m.Shards {
		e.CID(c)
	}
	return e.B
}
func (m *PoStChallenge) Decode(b []byte) error {
	d := NewDec(b)
	m.Epoch = d.U64()
	m.Seed = d.Digest()
	m.Deadline = d.U64()
	n := d.Count(5)
	if n > MaxPoStShards {
		d.Fail("%d shards in one challenge, at most %d", n, MaxPoStShards)
	}
	if d.Err() == nil {
		m.Shards = make([]cid.Cid, n)
		for i := range m.Shards {
			m.Shards[i] = d.CID()
			if d.Err() == nil && !m.Shards[i].Defined() {
				d.Fail("undefined shard CID")
			}
		}
	}
	return d.Finish()
}

// PoStPart carries part of a miner's response to a round: a
// proofs.PoStResponse encoding (proofs.ParsePoStResponse parses it). Last
// marks the final part.
type PoStPart struct {
	Last     bool
	Response []byte
}

func (*PoStPart) Type() Type { return TypePoStPart }
func (m *PoStPart) Append(b []byte) []byte {
	e := Enc{B: b}
	e.Bool(m.Last)
	e.Bytes(m.Response)
	return e.B
}
func (m *PoStPart) Decode(b []byte) error {
	d := NewDec(b)
	m.Last = d.Bool()
	m.Response = d.Bytes()
	return d.Finish()
}

// ProofStatus asks the verifier for the proof state of every replica of
// the given shards (`ppstore stat`).
type ProofStatus struct {
	Shards []cid.Cid
}

func (*ProofStatus) Type() Type { return TypeProofStatus }
func (m *ProofStatus) Append(b []byte) []byte {
	e := Enc{B: b}
	e.U32(uint32(len(m.Shards)))
	for _, c := range m.Shards {
		e.CID(c)
	}
	return e.B
}
func (m *ProofStatus) Decode(b []byte) error {
	d := NewDec(b)
	n := d.Count(5)
	if n > MaxPoStShards {
		d.Fail("%d shards in one status request, at most %d", n, MaxPoStShards)
	}
	if d.Err() == nil {
		m.Shards = make([]cid.Cid, n)
		for i := range m.Shards {
			m.Shards[i] = d.CID()
		}
	}
	return d.Finish()
}

// Proof states of a replica at the verifier.
const (
	ProofProven    = 1 // PoRep passed, no miss since the last pass
	ProofFailing   = 2 // missed the last round(s)
	ProofRepairing = 3 // missed too many rounds in a row: reported for repair
)

// ReplicaProof is the verifier's record of one replica.
type ReplicaProof struct {
	Miner    identity.PeerID
	State    uint8  // ProofProven, ProofFailing, ProofRepairing
	Proven   uint64 // epoch of the passed PoRep
	LastPass uint64 // epoch of the last passed PoSt (0: none yet)
	Misses   uint32 // rounds missed in a row
}

// ProofStates answers ProofStatus: per shard asked, in order, its replicas
// the verifier knows.
type ProofStates struct {
	Shards [][]ReplicaProof
}

func (*ProofStates) Type() Type { return TypeProofStates }
func (m *ProofStates) Append(b []byte) []byte {
	e := Enc{B: b}
	e.U32(uint32(len(m.Shards)))
	for _, rs := range m.Shards {
		e.U32(uint32(len(rs)))
		for _, r := range rs {
			e.Peer(r.Miner)
			e.U8(r.State)
			e.U64(r.Proven)
			e.U64(r.LastPass)
			e.U32(r.Misses)
		}
	}
	return e.B
}
func (m *ProofStates) Decode(b []byte) error {
	d := NewDec(b)
	n := d.Count(4)
	m.Shards = make([][]ReplicaProof, n)
	for i := 0; i < n && d.Err() == nil; i++ {
		k := d.Count(4 + 1 + 8 + 8 + 4)
		rs := make([]ReplicaProof, k)
		for j := 0; j < k && d.Err() == nil; j++ {
			rs[j] = ReplicaProof{Miner: d.Peer(), State: d.U8(), Proven: d.U64(), LastPass: d.U64(), Misses: d.U32()}
		}
		m.Shards[i] = rs
	}
	return d.Finish()
}

// RepairShard asks a miner (from the verifier only) to copy a shard from
// another miner that holds a healthy replica, checking every piece against
// the shard's root (commD), then to store, seal and prove it.
type RepairShard struct {
	Shard     cid.Cid
	Size      uint64
	PieceSize uint32
	Source    NodeAddr
}

func (*RepairShard) Type() Type { return TypeRepairShard }
func (m *RepairShard) Append(b []byte) []byte {
	e := Enc{B: b}
	e.CID(m.Shard)
	e.U64(m.Size)
	e.U32(m.PieceSize)
	m.Source.append(&e)
	return e.B
}
func (m *RepairShard) Decode(b []byte) error {
	d := NewDec(b)
	m.Shard = d.CID()
	m.Size = d.U64()
	m.PieceSize = d.U32()
	m.Source.decode(d)
	return d.Finish()
}

// RepairDone answers RepairShard: the shard is stored durably (sealing and
// its PoRep follow).
type RepairDone struct{}

func (*RepairDone) Type() Type               { return TypeRepairDone }
func (m *RepairDone) Append(b []byte) []byte { return b }
func (m *RepairDone) Decode(b []byte) error  { return NewDec(b).Finish() }
