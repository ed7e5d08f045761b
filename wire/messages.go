package wire

import (
	"fmt"
	"strings"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ppstore/ppstore/identity"
)

// Role is what a node does in a region.
type Role uint8

const (
	RoleBootstrap Role = 1
	RoleIndexer   Role = 2
	RoleMiner     Role = 3
	RoleVerifier  Role = 4
	RoleZkStore   Role = 5
	RoleClient    Role = 6
)

var roleNames = map[Role]string{RoleBootstrap: "bootstrap", RoleIndexer: "indexer", RoleMiner: "miner",
	RoleVerifier: "verifier", RoleZkStore: "zkstore", RoleClient: "client"}

func (r Role) String() string {
	if s, ok := roleNames[r]; ok {
		return s
	}
	return fmt.Sprintf("role(%d)", uint8(r))
}

// ParseRole parses a role name.
func ParseRole(s string) (Role, error) {
	for r, n := range roleNames {
		if strings.EqualFold(n, s) {
			return r, nil
		}
	}
	return 0, fmt.Errorf("unknown role %q", s)
}

// Ping asks a node whether it is up.
type Ping struct{ Nonce uint64 }

func (*Ping) Type() Type               { return TypePing }
func (m *Ping) Append(b []byte) []byte { e := Enc{B: b}; e.U64(m.Nonce); return e.B }
func (m *Ping) Decode(b []byte) error  { d := NewDec(b); m.Nonce = d.U64(); return d.Finish() }

// Pong answers a Ping.
type Pong struct {
	Nonce uint64
	Role  Role
}

func (*Pong) Type() Type { return TypePong }
func (m *Pong) Append(b []byte) []byte {
	e := Enc{B: b}
	e.U64(m.Nonce)
	e.U8(uint8(m.Role))
	return e.B
}
func (m *Pong) Decode(b []byte) error {
	d := NewDec(b)
	m.Nonce = d.U64()
	m.Role = Role(d.U8())
	return d.Finish()
}

// ---- bootstrap ----

// NodeRecord is a node's signed, expiring self-description. The node signs it
// with its own key; the peer ID carries the public key, so anyone can check it.
type NodeRecord struct {
	Role     Role
	Peer     identity.PeerID
	Region   string
	Addrs    []string // host:port of the node's QUIC listener
	Free     uint64   // miners: bytes free for new shards
	Capacity uint64   // miners: bytes offered in all
	Seq      uint64   // increases with every refresh; a lower Seq never replaces a higher one
	Expires  uint64   // unix seconds
	Sig      []byte
}

const recordDomain = "ppstore/record/v1\x00"

func (r *NodeRecord) appendBody(b []byte) []byte {
	e := Enc{B: b}
	e.U8(uint8(r.Role))
	e.Peer(r.Peer)
	e.String(r.Region)
	e.StringList(r.Addrs)
	e.U64(r.Free)
	e.U64(r.Capacity)
	e.U64(r.Seq)
	e.U64(r.Expires)
	return e.B
}

// SigningBytes is what the node signs.
func (r *NodeRecord) SigningBytes() []byte { return r.appendBody([]byte(recordDomain)) }

// Sign fills Peer and Sig from key.
func (r *NodeRecord) Sign(key *identity.Key) {
	r.Peer = key.ID()
	r.Sig = key.Sign(r.SigningBytes())
}

// Verify checks the signature and that the record has not expired at now.
func (r *NodeRecord) Verify(now time.Time) error {
	if r.Peer.IsZero() || !r.Peer.Verify(r.SigningBytes(), r.Sig) {
		return Errorf(CodeUnauthorized, "record of %v: bad signature", r.Peer)
	}
	if uint64(now.Unix()) >= r.Expires {
		return Errorf(CodeBadRequest, "record of %v expired at %v", r.Peer, time.Unix(int64(r.Expires), 0).UTC())
	}
	return nil
}

func (r *NodeRecord) append(e *Enc) { e.B = r.appendBody(e.B); e.Bytes(r.Sig) }
func (r *NodeRecord) decode(d *Dec) {
	r.Role = Role(d.U8())
	r.Peer = d.Peer()
	r.Region = d.String()
	r.Addrs = d.StringList()
	r.Free = d.U64()
	r.Capacity = d.U64()
	r.Seq = d.U64()
	r.Expires = d.U64()
	r.Sig = d.Bytes()
}

