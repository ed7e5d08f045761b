package wire

// zkStore messages (types 80-99) and error codes (21-24). A client sends a
// signed transfer to its region's zkstore operator and asks it for account
// states, history and status. The operator's answers about proven state carry
// Merkle paths that the client checks against the root the sidechain
// accepted; nothing the operator says about pending state is trusted.
//
// Bodies (fixed widths as in the package doc):
//
//	SubmitTransfer   region string | from u32 | to u32 | amount u64 | nonce u64 | to key digest | signature 64 bytes
//	TransferAccepted seq u64 | pending root digest
//	GetAccount       region string | by key bool | index u32 | key digest
//	AccountState     found bool | index u32 | key digest | balance u64 | nonce u64 |
//	                 proven found bool | proven balance u64 | proven nonce u64 |
//	                 proven root digest | proven batch u64 | path: list of digest | next free u32
//	GetZkStatus      (empty)
//	ZkStatus         region string | depth u8 | batch size u32 | pending u64 | batches u64 |
//	                 last batch u64 | last size u32 | last proof ms u64 | last state u8 |
//	                 pending root digest | proven root digest | proven batch u64 | chain height u64
//	GetHistory       region string | index u32 | limit u32
//	History          list of (seq u64 | batch u64 | from u32 | to u32 | amount u64 | nonce u64)

const (
	TypeSubmitTransfer   Type = 80
	TypeTransferAccepted Type = 81
	TypeGetAccount       Type = 82
	TypeAccountState     Type = 83
	TypeGetZkStatus      Type = 84
	TypeZkStatus         Type = 85
	TypeGetHistory       Type = 86
	TypeHistory          Type = 87
)

// zkStore error codes.
const (
	CodeBadSignature        Code = 21 // a transfer's signature does not verify under the sender's key
	CodeBadNonce            Code = 22 // a transfer's nonce is not the sender's next (a replay or a gap)
	CodeInsufficientBalance Code = 23 // the sender's balance does not cover the amount
	CodeWrongRegion         Code = 24 // the request names another region than the node serves
)

// zkStore sentinels: errors.Is matches a remote error with the same code.
var (
	ErrBadSignature        = &Error{Code: CodeBadSignature}
	ErrBadNonce            = &Error{Code: CodeBadNonce}
	ErrInsufficientBalance = &Error{Code: CodeInsufficientBalance}
	ErrWrongRegion         = &Error{Code: CodeWrongRegion}
)

func init() {
	codeNames[CodeBadSignature] = "bad signature"
	codeNames[CodeBadNonce] = "wrong nonce"
	codeNames[CodeInsufficientBalance] = "insufficient balance"
	codeNames[CodeWrongRegion] = "wrong region"
	typeNames[TypeSubmitTransfer] = "SubmitTransfer"
	typeNames[TypeTransferAccepted] = "TransferAccepted"
	typeNames[TypeGetAccount] = "GetAccount"
	typeNames[TypeAccountState] = "AccountState"
	typeNames[TypeGetZkStatus] = "GetZkStatus"
	typeNames[TypeZkStatus] = "ZkStatus"
	typeNames[TypeGetHistory] = "GetHistory"
	typeNames[TypeHistory] = "History"
}

// newZkStore returns an empty zkStore message of type t, nil for another type.
func newZkStore(t Type) Message {
	switch t {
	case TypeSubmitTransfer:
		return new(SubmitTransfer)
	case TypeTransferAccepted:
		return new(TransferAccepted)
	case TypeGetAccount:
		return new(GetAccount)
	case TypeAccountState:
		return new(AccountState)
	case TypeGetZkStatus:
		return new(GetZkStatus)
	case TypeZkStatus:
		return new(ZkStatus)
	case TypeGetHistory:
		return new(GetHistory)
	case TypeHistory:
		return new(History)
	}
	return newPayment(t) // types 88-99 (payment.go)
}

// SubmitTransfer carries one signed transfer (see package rollup for the
// signed message) to the region's operator.
type SubmitTransfer struct {
	Region    string
	From, To  uint32
	Amount    uint64
	Nonce     uint64
	ToKey     [32]byte
	Signature [64]byte
}

