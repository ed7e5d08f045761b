// Package wallet is a user's zkStore wallet and light client: the account
// key kept beside the user's ppstore identity and bound to it, transfers
// signed and sent to the region's operator, and balances checked against the
// root the sidechain accepted, with a Merkle proof, so the proven balance
// trusts the chain, not the operator. It owns the key and binding files; the
// state and the proofs are package rollup's, the operator is package
// zkstore's, the chain's client is the sidechain's.
//
// Files, in the client's data directory beside its identity key:
//
//	wallet.key      hex of the account's private key (rollup.PrivateKey.Bytes), mode 0600
//	wallet.binding  the binding (Binding.Marshal): the peer ID's and the account key's
//	                signatures over each other, so a share code or a storage deal can
//	                name the paying account by the peer ID
package wallet

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/ppstore/ppstore/discover"
	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/rollup"
	"github.com/ppstore/ppstore/transport"
	"github.com/ppstore/ppstore/wire"
)

// KeyFile and BindingFile are the wallet's files in the data directory.
const (
	KeyFile     = "wallet.key"
	BindingFile = "wallet.binding"
)

// Errors of the light client.
var (
	// ErrRootNotAccepted: the operator proved a balance against a root the
	// chain does not hold for the region. The wallet refuses the balance.
	ErrRootNotAccepted = errors.New("wallet: the operator's root is not the one the sidechain accepted")
	// ErrBadProof: the operator's Merkle path does not prove the account
	// against the chain's root.
	ErrBadProof = errors.New("wallet: the account's Merkle proof does not match the sidechain's root")
	// ErrNoChain: no sidechain is configured, so no balance can be proven.
	ErrNoChain = errors.New("wallet: no sidechain configured; the proven balance cannot be checked")
	// ErrNoAccount: the wallet's key has no account yet (receive a transfer first).
	ErrNoAccount = errors.New("wallet: this wallet has no account in the region yet; ask for a transfer to its address")
	// ErrBadBinding: a binding's signatures do not verify.
	ErrBadBinding = errors.New("wallet: binding signature does not verify")
)

// Binding ties a rollup account key to a ppstore identity: the identity signs
// the account key and the account key signs the peer ID.
type Binding struct {
	Peer       identity.PeerID
	Account    rollup.PublicKey
	PeerSig    []byte                     // ed25519 by Peer over bindingDigest
	AccountSig [rollup.SignatureSize]byte // EdDSA by Account over bindingDigest
}

func bindingDigest(peer identity.PeerID, account rollup.PublicKey) [32]byte {
	h := sha256.New()
	h.Write([]byte("ppstore/wallet-binding/v1\x00"))
	h.Write(peer.Bytes())
	h.Write(account[:])
	var d [32]byte
	copy(d[:], h.Sum(nil))
	return d
}

// Bind makes the binding of account key k to identity id.
func Bind(id *identity.Key, k *rollup.PrivateKey) (Binding, error) {
	b := Binding{Peer: id.ID(), Account: k.Public()}
	d := bindingDigest(b.Peer, b.Account)
	b.PeerSig = id.Sign(d[:])
	var err error
	b.AccountSig, err = k.SignDigest(d)
	return b, err
}

// Verify checks both signatures. Errors wrap ErrBadBinding.
func (b Binding) Verify() error {
	d := bindingDigest(b.Peer, b.Account)
	if len(b.PeerSig) != ed25519.SignatureSize || !b.Peer.Verify(d[:], b.PeerSig) {
		return fmt.Errorf("%w: peer %s", ErrBadBinding, b.Peer.Short())
	}
	if err := b.Account.VerifyDigest(d, b.AccountSig); err != nil {
		return fmt.Errorf("%w: account %s: %v", ErrBadBinding, b.Account, err)
	}
	return nil
}

type bindingJSON struct {
	Peer       string `json:"peer"`
	Account    string `json:"account"`
	PeerSig    string `json:"peer_sig"`
	AccountSig string `json:"account_sig"`
}