// Register publishes the sender's record; the record's peer must be the sender.
type Register struct{ Record NodeRecord }

func (*Register) Type() Type               { return TypeRegister }
func (m *Register) Append(b []byte) []byte { e := Enc{B: b}; m.Record.append(&e); return e.B }
func (m *Register) Decode(b []byte) error  { d := NewDec(b); m.Record.decode(d); return d.Finish() }

// Registered acknowledges a Register.
type Registered struct{ Expires uint64 }

func (*Registered) Type() Type               { return TypeRegistered }
func (m *Registered) Append(b []byte) []byte { e := Enc{B: b}; e.U64(m.Expires); return e.B }
func (m *Registered) Decode(b []byte) error  { d := NewDec(b); m.Expires = d.U64(); return d.Finish() }

// ListNodes asks for the live records of a role (0: all roles).
type ListNodes struct{ Role Role }

func (*ListNodes) Type() Type               { return TypeListNodes }
func (m *ListNodes) Append(b []byte) []byte { e := Enc{B: b}; e.U8(uint8(m.Role)); return e.B }
func (m *ListNodes) Decode(b []byte) error  { d := NewDec(b); m.Role = Role(d.U8()); return d.Finish() }

// NodeList answers ListNodes.
type NodeList struct{ Records []NodeRecord }

func (*NodeList) Type() Type { return TypeNodeList }
func (m *NodeList) Append(b []byte) []byte {
	e := Enc{B: b}
	e.U32(uint32(len(m.Records)))
	for i := range m.Records {
		m.Records[i].append(&e)
	}
	return e.B
}
func (m *NodeList) Decode(b []byte) error {
	d := NewDec(b)
	n := d.Count(40)
	m.Records = make([]NodeRecord, n)
	for i := 0; i < n && d.Err() == nil; i++ {
		m.Records[i].decode(d)
	}
	return d.Finish()
}

// ---- indexer ----

// NodeAddr is where to reach a peer.
type NodeAddr struct {
	Peer identity.PeerID
	Addr string
}

func (a *NodeAddr) append(e *Enc) { e.Peer(a.Peer); e.String(a.Addr) }
func (a *NodeAddr) decode(d *Dec) { a.Peer = d.Peer(); a.Addr = d.String() }

func appendAddrs(e *Enc, as []NodeAddr) {
	e.U32(uint32(len(as)))
	for i := range as {
		as[i].append(e)
	}
}

func decodeAddrs(d *Dec) []NodeAddr {
	n := d.Count(8)
	out := make([]NodeAddr, n)
	for i := 0; i < n && d.Err() == nil; i++ {
		out[i].decode(d)
	}
	return out
}

func appendPeers(e *Enc, ps []identity.PeerID) {
	e.U32(uint32(len(ps)))
	for _, p := range ps {
		e.Peer(p)
	}
}

func decodePeers(d *Dec) []identity.PeerID {
	n := d.Count(4)
	out := make([]identity.PeerID, n)
	for i := 0; i < n && d.Err() == nil; i++ {
		out[i] = d.Peer()
	}
	return out
}

// Place asks the indexer for Count chains of Replicas distinct miners, each
// with room for ShardSize bytes, avoiding the Exclude list.
type Place struct {
	Replicas  uint8
	ShardSize uint64
	Count     uint32
	Exclude   []identity.PeerID
}

func (*Place) Type() Type { return TypePlace }
func (m *Place) Append(b []byte) []byte {
	e := Enc{B: b}
	e.U8(m.Replicas)
	e.U64(m.ShardSize)
	e.U32(m.Count)
	appendPeers(&e, m.Exclude)
	return e.B
}
func (m *Place) Decode(b []byte) error {
	d := NewDec(b)
	m.Replicas = d.U8()
	m.ShardSize = d.U64()
	m.Count = d.U32()
	m.Exclude = decodePeers(d)
	return d.Finish()
}

// Placement answers Place: one chain of miners per shard, first miner first.
type Placement struct{ Chains [][]NodeAddr }

func (*Placement) Type() Type { return TypePlacement }
func (m *Placement) Append(b []byte) []byte {
	e := Enc{B: b}
	e.U32(uint32(len(m.Chains)))
	for _, c := range m.Chains {
		appendAddrs(&e, c)
	}
	return e.B
}
func (m *Placement) Decode(b []byte) error {
	d := NewDec(b)
	n := d.Count(4)
	m.Chains = make([][]NodeAddr, n)
	for i := 0; i < n && d.Err() == nil; i++ {
		m.Chains[i] = decodeAddrs(d)
	}
	return d.Finish()
}

