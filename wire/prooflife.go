package wire

import (
	"crypto/sha256"
	"encoding/binary"

	"github.com/ipfs/go-cid"
	"github.com/ppstore/ppstore/identity"
)

// Messages that carry a replica's proof status to the indexer and sign
// proof-of-spacetime responses (types 70-79).
//
// After a passed PoRep the region's verifier tells the indexer, which
// accepts the message only from the verifier registered at the bootstrap:
//
//	verifier --ReplicaProven{shard, miner, epoch}--> indexer --IndexUpdated--> verifier
//	verifier --ReplicaReplace{shard, failing, new, epoch}--> indexer --IndexUpdated--> verifier
//
// A miner ends its answer to a PoStChallenge with its signature over the
// round and the parts it sent:
//
//	verifier --PoStChallenge--> miner --PoStPart × n--> --PoStSignature--> verifier
const (
	TypeReplicaProven  Type = 70 // verifier → indexer
	TypeReplicaReplace Type = 71 // verifier → indexer
	TypeIndexUpdated   Type = 72
	TypePoStSignature  Type = 73 // miner → verifier, after the last PoStPart
)

// Codes of the proof status at the indexer.
const (
	// CodeReplicaCount refuses a change that would leave a shard with more
	// (or fewer) replicas than its file asked for: a replacement whose new
	// miner holds the shard already.
	CodeReplicaCount Code = 16
	// CodeNotCommitted refuses a PoRep (or a proof status) for a shard that
	// no committed file holds yet: the put has not committed, or the file
	// was removed. A miner retries such a PoRep soon.
	CodeNotCommitted Code = 25
)

// ErrReplicaCount and ErrNotCommitted match the codes above with errors.Is.
var (
	ErrReplicaCount = &Error{Code: CodeReplicaCount}
	ErrNotCommitted = &Error{Code: CodeNotCommitted}
)

func init() {
	codeNames[CodeReplicaCount] = "replica count"
	codeNames[CodeNotCommitted] = "not committed"
	typeNames[TypeReplicaProven] = "ReplicaProven"
	typeNames[TypeReplicaReplace] = "ReplicaReplace"
	typeNames[TypeIndexUpdated] = "IndexUpdated"
	typeNames[TypePoStSignature] = "PoStSignature"
}

// newProofLife returns an empty message of one of the types above, or nil.
func newProofLife(t Type) Message {
	switch t {
	case TypeReplicaProven:
		return new(ReplicaProven)
	case TypeReplicaReplace:
		return new(ReplicaReplace)
	case TypeIndexUpdated:
		return new(IndexUpdated)
	case TypePoStSignature:
		return new(PoStSignature)
	}
	return nil
}

// ReplicaProven tells the indexer that Miner's replica of Shard passed its
// PoRep in Epoch. The indexer refuses it (CodeNotCommitted) when no
// committed file holds the shard and (CodeNotHolder) when Miner is not a
// holder of it.
type ReplicaProven struct {
	Shard cid.Cid
	Miner identity.PeerID
	Epoch uint64
}

func (*ReplicaProven) Type() Type { return TypeReplicaProven }
func (m *ReplicaProven) Append(b []byte) []byte {
	e := Enc{B: b}
	e.CID(m.Shard)
	e.Peer(m.Miner)
	e.U64(m.Epoch)
	return e.B
}
func (m *ReplicaProven) Decode(b []byte) error {
	d := NewDec(b)
	m.Shard = d.CID()
	m.Miner = d.Peer()
	m.Epoch = d.U64()
	return d.Finish()
}

// ReplicaReplace tells the indexer that New's replica of Shard, copied by
// a repair, passed its PoRep in Epoch, and that it replaces Failing's: in
// one durable step Failing stops being a holder (its replica is queued for
// deletion), New becomes one, proven in Epoch (which also confirms New's
// lease on the replica). Refused: CodeNotCommitted (no committed file holds
// the shard), CodeNotHolder (Failing does not hold it), CodeReplicaCount
// (New holds it already: the shard would lose a replica), CodeReclaimed
// (New was told to reclaim its copy), CodeUnauthorized (New is not a miner
// of the region).
type ReplicaReplace struct {
	Shard   cid.Cid
	Failing identity.PeerID
	New     identity.PeerID
	Epoch   uint64
}