// Marshal encodes the binding as JSON (hex fields).
func (b Binding) Marshal() []byte {
	out, _ := json.MarshalIndent(bindingJSON{Peer: b.Peer.String(), Account: b.Account.String(),
		PeerSig: hex.EncodeToString(b.PeerSig), AccountSig: hex.EncodeToString(b.AccountSig[:])}, "", "  ")
	return append(out, '\n')
}

// ParseBinding decodes and verifies a binding.
func ParseBinding(data []byte) (Binding, error) {
	var j bindingJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return Binding{}, fmt.Errorf("%w: %v", ErrBadBinding, err)
	}
	var b Binding
	var err error
	if b.Peer, err = identity.Parse(j.Peer); err != nil {
		return b, fmt.Errorf("%w: peer: %v", ErrBadBinding, err)
	}
	if b.Account, err = ParseAddress(j.Account); err != nil {
		return b, fmt.Errorf("%w: %v", ErrBadBinding, err)
	}
	if b.PeerSig, err = hex.DecodeString(j.PeerSig); err != nil {
		return b, fmt.Errorf("%w: peer signature: %v", ErrBadBinding, err)
	}
	as, err := hex.DecodeString(j.AccountSig)
	if err != nil || len(as) != rollup.SignatureSize {
		return b, fmt.Errorf("%w: account signature", ErrBadBinding)
	}
	copy(b.AccountSig[:], as)
	return b, b.Verify()
}

// ParseAddress reads an account address (64 hex digits of the compressed key)
// and checks it is a usable key.
func ParseAddress(s string) (rollup.PublicKey, error) {
	var pk rollup.PublicKey
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != rollup.PublicKeySize {
		return pk, fmt.Errorf("address %q: want %d hex digits", s, 2*rollup.PublicKeySize)
	}
	copy(pk[:], b)
	if err := pk.Valid(); err != nil {
		return pk, fmt.Errorf("address %q is not an account key: %w", s, err)
	}
	return pk, nil
}

// LoadOrCreateKey loads the wallet key in dataDir, or makes one and its
// binding to id. An existing binding that names another identity or key is
// an error (a wallet key copied beside another identity).
func LoadOrCreateKey(dataDir string, id *identity.Key) (*rollup.PrivateKey, Binding, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, Binding{}, err
	}
	k, err := rollup.LoadOrCreateKeyFile(filepath.Join(dataDir, KeyFile))
	if err != nil {
		return nil, Binding{}, err
	}
	path := filepath.Join(dataDir, BindingFile)
	bind := func() (*rollup.PrivateKey, Binding, error) {
		b, err := Bind(id, k)
		if err != nil {
			return nil, b, err
		}
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, b.Marshal(), 0o644); err != nil {
			return nil, b, err
		}
		return k, b, os.Rename(tmp, path)
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return bind()
	}
	if err != nil {
		return nil, Binding{}, err
	}
	b, err := ParseBinding(data)
	if err != nil && errors.Is(err, ErrBadBinding) && b.Peer == id.ID() && b.Account == k.Public() {
		// This identity's binding of this key whose signatures no longer
		// verify: made before the account signature's hash changed (rollup
		// circuit version 3), or damaged. Both keys are here, so sign it
		// again; a binding naming another peer or key stays an error.
		return bind()
	}
	if err != nil {
		return nil, b, err
	}
	if b.Peer != id.ID() || b.Account != k.Public() {
		return nil, b, fmt.Errorf("%w: %s binds account %s to peer %s, not this identity and key", ErrBadBinding, path, b.Account, b.Peer.Short())
	}
	return k, b, nil
}

// Chain is what the wallet needs of the sidechain: the root it accepted for
// a region. The sidechain's light client implements it, checking the root
// against headers the validators signed.
type Chain interface {
	Root(ctx context.Context, region string) (root [32]byte, height int64, err error)
}