// Receipt is a miner's signed statement that it holds a shard durably for Owner.
type Receipt struct {
	Miner  identity.PeerID
	Shard  cid.Cid
	Size   uint64
	Owner  identity.PeerID
	Stored uint64 // unix seconds
	Sig    []byte
}

const receiptDomain = "ppstore/receipt/v1\x00"

// SigningBytes is what the miner signs.
func (r *Receipt) SigningBytes() []byte {
	e := Enc{B: []byte(receiptDomain)}
	e.Peer(r.Miner)
	e.CID(r.Shard)
	e.U64(r.Size)
	e.Peer(r.Owner)
	e.U64(r.Stored)
	return e.B
}

// Sign fills Miner and Sig from key.
func (r *Receipt) Sign(key *identity.Key) {
	r.Miner = key.ID()
	r.Sig = key.Sign(r.SigningBytes())
}

// Verify checks the miner's signature.
func (r *Receipt) Verify() error {
	if r.Miner.IsZero() || !r.Miner.Verify(r.SigningBytes(), r.Sig) {
		return Errorf(CodeUnauthorized, "receipt from %v for %v: bad signature", r.Miner, r.Shard)
	}
	return nil
}

func (r *Receipt) append(e *Enc) {
	e.B = append(e.B, r.SigningBytes()[len(receiptDomain):]...)
	e.Bytes(r.Sig)
}
func (r *Receipt) decode(d *Dec) {
	r.Miner = d.Peer()
	r.Shard = d.CID()
	r.Size = d.U64()
	r.Owner = d.Peer()
	r.Stored = d.U64()
	r.Sig = d.Bytes()
}

func appendReceipts(e *Enc, rs []Receipt) {
	e.U32(uint32(len(rs)))
	for i := range rs {
		rs[i].append(e)
	}
}

// minReceiptLen is the fewest bytes a Receipt encodes to.
const minReceiptLen = 36

func decodeReceipts(d *Dec) []Receipt {
	n := d.Count(minReceiptLen)
	out := make([]Receipt, n)
	for i := 0; i < n && d.Err() == nil; i++ {
		out[i].decode(d)
	}
	return out
}

// Commit records a stored file: its manifest, a name for listings, and per
// shard the receipts of the miners that hold it. The sender becomes the owner.
type Commit struct {
	Manifest []byte
	Name     string
	Receipts [][]Receipt
}

func (*Commit) Type() Type { return TypeCommit }
func (m *Commit) Append(b []byte) []byte {
	e := Enc{B: b}
	e.Bytes(m.Manifest)
	e.String(m.Name)
	e.U32(uint32(len(m.Receipts)))
	for _, rs := range m.Receipts {
		appendReceipts(&e, rs)
	}
	return e.B
}
func (m *Commit) Decode(b []byte) error {
	d := NewDec(b)
	m.Manifest = d.Bytes()
	m.Name = d.String()
	// A shard's list may be empty (the region holds the shard already), but
	// every shard has a 32-byte root in the manifest: more lists than that
	// are malformed, so the lists' headers cost no more memory than the
	// manifest that announces them.
	n := d.Count(4)
	if n > len(m.Manifest)/32 {
		d.Fail("%d receipt lists for a manifest of %d bytes", n, len(m.Manifest))
		n = 0
	}
	m.Receipts = make([][]Receipt, n)
	for i := 0; i < n && d.Err() == nil; i++ {
		m.Receipts[i] = decodeReceipts(d)
	}
	return d.Finish()
}

// Committed answers Commit with the file's CID.
type Committed struct{ CID cid.Cid }

func (*Committed) Type() Type               { return TypeCommitted }
func (m *Committed) Append(b []byte) []byte { e := Enc{B: b}; e.CID(m.CID); return e.B }
func (m *Committed) Decode(b []byte) error  { d := NewDec(b); m.CID = d.CID(); return d.Finish() }

// Locate asks where every shard of a file lives.
type Locate struct{ CID cid.Cid }

func (*Locate) Type() Type               { return TypeLocate }
func (m *Locate) Append(b []byte) []byte { e := Enc{B: b}; e.CID(m.CID); return e.B }
func (m *Locate) Decode(b []byte) error  { d := NewDec(b); m.CID = d.CID(); return d.Finish() }

