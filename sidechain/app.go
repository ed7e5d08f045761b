package sidechain

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"
	cmtcrypto "github.com/cometbft/cometbft/api/cometbft/crypto/v1"
	"github.com/ppstore/ppstore/internal/pebbledb"
	"github.com/prometheus/client_golang/prometheus"
)

// VerifyFunc checks a batch proof: that applying txData to the account tree
// with root prevRoot gives newRoot, under the region's verifying key vk. It
// returns nil only for a valid proof, and must be deterministic: every
// validator runs it on the same bytes and must reach the same verdict.
// Production nodes pass rollup.VerifyBatch (Groth16 on BN254, gnark).
type VerifyFunc func(vk []byte, prevRoot, newRoot [32]byte, txData, proof []byte) error

// AppVersion is the version of the application's state machine, reported
// to CometBFT in Info. Change it with any change to how blocks are executed.
const AppVersion = 1

// QueryRegion is the ABCI query path that returns a region's leaf (Value,
// see RegionRoot.AppendLeaf) and its Merkle proof against the app hash
// (ProofOps, one op of type ProofOpRegion), with Data the region name. The
// response Height is the committed height whose app hash the proof is
// against; that app hash is in the header of the next block.
const QueryRegion = "/region"

// QueryCheck is the ABCI query path that runs CheckTx's checks on the
// transaction in Data without admitting it: the answer's code says whether
// the batch would be admitted now. Clients use it to learn why a batch is
// refused, since CometBFT's RPC reports a refused CheckTx as text.
const QueryCheck = "/check"

// ProofOpRegion is the type of the proof op of a QueryRegion answer: Key is
// the region name and Data a CometBFT crypto.v1.Proof (RFC 6962 path).
const ProofOpRegion = "ppstore:region"

// App is the sidechain's ABCI application: the rollup module. It keeps each
// region's current root and verifying key, accepts a batch only when its
// previous root is the region's current root and its proof verifies, and
// commits its state to pebble after every block, with an app hash over the
// region roots (see RegionRoot.AppendLeaf).
//
// It owns its database (closed by Close) but not the consensus engine:
// Node runs it under CometBFT, and a test may drive it directly.
type App struct {
	abci.BaseApplication

	db     *pebbledb.DB
	verify Verifier
	log    *slog.Logger
	m      *metrics

	mu        sync.Mutex
	committed state               // state after the last committed block
	height    int64               // last committed height
	appHash   []byte              // app hash after the last committed block
	check     map[string][32]byte // roots after the committed state and the batches CheckTx admitted since
	pending   state               // state after the finalized block not yet committed; nil if none
	pendingH  int64
	pendingAH []byte
}

// OpenApp opens (or creates) the application's pebble database in dir and
// loads its committed state. verify checks batches (RollupVerifier in
// production); reg (may be nil) receives the module's metrics.
func OpenApp(dir string, verify Verifier, log *slog.Logger, reg prometheus.Registerer) (*App, error) {
	if verify.Verify == nil || verify.Bind == nil {
		return nil, fmt.Errorf("sidechain: incomplete batch verifier; production nodes use RollupVerifier")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	db, err := pebbledb.Open(dir, pebbledb.Options{Name: "sidechain", Logger: log})
	if err != nil {
		return nil, fmt.Errorf("sidechain: application %w", err)
	}
	s, h, ah, err := loadState(db)
	if err != nil {
		db.Close()
		return nil, err
	}
	a := &App{db: db, verify: verify, log: log, m: m, committed: s, height: h, appHash: ah}
	a.resetCheck()
	a.m.height.Set(float64(h))
	return a, nil
}

// Close closes the database. Call it after the node using the App stopped.
func (a *App) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.db.Close()
}

// Roots returns the committed roots of all regions, sorted by name, and the
// committed height.
func (a *App) Roots() ([]RegionRoot, int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	names, _ := a.committed.leaves()
	out := make([]RegionRoot, len(names))
	for i, n := range names {
		out[i] = a.committed[n].RegionRoot
	}
	return out, a.height
}

func (a *App) resetCheck() {
	a.check = make(map[string][32]byte, len(a.committed))
	for n, r := range a.committed {
		a.check[n] = r.Root
	}
}

