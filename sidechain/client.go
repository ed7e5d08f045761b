package sidechain

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	cmtcrypto "github.com/cometbft/cometbft/api/cometbft/crypto/v1"
	"github.com/cometbft/cometbft/crypto/merkle"
	"github.com/cometbft/cometbft/mempool"
	rpcclient "github.com/cometbft/cometbft/rpc/client"
	rpchttp "github.com/cometbft/cometbft/rpc/client/http"
	ctypes "github.com/cometbft/cometbft/rpc/core/types"
	cmttypes "github.com/cometbft/cometbft/types"
)

// Client submits batches to the sidechain and reads region roots, checked
// as a light client: every root it returns was proven against the app hash
// of a block header that more than two thirds of the genesis validators
// signed (see Trust). It talks to one node, in process (Node.Client) or
// over CometBFT's JSON-RPC (Dial), and trusts that node for nothing but
// liveness.
type Client struct {
	rpc rpcclient.Client

	mu      sync.Mutex
	chainID string
	trust   *Trust
}

// Dial returns a client of the node whose CometBFT RPC listens at addr
// ("host:port" or "http://host:port"). trust is the genesis validator set
// the client checks roots against; with nil the client reads the genesis
// from that node on first use, which trusts the node once (pin the
// network's genesis with TrustFromGenesisFile instead where it matters).
func Dial(addr string, trust *Trust) (*Client, error) {
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	rc, err := rpchttp.New(addr)
	if err != nil {
		return nil, fmt.Errorf("sidechain: dial %s: %w", addr, err)
	}
	c := &Client{rpc: rc, trust: trust}
	if trust != nil {
		c.chainID = trust.ChainID
	}
	return c, nil
}

// SubmitBatch submits a batch moving region from prevRoot to newRoot and
// waits until a block includes it (first waiting, while ctx lasts, for a
// node that is catching up with the chain). It returns the height of that block
// once the batch was accepted there. A batch the chain refuses returns an
// *Error matching ErrMalformed, ErrUnknownRegion, ErrWrongPrevRoot or
// ErrBadProof (errors.Is); a failure to reach the node or a batch not
// included within the node's broadcast timeout (10 s by default) returns
// another error, and the batch may still be included later: read Root
// before resubmitting.
func (c *Client) SubmitBatch(ctx context.Context, region string, prevRoot, newRoot [32]byte, txData, proof []byte) (int64, error) {
	b := &Batch{Region: region, PrevRoot: prevRoot, NewRoot: newRoot, TxData: txData, Proof: proof}
	if err := b.Validate(); err != nil {
		return 0, err
	}
	tx := b.AppendTx(nil)
	if err := c.waitSynced(ctx); err != nil {
		return 0, err
	}
	// Ask first whether the batch would be admitted: CometBFT's RPC reports
	// a refused CheckTx only as text, this query with our code.
	q, err := c.rpc.ABCIQuery(ctx, QueryCheck, tx)
	if err != nil {
		return 0, fmt.Errorf("sidechain: check %s: %w (check that the sidechain node is running and reachable)", b, err)
	}
	if err := fromResult(q.Response.Codespace, q.Response.Code, q.Response.Log); err != nil {
		return 0, err
	}
	type result struct {
		r   *ctypes.ResultBroadcastTxCommit
		err error
	}
	done := make(chan result, 1)
	go func() {
		r, err := c.rpc.BroadcastTxCommit(ctx, tx)
		done <- result{r, err}
	}()
	var res result
	select {
	case res = <-done:
	case <-ctx.Done():
		return 0, fmt.Errorf("sidechain: submit %s: %w (the batch may still be included; read Root before resubmitting)", b, ctx.Err())
	}
	var invalid mempool.ErrInvalidTx
	if errors.As(res.err, &invalid) {
		return 0, fromResult(invalid.Codespace, invalid.Code, invalid.Log)
	}
	if res.err != nil {
		return 0, fmt.Errorf("sidechain: submit %s: %w (check that the sidechain node is running and reachable; read Root before resubmitting)", b, res.err)
	}
	r := res.r
	if err := fromResult(r.CheckTx.Codespace, r.CheckTx.Code, r.CheckTx.Log); err != nil {
		return 0, err
	}
	if err := fromResult(r.TxResult.Codespace, r.TxResult.Code, r.TxResult.Log); err != nil {
		return r.Height, err
	}
	return r.Height, nil
}

