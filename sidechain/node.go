package sidechain

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	cmtcfg "github.com/cometbft/cometbft/config"
	"github.com/cometbft/cometbft/crypto"
	cmtjson "github.com/cometbft/cometbft/libs/json"
	nm "github.com/cometbft/cometbft/node"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/privval"
	"github.com/cometbft/cometbft/proxy"
	"github.com/cometbft/cometbft/rpc/client/local"
	cmttypes "github.com/cometbft/cometbft/types"
	"github.com/prometheus/client_golang/prometheus"
)

// AppDBDir is the application's pebble database under a node's home.
const AppDBDir = "data/rollup.db"

// NodeConfig configures a sidechain node: a CometBFT validator running the
// rollup application. Its zero value, with Home set, is a
// validator listening for peers on 0.0.0.0:26656 with no RPC server.
//
// A home directory holds CometBFT's usual layout:
//
//	config/genesis.json             the chain's genesis (shared by every validator)
//	config/node_key.json            p2p identity (node ID)
//	config/priv_validator_key.json  consensus signing key
//	data/priv_validator_state.json  last signed height/round (double-sign guard)
//	data/*.db                       blocks, state, evidence, tx index (pebble)
//	data/rollup.db                  the rollup application's state (pebble)
type NodeConfig struct {
	// Home is the node's directory (see above); InitHome creates it.
	Home string
	// Moniker names the node to its peers; default: the base name of Home.
	Moniker string
	// P2PListen is the TCP host:port for peers; default 0.0.0.0:26656.
	P2PListen string
	// P2PExternal is the host:port peers should dial, if not P2PListen.
	P2PExternal string
	// RPCListen is the TCP host:port of CometBFT's JSON-RPC server (which
	// zkstore operators and wallets dial with Dial); "" serves none.
	RPCListen string
	// Peers are the persistent peers, each "nodeID@host:port".
	Peers []string
	// CometMetricsAddr, if set, makes CometBFT serve its own consensus,
	// p2p and mempool metrics at http://addr/metrics.
	CometMetricsAddr string
	// Consensus overrides CometBFT's consensus settings; nil keeps its
	// defaults (timeouts of about a second) except that an idle chain makes
	// an empty block only every 30 s: a block that carries a batch is still
	// followed at once by the block that signs its app hash.
	Consensus *cmtcfg.ConsensusConfig
	// Verifier checks batches; the zero value means RollupVerifier
	// (rollup.VerifyBatch), what production nodes run. Tests may pass a fake.
	Verifier Verifier
}

// EnsureDefaults fills the defaults described on the fields.
func (c *NodeConfig) EnsureDefaults() {
	if c.Moniker == "" {
		c.Moniker = filepath.Base(c.Home)
	}
	if c.P2PListen == "" {
		c.P2PListen = "0.0.0.0:26656"
	}
	if c.Verifier.Verify == nil && c.Verifier.Bind == nil {
		c.Verifier = RollupVerifier
	}
}

// Validate reports a config the node cannot run with.
func (c *NodeConfig) Validate() error {
	if c.Home == "" {
		return errors.New("sidechain: no home directory; set it (sidechain start --home DIR)")
	}
	if c.Verifier.Verify == nil || c.Verifier.Bind == nil {
		return errors.New("sidechain: incomplete batch verifier; leave Verifier zero for RollupVerifier")
	}
	for _, p := range c.Peers {
		if _, err := p2p.NewNetAddressString(p); err != nil {
			return fmt.Errorf("sidechain: peer %q: %w; write peers as nodeID@host:port (sidechain show-node-id prints a node's ID)", p, err)
		}
	}
	return nil
}

// ValidatorInfo is what an operator hands to whoever assembles genesis
// (printed by `sidechain init`): its name, consensus public key and p2p
// node ID.
type ValidatorInfo struct {
	Name   string        `json:"name"`
	PubKey crypto.PubKey `json:"pub_key"`
	NodeID string        `json:"node_id"`
}

// MarshalInfo encodes v as one line of JSON (the public key in CometBFT's
// amino JSON form, as genesis.json has it).
func (v ValidatorInfo) MarshalInfo() ([]byte, error) { return cmtjson.Marshal(v) }