// Info tells CometBFT the last committed height and app hash, from which
// its handshake replays any block the application has not committed.
func (a *App) Info(context.Context, *abci.InfoRequest) (*abci.InfoResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return &abci.InfoResponse{
		Data:             "ppstore-sidechain",
		Version:          "1",
		AppVersion:       AppVersion,
		LastBlockHeight:  a.height,
		LastBlockAppHash: slices.Clone(a.appHash),
	}, nil
}

// InitChain registers the regions of the genesis app state (GenesisState).
func (a *App) InitChain(_ context.Context, req *abci.InitChainRequest) (*abci.InitChainResponse, error) {
	var gs GenesisState
	if err := json.Unmarshal(req.AppStateBytes, &gs); err != nil {
		return nil, fmt.Errorf("sidechain: genesis app_state: %w", err)
	}
	s, err := gs.state()
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.height != 0 {
		return nil, fmt.Errorf("sidechain: InitChain at committed height %d; the application database belongs to another chain", a.height)
	}
	// The genesis regions are the state at height 0: CheckTx and Query
	// see them at once; Commit writes them with block 1 (a crash before
	// that makes CometBFT call InitChain again).
	a.committed, a.appHash, a.pending = s, s.appHash(), nil
	a.resetCheck()
	a.log.Info("genesis regions", "chain", req.ChainId, "regions", len(s), "app_hash", fmt.Sprintf("%X", a.appHash))
	return &abci.InitChainResponse{AppHash: slices.Clone(a.appHash)}, nil
}

// CheckTx admits a batch to the mempool only if it would be accepted now:
// its region exists, its previous root is the region's root after the
// committed state and the batches already admitted, and its proof verifies.
func (a *App) CheckTx(_ context.Context, req *abci.CheckTxRequest) (*abci.CheckTxResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	b, err := DecodeTx(req.Tx)
	if err == nil {
		err = a.apply(b, a.committed, a.check[b.Region], "check")
	}
	if err != nil {
		a.m.rejected.WithLabelValues("check", codeLabel(err)).Inc()
		a.log.Debug("batch refused", "phase", "check", "err", err)
		return &abci.CheckTxResponse{Code: codeOf(err), Log: message(err), Codespace: Codespace}, nil
	}
	a.check[b.Region] = b.NewRoot
	return &abci.CheckTxResponse{Code: abci.CodeTypeOK}, nil
}

// apply checks b against region state s with current root cur; it does not
// change anything.
func (a *App) apply(b *Batch, s state, cur [32]byte, phase string) error {
	r, ok := s[b.Region]
	if !ok {
		return errorf(CodeUnknownRegion, "region %q is not registered on this chain; check the region name or add it to genesis", b.Region)
	}
	if b.PrevRoot != cur {
		return errorf(CodeWrongPrevRoot, "batch for region %s starts from root %x but the region's root is %x; rebuild the batch on the current root", b.Region, b.PrevRoot, cur)
	}
	if err := a.verify.Bind(b.Region, b.TxData); err != nil {
		return errorf(CodeWrongRegion, "region %s: %v; submit the batch for the region it was built for", b.Region, err)
	}
	start := time.Now()
	err := a.verify.Verify(r.vk, b.PrevRoot, b.NewRoot, b.TxData, b.Proof)
	a.m.verifySeconds.WithLabelValues(phase).Observe(time.Since(start).Seconds())
	if err != nil {
		return errorf(CodeBadProof, "region %s batch %x→%x: %v", b.Region, b.PrevRoot[:4], b.NewRoot[:4], err)
	}
	return nil
}