func (*ReplicaReplace) Type() Type { return TypeReplicaReplace }
func (m *ReplicaReplace) Append(b []byte) []byte {
	e := Enc{B: b}
	e.CID(m.Shard)
	e.Peer(m.Failing)
	e.Peer(m.New)
	e.U64(m.Epoch)
	return e.B
}
func (m *ReplicaReplace) Decode(b []byte) error {
	d := NewDec(b)
	m.Shard = d.CID()
	m.Failing = d.Peer()
	m.New = d.Peer()
	m.Epoch = d.U64()
	return d.Finish()
}

// IndexUpdated answers ReplicaProven and ReplicaReplace: the shard's
// number of holders and how many of them are proven, after the change.
type IndexUpdated struct {
	Replicas uint32
	Proven   uint32
}

func (*IndexUpdated) Type() Type { return TypeIndexUpdated }
func (m *IndexUpdated) Append(b []byte) []byte {
	e := Enc{B: b}
	e.U32(m.Replicas)
	e.U32(m.Proven)
	return e.B
}
func (m *IndexUpdated) Decode(b []byte) error {
	d := NewDec(b)
	m.Replicas = d.U32()
	m.Proven = d.U32()
	return d.Finish()
}

// PoStSignature ends a miner's answer to one PoStChallenge stream: its
// ed25519 signature (the key its peer ID carries) over PoStSigningBytes of
// the round, the verifier it answers and PoStDigest of the parts it sent
// on the stream. A recorded response is thereby the miner's: the verifier
// cannot forge or alter one, nor reuse one of another round or miner.
type PoStSignature struct {
	Sig []byte
}

func (*PoStSignature) Type() Type { return TypePoStSignature }
func (m *PoStSignature) Append(b []byte) []byte {
	e := Enc{B: b}
	e.Bytes(m.Sig)
	return e.B
}
func (m *PoStSignature) Decode(b []byte) error {
	d := NewDec(b)
	m.Sig = d.Bytes()
	if d.Err() == nil && len(m.Sig) > 64 {
		d.Fail("signature of %d bytes, want 64", len(m.Sig))
	}
	return d.Finish()
}

// PoStDigest hashes the response parts of one challenge stream, in order:
// SHA-256 over (len(4) ‖ part) for each part.
func PoStDigest(parts [][]byte) [32]byte {
	h := sha256.New()
	var n [4]byte
	for _, p := range parts {
		binary.BigEndian.PutUint32(n[:], uint32(len(p)))
		h.Write(n[:])
		h.Write(p)
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

const postSigDomain = "ppstore/post-response/v1"

// PoStSigningBytes is what a miner signs for a response: the domain
// "ppstore/post-response/v1" ‖ epoch(8) ‖ seed(32) ‖ verifier peer (4-byte
// length ‖ bytes) ‖ digest(32), digest being PoStDigest of the parts.
func PoStSigningBytes(epoch uint64, seed [32]byte, verifier identity.PeerID, digest [32]byte) []byte {
	e := Enc{B: []byte(postSigDomain)}
	e.U64(epoch)
	e.Digest(seed)
	e.Peer(verifier)
	e.Digest(digest)
	return e.B
}

// SignPoSt returns key's signature of a response (see PoStSigningBytes).
func SignPoSt(key *identity.Key, epoch uint64, seed [32]byte, verifier identity.PeerID, parts [][]byte) []byte {
	return key.Sign(PoStSigningBytes(epoch, seed, verifier, PoStDigest(parts)))
}

// VerifyPoSt reports whether sig is miner's signature of parts as its
// answer to verifier's round (epoch, seed).
func VerifyPoSt(miner identity.PeerID, sig []byte, epoch uint64, seed [32]byte, verifier identity.PeerID, parts [][]byte) bool {
	return !miner.IsZero() && miner.Verify(PoStSigningBytes(epoch, seed, verifier, PoStDigest(parts)), sig)
}