// ReplicaStatus is the indexer's view of one replica.
type ReplicaStatus uint8

const (
	StatusStored  ReplicaStatus = 1 // receipt accepted
	StatusProven  ReplicaStatus = 2 // proof of replication passed
	StatusFailing ReplicaStatus = 3 // missed proofs; being repaired
)

func (s ReplicaStatus) String() string {
	switch s {
	case StatusStored:
		return "stored"
	case StatusProven:
		return "proven"
	case StatusFailing:
		return "failing"
	}
	return fmt.Sprintf("status(%d)", uint8(s))
}

// Replica is one miner's copy of a shard.
type Replica struct {
	NodeAddr
	Status ReplicaStatus
}

// Location answers Locate: the manifest (whose hash the client checks against
// the CID it asked for) and per shard its replicas.
type Location struct {
	Manifest []byte
	Shards   [][]Replica
}

func (*Location) Type() Type { return TypeLocation }
func (m *Location) Append(b []byte) []byte {
	e := Enc{B: b}
	e.Bytes(m.Manifest)
	e.U32(uint32(len(m.Shards)))
	for _, rs := range m.Shards {
		e.U32(uint32(len(rs)))
		for i := range rs {
			rs[i].append(&e)
			e.U8(uint8(rs[i].Status))
		}
	}
	return e.B
}
func (m *Location) Decode(b []byte) error {
	d := NewDec(b)
	m.Manifest = d.Bytes()
	n := d.Count(4)
	m.Shards = make([][]Replica, n)
	for i := 0; i < n && d.Err() == nil; i++ {
		k := d.Count(9)
		rs := make([]Replica, k)
		for j := 0; j < k && d.Err() == nil; j++ {
			rs[j].decode(d)
			rs[j].Status = ReplicaStatus(d.U8())
		}
		m.Shards[i] = rs
	}
	return d.Finish()
}

// ListFiles asks for the files the sender owns.
type ListFiles struct{}

func (*ListFiles) Type() Type               { return TypeListFiles }
func (m *ListFiles) Append(b []byte) []byte { return b }
func (m *ListFiles) Decode(b []byte) error  { return NewDec(b).Finish() }

// FileEntry is one owned file.
type FileEntry struct {
	CID     cid.Cid
	Name    string
	Size    uint64
	Created uint64 // unix seconds
}

// FileList answers ListFiles.
type FileList struct{ Files []FileEntry }

func (*FileList) Type() Type { return TypeFileList }
func (m *FileList) Append(b []byte) []byte {
	e := Enc{B: b}
	e.U32(uint32(len(m.Files)))
	for _, f := range m.Files {
		e.CID(f.CID)
		e.String(f.Name)
		e.U64(f.Size)
		e.U64(f.Created)
	}
	return e.B
}
func (m *FileList) Decode(b []byte) error {
	d := NewDec(b)
	n := d.Count(24)
	m.Files = make([]FileEntry, n)
	for i := 0; i < n && d.Err() == nil; i++ {
		f := &m.Files[i]
		f.CID = d.CID()
		f.Name = d.String()
		f.Size = d.U64()
		f.Created = d.U64()
	}
	return d.Finish()
}

// ---- miner ----

// StoreShard opens an upload. It is followed on the same stream by one
// PieceData per piece, in order, and answered by a StoreResult. The receiving
// miner stores the shard and forwards every checked piece to Chain[0], telling
// it to forward to Chain[1:].
type StoreShard struct {
	Shard     cid.Cid
	Size      uint64
	PieceSize uint32
	Pieces    [][32]byte // digest of every piece; their Merkle root must be Shard's digest
	Owner     identity.PeerID
	Chain     []NodeAddr
}

func (*StoreShard) Type() Type { return TypeStoreShard }
func (m *StoreShard) Append(b []byte) []byte {
	e := Enc{B: b}
	e.CID(m.Shard)
	e.U64(m.Size)
	e.U32(m.PieceSize)
	e.U32(uint32(len(m.Pieces)))
	for _, p := range m.Pieces {
		e.Digest(p)
	}
	e.Peer(m.Owner)
	appendAddrs(&e, m.Chain)
	return e.B
}
func (m *StoreShard) Decode(b []byte) error {
	d := NewDec(b)
	m.Shard = d.CID()
	m.Size = d.U64()
	m.PieceSize = d.U32()
	n := d.Count(32)
	m.Pieces = make([][32]byte, n)
	for i := 0; i < n && d.Err() == nil; i++ {
		m.Pieces[i] = d.Digest()
	}
	m.Owner = d.Peer()
	m.Chain = decodeAddrs(d)
	return d.Finish()
}