// FinalizeBlock executes the block's batches in order against the state
// after the previous block. A batch that fails gets its error code and
// changes nothing; the block is still valid.
func (a *App) FinalizeBlock(_ context.Context, req *abci.FinalizeBlockRequest) (*abci.FinalizeBlockResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.committed.clone()
	res := make([]*abci.ExecTxResult, len(req.Txs))
	for i, tx := range req.Txs {
		b, err := DecodeTx(tx)
		if err == nil {
			var cur [32]byte
			if r, ok := s[b.Region]; ok {
				cur = r.Root
			}
			err = a.apply(b, s, cur, "finalize")
		}
		if err != nil {
			a.m.rejected.WithLabelValues("finalize", codeLabel(err)).Inc()
			a.log.Warn("batch in block refused", "height", req.Height, "index", i, "err", err)
			res[i] = &abci.ExecTxResult{Code: codeOf(err), Log: message(err), Codespace: Codespace}
			continue
		}
		old := s[b.Region]
		nr := &region{RegionRoot: old.RegionRoot, vk: old.vk}
		nr.Root = b.NewRoot
		nr.Batches++
		nr.Height = req.Height
		s[b.Region] = nr
		a.m.accepted.Inc()
		a.log.Info("batch accepted", "height", req.Height, "region", b.Region, "batches", nr.Batches,
			"new_root", fmt.Sprintf("%x", nr.Root), "tx_data_bytes", len(b.TxData))
		res[i] = &abci.ExecTxResult{Code: abci.CodeTypeOK, Events: []abci.Event{{
			Type: "batch",
			Attributes: []abci.EventAttribute{
				{Key: "region", Value: b.Region, Index: true},
				{Key: "new_root", Value: fmt.Sprintf("%x", b.NewRoot), Index: true},
				{Key: "batches", Value: fmt.Sprint(nr.Batches)},
			},
		}}}
	}
	ah := s.appHash()
	a.pending, a.pendingH, a.pendingAH = s, req.Height, ah
	return &abci.FinalizeBlockResponse{TxResults: res, AppHash: slices.Clone(ah)}, nil
}

// Commit makes the finalized block's state durable (one synced pebble
// batch) and the base of the next block and of CheckTx.
func (a *App) Commit(context.Context, *abci.CommitRequest) (*abci.CommitResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.pending == nil {
		return nil, fmt.Errorf("sidechain: Commit without a finalized block")
	}
	old := a.committed
	if a.height == 0 {
		old = state{} // genesis regions are written with block 1
	}
	if err := saveState(a.db, old, a.pending, a.pendingH, a.pendingAH); err != nil {
		return nil, fmt.Errorf("sidechain: commit block %d: %w", a.pendingH, err)
	}
	a.committed, a.height, a.appHash = a.pending, a.pendingH, a.pendingAH
	a.pending = nil
	a.resetCheck()
	a.m.height.Set(float64(a.height))
	return &abci.CommitResponse{}, nil
}

// Query answers QueryRegion from the committed state.
func (a *App) Query(_ context.Context, req *abci.QueryRequest) (*abci.QueryResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	fail := func(err error) (*abci.QueryResponse, error) {
		return &abci.QueryResponse{Code: codeOf(err), Log: message(err), Codespace: Codespace, Height: a.height}, nil
	}
	if req.Path == QueryCheck {
		b, err := DecodeTx(req.Data)
		if err == nil {
			err = a.apply(b, a.committed, a.check[b.Region], "query")
		}
		if err != nil {
			return fail(err)
		}
		return &abci.QueryResponse{Height: a.height}, nil
	}
	if req.Path != QueryRegion {
		return fail(errorf(CodeMalformed, "unknown query path %q; use %s or %s", req.Path, QueryRegion, QueryCheck))
	}
	if req.Height != 0 && req.Height != a.height {
		return fail(errorf(CodeMalformed, "query at height %d: this node answers only for its last committed height %d; query with height 0", req.Height, a.height))
	}
	name := string(req.Data)
	if err := ValidRegionName(name); err != nil {
		return fail(err)
	}
	leaf, proof, ok := a.committed.proof(name)
	if !ok {
		return fail(errorf(CodeUnknownRegion, "region %q is not registered on this chain", name))
	}
	pb, err := proof.ToProto().Marshal()
	if err != nil {
		return fail(err)
	}
	return &abci.QueryResponse{
		Key:      req.Data,
		Value:    leaf,
		Height:   a.height,
		ProofOps: &cmtcrypto.ProofOps{Ops: []cmtcrypto.ProofOp{{Type: ProofOpRegion, Key: req.Data, Data: pb}}},
	}, nil
}

// message is the text of err for an ABCI Log: the message alone for our
// errors (the client adds the code's name back).
func message(err error) string {
	if e, ok := err.(*Error); ok {
		return e.Message
	}
	return err.Error()
}

func codeLabel(err error) string {
	if e, ok := err.(*Error); ok {
		if n, ok := codeNames[e.Code]; ok {
			return n
		}
	}
	return "internal error"
}

// vkHash is the digest of a verifying key recorded in the region's leaf.
func vkHash(vk []byte) [32]byte { return sha256.Sum256(vk) }
