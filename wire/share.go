package wire

import "github.com/ipfs/go-cid"

// Share codes and private files (types 110-119, codes 28-31). The capability
// and revocation formats are package sharecode's; these messages carry them as
// bytes.
const (
	TypeMarkPrivate     Type = 110
	TypeMarked          Type = 111
	TypeGetSharedPiece  Type = 112
	TypeRevoke          Type = 113
	TypeRevoked         Type = 114
	TypeListRevocations Type = 115
	TypeRevocationList  Type = 116
)

// Errors of share codes. A miner or client refusing a code says which check failed.
const (
	CodeShareExpired Code = 28 // the code's expiry has passed: ask its owner for a new one
	CodeShareForged  Code = 29 // the signature does not verify, or the signer does not own the file
	CodeShareRevoked Code = 30 // the owner revoked the code (ppstore unshare)
	CodeShareDenied  Code = 31 // a private file, and no code grants it to this peer
)

// Sentinels of the share codes.
var (
	ErrShareExpired = &Error{Code: CodeShareExpired}
	ErrShareForged  = &Error{Code: CodeShareForged}
	ErrShareRevoked = &Error{Code: CodeShareRevoked}
	ErrShareDenied  = &Error{Code: CodeShareDenied}
)

func init() {
	codeNames[CodeShareExpired] = "share code expired"
	codeNames[CodeShareForged] = "share code forged or altered"
	codeNames[CodeShareRevoked] = "share code revoked"
	codeNames[CodeShareDenied] = "access denied"
	for t, n := range map[Type]string{
		TypeMarkPrivate: "MarkPrivate", TypeMarked: "Marked", TypeGetSharedPiece: "GetSharedPiece",
		TypeRevoke: "Revoke", TypeRevoked: "Revoked", TypeListRevocations: "ListRevocations", TypeRevocationList: "RevocationList",
	} {
		typeNames[t] = n
	}
}

// newShareMessage returns an empty message of one of the share types, or nil.
func newShareMessage(t Type) Message {
	switch t {
	case TypeMarkPrivate:
		return new(MarkPrivate)
	case TypeMarked:
		return new(Marked)
	case TypeGetSharedPiece:
		return new(GetSharedPiece)
	case TypeRevoke:
		return new(Revoke)
	case TypeRevoked:
		return new(Revoked)
	case TypeListRevocations:
		return new(ListRevocations)
	case TypeRevocationList:
		return new(RevocationList)
	}
	return nil
}

// MaxMarkShards is the most shards one MarkPrivate names.
const MaxMarkShards = 4096

// MarkPrivate tells a miner that shards it holds for the sender belong to
// the sender's private file File: from then on it serves their pieces only
// to the sender or with a share code the sender signed for File. The sender
// (authenticated by the transport) must be the shards' only owner at the miner.
type MarkPrivate struct {
	File   cid.Cid
	Shards []cid.Cid
}

func (*MarkPrivate) Type() Type { return TypeMarkPrivate }
func (m *MarkPrivate) Append(b []byte) []byte {
	e := Enc{B: b}
	e.CID(m.File)
	e.U32(uint32(len(m.Shards)))
	for _, c := range m.Shards {
		e.CID(c)
	}
	return e.B
}
func (m *MarkPrivate) Decode(b []byte) error {
	d := NewDec(b)
	m.File = d.CID()
	n := d.Count(4)
	if n > MaxMarkShards {
		d.Fail("%d shards, at most %d", n, MaxMarkShards)
	}
	m.Shards = make([]cid.Cid, 0, min(n, MaxMarkShards))
	for i := 0; i < n && d.Err() == nil; i++ {
		m.Shards = append(m.Shards, d.CID())
	}
	return d.Finish()
}

// Marked answers MarkPrivate once the marks are durable.
type Marked struct{}

func (*Marked) Type() Type               { return TypeMarked }
func (m *Marked) Append(b []byte) []byte { return b }
func (m *Marked) Decode(b []byte) error  { return NewDec(b).Finish() }

// GetSharedPiece is GetPiece with a share code's capability: the signed
// grant without the file key (sharecode.Grant's encoding). It is answered
// like GetPiece, or refused with one of the share codes' errors.
type GetSharedPiece struct {
	Grant []byte
	GetPiece
}

func (*GetSharedPiece) Type() Type { return TypeGetSharedPiece }
func (m *GetSharedPiece) Append(b []byte) []byte {
	e := Enc{B: b}
	e.Bytes(m.Grant)
	return m.GetPiece.Append(e.B)
}
func (m *GetSharedPiece) Decode(b []byte) error {
	d := NewDec(b)
	m.Grant = d.Bytes()
	m.Shard = d.CID()
	m.Index = d.U32()
	m.Count = d.U32()
	return d.Finish()
}

// Revoke asks the indexer to record a signed revocation
// (sharecode.Revocation's encoding) for the region's miners to fetch.
type Revoke struct{ Revocation []byte }

func (*Revoke) Type() Type               { return TypeRevoke }
func (m *Revoke) Append(b []byte) []byte { e := Enc{B: b}; e.Bytes(m.Revocation); return e.B }
func (m *Revoke) Decode(b []byte) error {
	d := NewDec(b)
	m.Revocation = d.Bytes()
	return d.Finish()
}

// Revoked answers Revoke with the revocation's sequence number at the indexer.
type Revoked struct{ Seq uint64 }

func (*Revoked) Type() Type               { return TypeRevoked }
func (m *Revoked) Append(b []byte) []byte { e := Enc{B: b}; e.U64(m.Seq); return e.B }
func (m *Revoked) Decode(b []byte) error  { d := NewDec(b); m.Seq = d.U64(); return d.Finish() }

// ListRevocations asks for the revocations recorded after sequence number After.
type ListRevocations struct{ After uint64 }

func (*ListRevocations) Type() Type               { return TypeListRevocations }
func (m *ListRevocations) Append(b []byte) []byte { e := Enc{B: b}; e.U64(m.After); return e.B }
func (m *ListRevocations) Decode(b []byte) error {
	d := NewDec(b)
	m.After = d.U64()
	return d.Finish()
}

// MaxRevocationsPerList bounds a RevocationList (each is under 200 bytes).
const MaxRevocationsPerList = 2048

// RevocationList answers ListRevocations: revocations in sequence order,
// Last the sequence number of the last one listed (After if none), More
// whether more follow.
type RevocationList struct {
	Revocations [][]byte
	Last        uint64
	More        bool
}

func (*RevocationList) Type() Type { return TypeRevocationList }
func (m *RevocationList) Append(b []byte) []byte {
	e := Enc{B: b}
	e.U32(uint32(len(m.Revocations)))
	for _, r := range m.Revocations {
		e.Bytes(r)
	}
	e.U64(m.Last)
	e.Bool(m.More)
	return e.B
}
func (m *RevocationList) Decode(b []byte) error {
	d := NewDec(b)
	n := d.Count(4)
	if n > MaxRevocationsPerList {
		d.Fail("%d revocations, at most %d", n, MaxRevocationsPerList)
	}
	m.Revocations = make([][]byte, 0, min(n, MaxRevocationsPerList))
	for i := 0; i < n && d.Err() == nil; i++ {
		m.Revocations = append(m.Revocations, d.Bytes())
	}
	m.Last = d.U64()
	m.More = d.Bool()
	return d.Finish()
}