// PieceData carries one piece of an upload.
type PieceData struct {
	Index uint32
	Data  []byte
}

func (*PieceData) Type() Type { return TypePieceData }
func (m *PieceData) AppendHead(b []byte) []byte {
	e := Enc{B: b}
	e.U32(m.Index)
	e.U32(uint32(len(m.Data)))
	return e.B
}
func (m *PieceData) Tail() []byte           { return m.Data }
func (m *PieceData) Append(b []byte) []byte { return append(m.AppendHead(b), m.Data...) }
func (m *PieceData) Decode(b []byte) error {
	d := NewDec(b)
	m.Index = d.U32()
	m.Data = d.Bytes()
	return d.Finish()
}

// HopFailure names a miner of a chain that did not store the shard, and why.
type HopFailure struct {
	Peer    identity.PeerID
	Code    Code
	Message string
}

// StoreResult ends an upload: receipts of every miner of the chain that stored
// the shard durably, and failures for those that did not.
type StoreResult struct {
	Receipts []Receipt
	Failures []HopFailure
}

func (*StoreResult) Type() Type { return TypeStoreResult }
func (m *StoreResult) Append(b []byte) []byte {
	e := Enc{B: b}
	appendReceipts(&e, m.Receipts)
	e.U32(uint32(len(m.Failures)))
	for _, f := range m.Failures {
		e.Peer(f.Peer)
		e.U16(uint16(f.Code))
		e.String(f.Message)
	}
	return e.B
}
func (m *StoreResult) Decode(b []byte) error {
	d := NewDec(b)
	m.Receipts = decodeReceipts(d)
	n := d.Count(10)
	m.Failures = make([]HopFailure, n)
	for i := 0; i < n && d.Err() == nil; i++ {
		m.Failures[i].Peer = d.Peer()
		m.Failures[i].Code = Code(d.U16())
		m.Failures[i].Message = d.String()
	}
	return d.Finish()
}

// GetPiece asks a miner for pieces Index .. Index+Count-1 of a shard (Count 0
// means 1, at most MaxPiecesPerRequest), each answered by its own Piece frame,
// in order, on the same stream.
type GetPiece struct {
	Shard cid.Cid
	Index uint32
	Count uint32
}

// MaxPiecesPerRequest bounds a GetPiece's Count: what one request makes a
// miner read and send (64 MiB at the largest piece size). Clients ask for runs
// of a few pieces (run_pieces, 4 by default); 64 covers a whole default shard.
const MaxPiecesPerRequest = 64

func (*GetPiece) Type() Type { return TypeGetPiece }
func (m *GetPiece) Append(b []byte) []byte {
	e := Enc{B: b}
	e.CID(m.Shard)
	e.U32(m.Index)
	e.U32(m.Count)
	return e.B
}
func (m *GetPiece) Decode(b []byte) error {
	d := NewDec(b)
	m.Shard = d.CID()
	m.Index = d.U32()
	m.Count = d.U32()
	return d.Finish()
}

// Piece answers GetPiece: the sibling path to the shard's root, then the bytes
// (last, so they can be written without copying; see Tailed).
type Piece struct {
	Index uint32
	Proof [][32]byte
	Data  []byte
}

func (*Piece) Type() Type { return TypePiece }
func (m *Piece) AppendHead(b []byte) []byte {
	e := Enc{B: b}
	e.U32(m.Index)
	e.U32(uint32(len(m.Proof)))
	for _, p := range m.Proof {
		e.Digest(p)
	}
	e.U32(uint32(len(m.Data)))
	return e.B
}
func (m *Piece) Tail() []byte           { return m.Data }
func (m *Piece) Append(b []byte) []byte { return append(m.AppendHead(b), m.Data...) }
func (m *Piece) Decode(b []byte) error {
	d := NewDec(b)
	m.Index = d.U32()
	n := d.Count(32)
	m.Proof = make([][32]byte, n)
	for i := 0; i < n && d.Err() == nil; i++ {
		m.Proof[i] = d.Digest()
	}
	m.Data = d.Bytes()
	return d.Finish()
}