// waitSynced waits while the node is catching up with the chain (its
// mempool takes no transactions until then).
func (c *Client) waitSynced(ctx context.Context) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		st, err := c.rpc.Status(ctx)
		if err != nil {
			return fmt.Errorf("sidechain: node status: %w (check that the sidechain node is running and reachable)", err)
		}
		if !st.SyncInfo.CatchingUp {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("sidechain: node still catching up at height %d: %w; wait, or submit through another validator", st.SyncInfo.LatestBlockHeight, ctx.Err())
		case <-t.C:
		}
	}
}

// Root returns region's current root as the chain accepted it, and the
// height of the committed state it was read from. The root is checked
// against a header signed by the validators (see RootProof).
func (c *Client) Root(ctx context.Context, region string) (root [32]byte, height int64, err error) {
	p, err := c.RootProof(ctx, region)
	if err != nil {
		return root, 0, err
	}
	rr, err := p.Verify(c.trust)
	if err != nil {
		return root, 0, err
	}
	return rr.Root, p.Height, nil
}

// Region is Root with the whole region record (batch count, key digest).
func (c *Client) Region(ctx context.Context, region string) (RegionRoot, error) {
	p, err := c.RootProof(ctx, region)
	if err != nil {
		return RegionRoot{}, err
	}
	return p.Verify(c.trust)
}

// RootProof is everything a light client needs to check a region's root
// without trusting the node that served it: the region's leaf, its Merkle
// path to the app hash of the committed state at Height, and the signed
// header (with its commit) that carries that app hash: the header of block
// Height+1, or of block Height itself if that block changed nothing.
type RootProof struct {
	Region string
	Height int64  // committed height whose state the leaf is from
	Leaf   []byte // RegionRoot.AppendLeaf
	Proof  *merkle.Proof
	Header *cmttypes.SignedHeader
}

// Verify checks p against trust and returns the proven region record. The
// error wraps ErrNotAccepted when a check fails.
func (p *RootProof) Verify(trust *Trust) (RegionRoot, error) {
	if trust == nil {
		return RegionRoot{}, fmt.Errorf("%w: no trusted validator set to check against", ErrNotAccepted)
	}
	return trust.verify(p)
}

// RootProof queries region's leaf with its proof and fetches the signed
// header whose app hash commits to it, waiting for the next block if it is
// not yet made (a block that changed the state is followed at once by
// another that carries its app hash). It checks nothing; see
// RootProof.Verify.
func (c *Client) RootProof(ctx context.Context, region string) (*RootProof, error) {
	if err := ValidRegionName(region); err != nil {
		return nil, err
	}
	if err := c.ensureTrust(ctx); err != nil {
		return nil, err
	}
	q, err := c.rpc.ABCIQueryWithOptions(ctx, QueryRegion, []byte(region), rpcclient.ABCIQueryOptions{Prove: true})
	if err != nil {
		return nil, fmt.Errorf("sidechain: query region %s: %w (check that the sidechain node is running and reachable)", region, err)
	}
	qr := q.Response
	if err := fromResult(qr.Codespace, qr.Code, qr.Log); err != nil {
		return nil, err
	}
	if qr.ProofOps == nil || len(qr.ProofOps.Ops) != 1 || qr.ProofOps.Ops[0].Type != ProofOpRegion {
		return nil, fmt.Errorf("%w: the node answered region %s without a proof", ErrNotAccepted, region)
	}
	var pb cmtcrypto.Proof
	if err := pb.Unmarshal(qr.ProofOps.Ops[0].Data); err != nil {
		return nil, fmt.Errorf("%w: region %s proof does not decode: %v", ErrNotAccepted, region, err)
	}
	mp, err := merkle.ProofFromProto(&pb)
	if err != nil {
		return nil, fmt.Errorf("%w: region %s proof: %v", ErrNotAccepted, region, err)
	}
	p := &RootProof{Region: region, Height: qr.Height, Leaf: qr.Value, Proof: mp}
	if p.Header, err = c.header(ctx, qr.Height, mp, qr.Value); err != nil {
		return nil, err
	}
	return p, nil
}