// UnmarshalValidatorInfo decodes a line written by MarshalInfo.
func UnmarshalValidatorInfo(b []byte) (ValidatorInfo, error) {
	var v ValidatorInfo
	if err := cmtjson.Unmarshal(b, &v); err != nil {
		return v, fmt.Errorf("sidechain: validator info: %w", err)
	}
	if v.PubKey == nil {
		return v, errors.New("sidechain: validator info has no pub_key")
	}
	return v, nil
}

// cometConfig returns CometBFT's config for home with our settings.
func cometConfig(c *NodeConfig) *cmtcfg.Config {
	cfg := cmtcfg.DefaultConfig()
	cfg.SetRoot(c.Home)
	cfg.Moniker = c.Moniker
	cfg.DBBackend = "pebbledb"
	cfg.P2P.ListenAddress = "tcp://" + c.P2PListen
	cfg.P2P.ExternalAddress = c.P2PExternal
	cfg.P2P.PersistentPeers = strings.Join(c.Peers, ",")
	if c.P2PExternal == "" && isLoopback(c.P2PListen) {
		// a test or devnet network on one machine
		cfg.P2P.AddrBookStrict = false
		cfg.P2P.AllowDuplicateIP = true
	}
	cfg.RPC.ListenAddress = ""
	if c.RPCListen != "" {
		cfg.RPC.ListenAddress = "tcp://" + c.RPCListen
	}
	cfg.RPC.PprofListenAddress = ""
	// No transaction index: clients learn a batch's fate from
	// BroadcastTxCommit and its effect from the region query, and
	// CometBFT never closes the index's database.
	cfg.TxIndex.Indexer = "null"
	if c.CometMetricsAddr != "" {
		cfg.Instrumentation.Prometheus = true
		cfg.Instrumentation.PrometheusListenAddr = c.CometMetricsAddr
		cfg.Instrumentation.Namespace = "cometbft"
	}
	cfg.Consensus.CreateEmptyBlocksInterval = 30 * time.Second
	if c.Consensus != nil {
		cs := *c.Consensus
		cs.RootDir = c.Home
		cfg.Consensus = &cs
	}
	return cfg
}

func isLoopback(hostport string) bool {
	return strings.HasPrefix(hostport, "127.") || strings.HasPrefix(hostport, "localhost:") || strings.HasPrefix(hostport, "[::1]:")
}

// InitHome creates home's directories and keys (node key, validator key
// and its sign state) if they do not exist, and returns the validator's
// info. It never overwrites a key.
func InitHome(home, moniker string) (ValidatorInfo, error) {
	c := NodeConfig{Home: home, Moniker: moniker}
	c.EnsureDefaults()
	cfg := cometConfig(&c)
	for _, d := range []string{filepath.Join(home, "config"), filepath.Join(home, "data")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return ValidatorInfo{}, fmt.Errorf("sidechain: %w", err)
		}
	}
	nk, err := p2p.LoadOrGenNodeKey(cfg.NodeKeyFile())
	if err != nil {
		return ValidatorInfo{}, fmt.Errorf("sidechain: node key: %w", err)
	}
	pv, err := loadPV(cfg, true)
	if err != nil {
		return ValidatorInfo{}, err
	}
	pk, err := pv.GetPubKey()
	if err != nil {
		return ValidatorInfo{}, err
	}
	return ValidatorInfo{Name: c.Moniker, PubKey: pk, NodeID: string(nk.ID())}, nil
}