func (*SubmitTransfer) Type() Type { return TypeSubmitTransfer }
func (m *SubmitTransfer) Append(b []byte) []byte {
	e := Enc{B: b}
	e.String(m.Region)
	e.U32(m.From)
	e.U32(m.To)
	e.U64(m.Amount)
	e.U64(m.Nonce)
	e.Digest(m.ToKey)
	e.B = append(e.B, m.Signature[:]...)
	return e.B
}
func (m *SubmitTransfer) Decode(b []byte) error {
	d := NewDec(b)
	m.Region = d.String()
	m.From, m.To = d.U32(), d.U32()
	m.Amount, m.Nonce = d.U64(), d.U64()
	m.ToKey = d.Digest()
	copy(m.Signature[:], d.take(64, "signature"))
	return d.Finish()
}

// TransferAccepted acknowledges a transfer: it is durably queued as number Seq
// and will be applied exactly once. PendingRoot is the operator's tree after it.
type TransferAccepted struct {
	Seq         uint64
	PendingRoot [32]byte
}

func (*TransferAccepted) Type() Type { return TypeTransferAccepted }
func (m *TransferAccepted) Append(b []byte) []byte {
	e := Enc{B: b}
	e.U64(m.Seq)
	e.Digest(m.PendingRoot)
	return e.B
}
func (m *TransferAccepted) Decode(b []byte) error {
	d := NewDec(b)
	m.Seq = d.U64()
	m.PendingRoot = d.Digest()
	return d.Finish()
}

// GetAccount asks for an account by index, or by key when ByKey is set.
type GetAccount struct {
	Region string
	ByKey  bool
	Index  uint32
	Key    [32]byte
}

func (*GetAccount) Type() Type { return TypeGetAccount }
func (m *GetAccount) Append(b []byte) []byte {
	e := Enc{B: b}
	e.String(m.Region)
	e.Bool(m.ByKey)
	e.U32(m.Index)
	e.Digest(m.Key)
	return e.B
}
func (m *GetAccount) Decode(b []byte) error {
	d := NewDec(b)
	m.Region = d.String()
	m.ByKey = d.Bool()
	m.Index = d.U32()
	m.Key = d.Digest()
	return d.Finish()
}

// AccountState answers GetAccount: the pending account (every accepted
// transfer applied; Found false if it has none yet) and the account in the
// last batch the sidechain accepted, with its Merkle path (siblings, leaf
// level first) to ProvenRoot. NextFree is the index a transfer to a new key
// would open.
type AccountState struct {
	Found         bool
	Index         uint32
	Key           [32]byte
	Balance       uint64
	Nonce         uint64
	ProvenFound   bool
	ProvenBalance uint64
	ProvenNonce   uint64
	ProvenRoot    [32]byte
	ProvenBatch   uint64
	Path          [][32]byte
	NextFree      uint32
}

func (*AccountState) Type() Type { return TypeAccountState }
func (m *AccountState) Append(b []byte) []byte {
	e := Enc{B: b}
	e.Bool(m.Found)
	e.U32(m.Index)
	e.Digest(m.Key)
	e.U64(m.Balance)
	e.U64(m.Nonce)
	e.Bool(m.ProvenFound)
	e.U64(m.ProvenBalance)
	e.U64(m.ProvenNonce)
	e.Digest(m.ProvenRoot)
	e.U64(m.ProvenBatch)
	e.U32(uint32(len(m.Path)))
	for _, p := range m.Path {
		e.Digest(p)
	}
	e.U32(m.NextFree)
	return e.B
}
func (m *AccountState) Decode(b []byte) error {
	d := NewDec(b)
	m.Found = d.Bool()
	m.Index = d.U32()
	m.Key = d.Digest()
	m.Balance, m.Nonce = d.U64(), d.U64()
	m.ProvenFound = d.Bool()
	m.ProvenBalance, m.ProvenNonce = d.U64(), d.U64()
	m.ProvenRoot = d.Digest()
	m.ProvenBatch = d.U64()
	n := d.Count(32)
	if n > 48 {
		d.Fail("Merkle path of %d siblings (at most 48: three per level of a 4-ary tree of 2^32 leaves)", n)
	}
	m.Path = make([][32]byte, 0, n)
	for i := 0; i < n && d.Err() == nil; i++ {
		m.Path = append(m.Path, d.Digest())
	}
	m.NextFree = d.U32()
	return d.Finish()
}