// header returns a signed header whose app hash commits to the state after
// block h: the header of block h+1, or, when the chain has not made block
// h+1 and block h left the state as it was (an idle chain makes no empty
// blocks), the header of block h itself. It waits for block h+1 while ctx
// lasts otherwise.
func (c *Client) header(ctx context.Context, h int64, proof *merkle.Proof, leaf []byte) (*cmttypes.SignedHeader, error) {
	next := h + 1
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		st, err := c.rpc.Status(ctx)
		if err != nil {
			return nil, fmt.Errorf("sidechain: node status: %w (check that the sidechain node is running and reachable)", err)
		}
		latest := st.SyncInfo.LatestBlockHeight
		if latest >= next {
			cr, err := c.rpc.Commit(ctx, &next)
			if err != nil {
				return nil, fmt.Errorf("sidechain: commit of block %d: %w", next, err)
			}
			return &cr.SignedHeader, nil
		}
		if latest == h && h > 0 {
			cr, err := c.rpc.Commit(ctx, &h)
			if err != nil {
				return nil, fmt.Errorf("sidechain: commit of block %d: %w", h, err)
			}
			if cr.Header != nil && proof.Verify(cr.AppHash, leaf) == nil {
				return &cr.SignedHeader, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("sidechain: waiting for block %d (node at %d): %w; is the chain making blocks?", next, latest, ctx.Err())
		case <-t.C:
		}
	}
}

// ensureTrust reads the genesis from the node if no trust was given.
func (c *Client) ensureTrust(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.trust != nil {
		return nil
	}
	g, err := c.rpc.Genesis(ctx)
	if err != nil {
		return fmt.Errorf("sidechain: read genesis from node: %w (check that the sidechain node is running and reachable)", err)
	}
	t, err := TrustFromGenesis(g.Genesis)
	if err != nil {
		return err
	}
	c.trust, c.chainID = t, t.ChainID
	return nil
}

// Trust is what a light client of this PoA chain trusts: the chain ID and
// the validator set of genesis. The application never changes the set, so
// a header is the chain's if its ValidatorsHash is this set's hash and more
// than two thirds of the set's power signed its commit.
type Trust struct {
	ChainID    string
	Validators *cmttypes.ValidatorSet
}

// TrustFromGenesis returns the trust of the chain doc describes.
func TrustFromGenesis(doc *cmttypes.GenesisDoc) (*Trust, error) {
	if doc == nil || len(doc.Validators) == 0 {
		return nil, errors.New("sidechain: genesis has no validators")
	}
	vals := make([]*cmttypes.Validator, len(doc.Validators))
	for i, v := range doc.Validators {
		vals[i] = cmttypes.NewValidator(v.PubKey, v.Power)
	}
	set := cmttypes.NewValidatorSet(vals)
	if err := set.ValidateBasic(); err != nil {
		return nil, fmt.Errorf("sidechain: genesis validators: %w", err)
	}
	return &Trust{ChainID: doc.ChainID, Validators: set}, nil
}

// TrustFromGenesisFile reads a genesis.json and returns its trust.
func TrustFromGenesisFile(path string) (*Trust, error) {
	doc, err := cmttypes.GenesisDocFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("sidechain: %w", err)
	}
	return TrustFromGenesis(doc)
}

func (t *Trust) verify(p *RootProof) (RegionRoot, error) {
	fail := func(format string, args ...any) (RegionRoot, error) {
		return RegionRoot{}, fmt.Errorf("%w: region %s at height %d: %s", ErrNotAccepted, p.Region, p.Height, fmt.Sprintf(format, args...))
	}
	sh := p.Header
	if sh == nil || sh.Header == nil || sh.Commit == nil || p.Proof == nil {
		return fail("proof incomplete")
	}
	if err := sh.ValidateBasic(t.ChainID); err != nil {
		return fail("header: %v", err)
	}
	if sh.Height != p.Height+1 && sh.Height != p.Height {
		return fail("header is for height %d, not %d", sh.Height, p.Height+1)
	}
	if !bytes.Equal(sh.ValidatorsHash, t.Validators.Hash()) {
		return fail("header names validator set %X, not the genesis set %X", sh.ValidatorsHash, t.Validators.Hash())
	}
	if err := t.Validators.VerifyCommitLight(t.ChainID, sh.Commit.BlockID, sh.Height, sh.Commit); err != nil {
		return fail("commit not signed by two thirds of the validators: %v", err)
	}
	if err := p.Proof.Verify(sh.AppHash, p.Leaf); err != nil {
		return fail("leaf not in app hash %X: %v", sh.AppHash, err)
	}
	rr, err := DecodeLeaf(p.Leaf)
	if err != nil {
		return fail("leaf: %v", err)
	}
	if rr.Region != p.Region {
		return fail("leaf is region %s", rr.Region)
	}
	return rr, nil
}