// loadPV loads the validator key and sign state, generating both if gen
// and neither exists. A key without its sign state is refused: starting
// from an empty sign state could sign twice at one height.
func loadPV(cfg *cmtcfg.Config, gen bool) (*privval.FilePV, error) {
	kf, sf := cfg.PrivValidatorKeyFile(), cfg.PrivValidatorStateFile()
	_, kerr := os.Stat(kf)
	_, serr := os.Stat(sf)
	switch {
	case kerr == nil && serr == nil:
		// privval exits the process on a bad file; check it parses first.
		b, err := os.ReadFile(kf)
		if err != nil {
			return nil, fmt.Errorf("sidechain: %w", err)
		}
		var k privval.FilePVKey
		if err := cmtjson.Unmarshal(b, &k); err != nil || k.PrivKey == nil {
			return nil, fmt.Errorf("sidechain: validator key %s is unreadable (%v); restore it from your backup", kf, err)
		}
		return privval.LoadFilePV(kf, sf), nil
	case errors.Is(kerr, os.ErrNotExist) && errors.Is(serr, os.ErrNotExist) && gen:
		pv, err := privval.GenFilePV(kf, sf, nil)
		if err != nil {
			return nil, err
		}
		pv.Save()
		return pv, nil
	case kerr == nil:
		return nil, fmt.Errorf("sidechain: validator key %s exists but its sign state %s is missing; restore the state file from your backup (a fresh one could sign twice at one height)", kf, sf)
	default:
		return nil, fmt.Errorf("sidechain: no validator key at %s; run `sidechain init --home %s` first", kf, cfg.RootDir)
	}
}

// WriteGenesis writes doc as home's config/genesis.json.
func WriteGenesis(home string, doc *cmttypes.GenesisDoc) error {
	if err := os.MkdirAll(filepath.Join(home, "config"), 0o700); err != nil {
		return err
	}
	return doc.SaveAs(filepath.Join(home, "config", "genesis.json"))
}

// InitSingle prepares home for a one-validator chain (the devnet): keys,
// and a genesis with this node as the only validator and the regions of gs.
// An existing genesis is kept, so a devnet restarted keeps its chain.
func InitSingle(home, chainID string, gs GenesisState) error {
	v, err := InitHome(home, "")
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(home, "config", "genesis.json")); err == nil {
		return nil
	}
	doc, err := NewGenesis(chainID, []GenesisValidator{{Name: v.Name, PubKey: v.PubKey}}, gs)
	if err != nil {
		return err
	}
	return WriteGenesis(home, doc)
}

// Node is a sidechain validator: CometBFT consensus, p2p, mempool and
// block store, with the rollup App in the same process. It owns both and
// closes both.
type Node struct {
	cfg    NodeConfig
	log    *slog.Logger
	app    *App
	node   *nm.Node
	client *Client

	started bool
}

// NewNode builds a node from an initialised home (InitHome and a genesis).
// It opens the databases and replays, through CometBFT's handshake, any
// block the application has not committed, but starts nothing: call Run.
// reg (may be nil) receives the rollup module's metrics.
func NewNode(cfg NodeConfig, log *slog.Logger, reg prometheus.Registerer) (*Node, error) {
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ccfg := cometConfig(&cfg)
	if _, err := os.Stat(ccfg.GenesisFile()); err != nil {
		return nil, fmt.Errorf("sidechain: no genesis at %s; copy the network's genesis.json there (sidechain init --genesis FILE)", ccfg.GenesisFile())
	}
	if err := ccfg.ValidateBasic(); err != nil {
		return nil, fmt.Errorf("sidechain: config: %w", err)
	}
	nk, err := p2p.LoadNodeKey(ccfg.NodeKeyFile())
	if err != nil {
		return nil, fmt.Errorf("sidechain: node key: %w; run `sidechain init --home %s` first", err, cfg.Home)
	}
	pv, err := loadPV(ccfg, false)
	if err != nil {
		return nil, err
	}
	app, err := OpenApp(filepath.Join(cfg.Home, AppDBDir), cfg.Verifier, log, reg)
	if err != nil {
		return nil, err
	}
	n, err := nm.NewNode(context.Background(), ccfg, pv, nk,
		proxy.NewLocalClientCreator(app),
		nm.DefaultGenesisDocProviderFunc(ccfg),
		stoppableDBProvider,
		nm.DefaultMetricsProvider(ccfg.Instrumentation),
		newCometLogger(log))
	if err != nil {
		app.Close()
		return nil, fmt.Errorf("sidechain: start CometBFT: %w", err)
	}
	nd := &Node{cfg: cfg, log: log, app: app, node: n}
	trust, err := TrustFromGenesis(n.GenesisDoc())
	if err != nil {
		app.Close()
		return nil, err
	}
	nd.client = &Client{rpc: local.New(n), chainID: trust.ChainID, trust: trust}
	if reg != nil {
		if err := registerNodeMetrics(reg, n); err != nil {
			app.Close()
			return nil, err
		}
	}
	return nd, nil
}