// Wallet talks to a region's operator for one account key.
type Wallet struct {
	key     *rollup.PrivateKey
	binding Binding
	region  string
	node    *transport.Node
	disc    *discover.Client
	op      wire.NodeAddr // zero: find it at the bootstrap
	chain   Chain         // nil: proven balances cannot be checked
}

// New makes a wallet over an open transport node. op is the operator's
// address, or zero to find it through disc at the region's bootstrap; chain
// may be nil (no proven balance then).
func New(key *rollup.PrivateKey, b Binding, region string, node *transport.Node, disc *discover.Client, op wire.NodeAddr, chain Chain) *Wallet {
	return &Wallet{key: key, binding: b, region: region, node: node, disc: disc, op: op, chain: chain}
}

// Address is the wallet's account key.
func (w *Wallet) Address() rollup.PublicKey { return w.key.Public() }

// Binding is the wallet's binding to its identity.
func (w *Wallet) Binding() Binding { return w.binding }

func (w *Wallet) operator(ctx context.Context) (wire.NodeAddr, error) {
	if w.op.Addr != "" {
		return w.op, nil
	}
	if w.disc == nil {
		return wire.NodeAddr{}, errors.New("wallet: no operator address and no bootstrap to find one")
	}
	a, err := w.disc.Find(ctx, wire.RoleZkStore)
	if err != nil {
		return a, fmt.Errorf("wallet: find the region's zkstore operator: %w", err)
	}
	w.op = a
	return a, nil
}

func (w *Wallet) call(ctx context.Context, req, resp wire.Message) error {
	op, err := w.operator(ctx)
	if err != nil {
		return err
	}
	return w.node.Call(ctx, op, req, resp)
}