// GetZkStatus asks the operator for its status.
type GetZkStatus struct{}

func (*GetZkStatus) Type() Type               { return TypeGetZkStatus }
func (m *GetZkStatus) Append(b []byte) []byte { return b }
func (m *GetZkStatus) Decode(b []byte) error  { return NewDec(b).Finish() }

// Batch states in ZkStatus.LastState.
const (
	BatchCut      = 1 // transfers fixed, proof not made yet
	BatchProven   = 2 // proof made, not accepted by the sidechain yet
	BatchAccepted = 3 // the sidechain accepted its root
)

// ZkStatus answers GetZkStatus. Batches counts every batch cut; Last* describe
// the newest batch with a proof (0 if none).
type ZkStatus struct {
	Region      string
	Depth       uint8
	BatchSize   uint32
	Pending     uint64 // accepted transfers not in an accepted batch
	Batches     uint64
	LastBatch   uint64
	LastSize    uint32
	LastProofMs uint64
	LastState   uint8
	PendingRoot [32]byte
	ProvenRoot  [32]byte
	ProvenBatch uint64
	ChainHeight uint64
}

func (*ZkStatus) Type() Type { return TypeZkStatus }
func (m *ZkStatus) Append(b []byte) []byte {
	e := Enc{B: b}
	e.String(m.Region)
	e.U8(m.Depth)
	e.U32(m.BatchSize)
	e.U64(m.Pending)
	e.U64(m.Batches)
	e.U64(m.LastBatch)
	e.U32(m.LastSize)
	e.U64(m.LastProofMs)
	e.U8(m.LastState)
	e.Digest(m.PendingRoot)
	e.Digest(m.ProvenRoot)
	e.U64(m.ProvenBatch)
	e.U64(m.ChainHeight)
	return e.B
}
func (m *ZkStatus) Decode(b []byte) error {
	d := NewDec(b)
	m.Region = d.String()
	m.Depth = d.U8()
	m.BatchSize = d.U32()
	m.Pending, m.Batches, m.LastBatch = d.U64(), d.U64(), d.U64()
	m.LastSize = d.U32()
	m.LastProofMs = d.U64()
	m.LastState = d.U8()
	m.PendingRoot, m.ProvenRoot = d.Digest(), d.Digest()
	m.ProvenBatch, m.ChainHeight = d.U64(), d.U64()
	return d.Finish()
}

// GetHistory asks for the newest transfers that name account Index (as sender
// or receiver), at most Limit (0: the operator's default).
type GetHistory struct {
	Region string
	Index  uint32
	Limit  uint32
}

func (*GetHistory) Type() Type { return TypeGetHistory }
func (m *GetHistory) Append(b []byte) []byte {
	e := Enc{B: b}
	e.String(m.Region)
	e.U32(m.Index)
	e.U32(m.Limit)
	return e.B
}
func (m *GetHistory) Decode(b []byte) error {
	d := NewDec(b)
	m.Region = d.String()
	m.Index, m.Limit = d.U32(), d.U32()
	return d.Finish()
}

// HistoryEntry is one transfer; Batch is 0 while it is in no batch yet.
type HistoryEntry struct {
	Seq, Batch    uint64
	From, To      uint32
	Amount, Nonce uint64
}

// History answers GetHistory, newest first.
type History struct{ Entries []HistoryEntry }

func (*History) Type() Type { return TypeHistory }
func (m *History) Append(b []byte) []byte {
	e := Enc{B: b}
	e.U32(uint32(len(m.Entries)))
	for _, h := range m.Entries {
		e.U64(h.Seq)
		e.U64(h.Batch)
		e.U32(h.From)
		e.U32(h.To)
		e.U64(h.Amount)
		e.U64(h.Nonce)
	}
	return e.B
}
func (m *History) Decode(b []byte) error {
	d := NewDec(b)
	n := d.Count(40)
	m.Entries = make([]HistoryEntry, 0, n)
	for i := 0; i < n && d.Err() == nil; i++ {
		var h HistoryEntry
		h.Seq, h.Batch = d.U64(), d.U64()
		h.From, h.To = d.U32(), d.U32()
		h.Amount, h.Nonce = d.U64(), d.U64()
		m.Entries = append(m.Entries, h)
	}
	return d.Finish()
}