// Start starts consensus and p2p and returns; Run is Start, wait, Stop.
func (n *Node) Start() error {
	n.started = true
	if err := n.node.Start(); err != nil {
		return fmt.Errorf("sidechain: start node: %w", err)
	}
	_, h := n.app.Roots()
	n.log.Info("sidechain node started", "node_id", n.NodeID(), "p2p", n.cfg.P2PListen, "rpc", n.cfg.RPCListen,
		"chain", n.node.GenesisDoc().ChainID, "height", h, "peers", len(n.cfg.Peers))
	return nil
}

// Stop stops consensus and p2p and closes CometBFT's databases.
func (n *Node) Stop() error {
	if !n.started {
		// CometBFT opened its databases in NewNode; OnStop closes them.
		n.started = true
		n.node.OnStop()
		return nil
	}
	if !n.node.IsRunning() {
		return nil
	}
	if err := n.node.Stop(); err != nil {
		return fmt.Errorf("sidechain: stop node: %w", err)
	}
	n.node.Wait()
	n.log.Info("sidechain node stopped", "node_id", n.NodeID())
	return nil
}

// Run starts the node and serves until ctx is done or its database stops
// taking writes (internal/pebbledb), which it returns.
func (n *Node) Run(ctx context.Context) error {
	if err := n.Start(); err != nil {
		return err
	}
	err := n.app.db.Watch(ctx) // nil when ctx ends; the failure if the database stopped
	if serr := n.Stop(); err == nil {
		err = serr
	}
	return err
}

// Close stops the node if it runs and closes the application's database.
func (n *Node) Close() error {
	err := n.Stop()
	if cerr := n.app.Close(); err == nil {
		err = cerr
	}
	return err
}

// Client returns a client that calls this node in process.
func (n *Node) Client() *Client { return n.client }

// App returns the node's rollup application.
func (n *Node) App() *App { return n.app }

// NodeID is the node's p2p ID (hex of its node key's address).
func (n *Node) NodeID() string { return string(n.node.NodeInfo().ID()) }

// PeerAddr is the address other validators list in their Peers:
// nodeID@host:port.
func (n *Node) PeerAddr() string {
	addr := n.cfg.P2PExternal
	if addr == "" {
		addr = n.cfg.P2PListen
	}
	return n.NodeID() + "@" + addr
}

// Height is the last block height in the node's block store.
func (n *Node) Height() int64 { return n.node.BlockStore().Height() }

// Peers is the number of peers connected.
func (n *Node) Peers() int { return n.node.Switch().Peers().Size() }

// Genesis returns the chain's genesis document.
func (n *Node) Genesis() *cmttypes.GenesisDoc { return n.node.GenesisDoc() }

// WaitHeight waits until the application has committed height h or ctx is
// done.
func (n *Node) WaitHeight(ctx context.Context, h int64) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		if _, got := n.app.Roots(); got >= h {
			return nil
		}
		select {
		case <-ctx.Done():
			_, got := n.app.Roots()
			return fmt.Errorf("sidechain: node %s at height %d, waiting for %d: %w", n.cfg.Moniker, got, h, ctx.Err())
		case <-t.C:
		}
	}
}

// ReadNodeID returns the p2p node ID of the node whose home is home,
// without creating anything.
func ReadNodeID(home string) (string, error) {
	c := NodeConfig{Home: home}
	c.EnsureDefaults()
	nk, err := p2p.LoadNodeKey(cometConfig(&c).NodeKeyFile())
	if err != nil {
		return "", fmt.Errorf("sidechain: node key: %w; run `sidechain init --home %s` first", err, home)
	}
	return string(nk.ID()), nil
}