func (w *Wallet) account(ctx context.Context, pk rollup.PublicKey) (*wire.AccountState, error) {
	var st wire.AccountState
	if err := w.call(ctx, &wire.GetAccount{Region: w.region, ByKey: true, Key: pk}, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// Balance is an account's balance: Pending counts every transfer the operator
// accepted (its word), Proven the balance in the last root the chain accepted,
// checked with a Merkle proof against the chain.
type Balance struct {
	Found       bool   `json:"found"` // the account exists (pending)
	Index       uint32 `json:"index"`
	Pending     uint64 `json:"pending"`
	Proven      uint64 `json:"proven"`
	ProvenBatch uint64 `json:"proven_batch"`
	ChainHeight int64  `json:"chain_height"`
	Root        string `json:"root"` // the chain's root the proven balance was checked against
}

// rootRetries bounds how long Balance waits for the operator and the chain
// to agree on the root (the operator records an accepted batch just after
// the chain accepts it).
const rootRetries = 10

// Balance returns the wallet's balance. The proven part is refused
// (ErrRootNotAccepted, ErrBadProof) unless the operator's account and path
// prove it against the root the chain holds; without a chain it fails with
// ErrNoChain.
func (w *Wallet) Balance(ctx context.Context) (Balance, error) {
	if w.chain == nil {
		return Balance{}, ErrNoChain
	}
	var last error
	for i := 0; i < rootRetries; i++ {
		st, err := w.account(ctx, w.Address())
		if err != nil {
			return Balance{}, err
		}
		root, height, err := w.chain.Root(ctx, w.region)
		if err != nil {
			return Balance{}, fmt.Errorf("wallet: read the region's root from the sidechain: %w", err)
		}
		b, err := checkProven(st, w.Address(), root)
		if err == nil {
			b.ChainHeight = height
			return b, nil
		}
		last = err
		if !errors.Is(err, ErrRootNotAccepted) {
			return Balance{}, err
		}
		select { // the operator may not have recorded the chain's newest batch yet
		case <-ctx.Done():
			return Balance{}, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return Balance{}, last
}

// checkProven checks an operator's AccountState for key against the chain's
// root and returns the balance it proves.
func checkProven(st *wire.AccountState, key rollup.PublicKey, root [32]byte) (Balance, error) {
	b := Balance{Found: st.Found, Index: st.Index, Pending: st.Balance, ProvenBatch: st.ProvenBatch, Root: hex.EncodeToString(root[:])}
	if !st.Found {
		return b, nil // no account yet (the operator's word): nothing to prove, both balances 0
	}
	if st.ProvenRoot != root {
		return b, fmt.Errorf("%w: operator %x…, chain %x…", ErrRootNotAccepted, st.ProvenRoot[:6], root[:6])
	}
	if st.Key != key {
		return b, fmt.Errorf("%w: the operator answered for another key", ErrBadProof)
	}
	if st.ProvenFound {
		a := rollup.Account{Index: st.Index, Key: key, Balance: st.ProvenBalance, Nonce: st.ProvenNonce}
		if err := rollup.VerifyAccount(root, a, st.Path); err != nil {
			return b, fmt.Errorf("%w: %v", ErrBadProof, err)
		}
		b.Proven = st.ProvenBalance
		return b, nil
	}
	if err := rollup.VerifyEmpty(root, st.Index, st.Path); err != nil {
		return b, fmt.Errorf("%w: %v", ErrBadProof, err)
	}
	return b, nil
}

// Sent is the result of Send.
type Sent struct {
	Seq    uint64 `json:"seq"`
	From   uint32 `json:"from"`
	To     uint32 `json:"to"`
	Amount uint64 `json:"amount"`
	Nonce  uint64 `json:"nonce"`
}

// Send signs a transfer of amount to the account holding key to (opening it
// if it has none) and submits it. It returns once the operator durably
// queued it. Errors: ErrNoAccount, and the operator's refusals as wire
// sentinels (wire.ErrInsufficientBalance, wire.ErrBadNonce, ...).
func (w *Wallet) Send(ctx context.Context, to rollup.PublicKey, amount uint64) (Sent, error) {
	if err := to.Valid(); err != nil {
		return Sent{}, err
	}
	me, err := w.account(ctx, w.Address())
	if err != nil {
		return Sent{}, err
	}
	if !me.Found {
		return Sent{}, ErrNoAccount
	}
	if me.Balance < amount {
		return Sent{}, fmt.Errorf("%w: the account holds %d (pending), the transfer is %d", wire.ErrInsufficientBalance, me.Balance, amount)
	}
	dst, err := w.account(ctx, to)
	if err != nil {
		return Sent{}, err
	}
	toIndex := dst.Index
	if !dst.Found {
		toIndex = dst.NextFree
	}
	if to == w.Address() {
		toIndex = me.Index
	}
	tr := rollup.Transfer{From: me.Index, To: toIndex, Amount: amount, Nonce: me.Nonce, ToKey: to}
	st, err := rollup.Sign(w.key, rollup.RegionTag(w.region), tr)
	if err != nil {
		return Sent{}, err
	}
	var acc wire.TransferAccepted
	req := &wire.SubmitTransfer{Region: w.region, From: tr.From, To: tr.To, Amount: tr.Amount, Nonce: tr.Nonce, ToKey: tr.ToKey, Signature: st.Sig}
	if err := w.call(ctx, req, &acc); err != nil {
		return Sent{}, err
	}
	return Sent{Seq: acc.Seq, From: tr.From, To: tr.To, Amount: amount, Nonce: tr.Nonce}, nil
}

// History returns the newest transfers naming the wallet's account, at most
// limit (0: the operator's default), newest first.
func (w *Wallet) History(ctx context.Context, limit int) ([]wire.HistoryEntry, error) {
	me, err := w.account(ctx, w.Address())
	if err != nil {
		return nil, err
	}
	if !me.Found {
		return nil, nil
	}
	var h wire.History
	if err := w.call(ctx, &wire.GetHistory{Region: w.region, Index: me.Index, Limit: uint32(max(limit, 0))}, &h); err != nil {
		return nil, err
	}
	return h.Entries, nil
}
