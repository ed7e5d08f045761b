// Package user is the ppstore client library behind the ppstore command: it
// stores files (put), fetches them (get), and asks the indexer what it knows
// (stat, ls). It owns the client side of the protocols: placement, chain
// uploads, receipts, and parallel checked downloads. It runs no server.
package user

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ppstore/ppstore/config"
	"github.com/ppstore/ppstore/discover"
	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/shard"
	"github.com/ppstore/ppstore/transport"
	"github.com/ppstore/ppstore/wire"
)

// Config is the client's configuration (client.toml).
type Config struct {
	DataDir   string          `toml:"data_dir"`  // holds the client's identity key
	Region    string          `toml:"region"`    // informational
	Bootstrap []string        `toml:"bootstrap"` // "peerID@host:port" of the region's bootstraps
	DNSSeed   string          `toml:"dns_seed"`  // domain with _ppstore TXT records
	Indexer   string          `toml:"indexer"`   // optional "peerID@host:port"; default: ask the bootstrap
	Listen    string          `toml:"listen"`    // UDP address for the client's socket; default ":0"
	Replicas  int             `toml:"replicas"`  // default 3
	ShardSize config.ByteSize `toml:"shard_size"`
	PieceSize config.ByteSize `toml:"piece_size"`
	Uploads   int             `toml:"uploads"`    // shards uploaded at once; default 4
	Streams   int             `toml:"streams"`    // requests in flight per miner when downloading; default 4
	RunPieces int             `toml:"run_pieces"` // consecutive pieces asked in one request; default 4
	Timeout   Duration        `toml:"timeout"`    // per request; default 30s
	// PieceTimeout is the longest wait for the next piece of a transfer before
	// the miner is given up as dead; default 10s.
	PieceTimeout Duration `toml:"piece_timeout"`
}

// Duration is a time.Duration written as "30s" in TOML.
type Duration time.Duration

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// EnsureDefaults fills zero fields.
func (c *Config) EnsureDefaults() {
	if c.Listen == "" {
		c.Listen = ":0"
	}
	if c.Replicas == 0 {
		c.Replicas = 3
	}
	if c.ShardSize == 0 {
		c.ShardSize = shard.DefaultShardSize
	}
	if c.PieceSize == 0 {
		c.PieceSize = shard.DefaultPieceSize
	}
	if c.Uploads == 0 {
		c.Uploads = 4
	}
	if c.Streams == 0 {
		c.Streams = 4
	}
	if c.RunPieces == 0 {
		c.RunPieces = 4
	}
	if c.Timeout == 0 {
		c.Timeout = Duration(30 * time.Second)
	}
	if c.PieceTimeout == 0 {
		c.PieceTimeout = Duration(10 * time.Second)
	}
}

// Limits of the settings that count things; Validate names them.
const (
	maxReplicas = MaxReplicas // validate.go
	// maxUploads is miner.MaxUploadsPerPeer: a miner refuses more uploads from
	// one peer at once, and all of a put's shards may start at the same miner.
	maxUploads = 32
	// maxStreams is the most streams a connection carries at once (the
	// transport's limit); requests past it would only wait for a free one.
	maxStreams = 256
)

// Validate reports every setting that cannot work, naming its key and the
// values allowed. It expects EnsureDefaults to have filled the zero fields.
func (c *Config) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("data_dir is required (it holds the client's identity key)"))
	}
	if len(c.Bootstrap) == 0 && c.DNSSeed == "" && c.Indexer == "" {
		errs = append(errs, errors.New("no bootstrap: set bootstrap = [\"PEERID@HOST:PORT\"] or dns_seed"))
	}
	counts := []struct {
		key    string
		v, max int
	}{
		{"replicas", c.Replicas, maxReplicas},
		{"uploads", c.Uploads, maxUploads},
		{"streams", c.Streams, maxStreams},
		{"run_pieces", c.RunPieces, wire.MaxPiecesPerRequest}, // what a miner answers in one request
	}
	for _, n := range counts {
		if n.v < 1 || n.v > n.max {
			errs = append(errs, fmt.Errorf("%s = %d, want 1..%d", n.key, n.v, n.max))
		}
	}
	before := len(errs)
	if c.PieceSize < 1 || c.PieceSize > shard.MaxPieceSize {
		errs = append(errs, fmt.Errorf("piece_size = %d, want 1..%d (%v)", int64(c.PieceSize), shard.MaxPieceSize, config.ByteSize(shard.MaxPieceSize)))
	}
	if c.ShardSize < 1 {
		errs = append(errs, fmt.Errorf("shard_size = %d, want a positive multiple of piece_size", int64(c.ShardSize)))
	}
	if len(errs) == before {
		// Both sizes are in range; how they fit together is the shard package's rule.
		p := shard.Params{ShardSize: int64(c.ShardSize), PieceSize: int64(c.PieceSize)}
		if err := p.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("shard_size = %d, piece_size = %d: %w", p.ShardSize, p.PieceSize, err))
		}
	}
	for _, d := range []struct {
		key string
		v   Duration
	}{{"timeout", c.Timeout}, {"piece_timeout", c.PieceTimeout}} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("%s = %v, want a duration above 0 such as 10s", d.key, time.Duration(d.v)))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("config: %w", errors.Join(errs...))
	}
	return nil
}

// Client talks to one region.
type Client struct {
	cfg  Config
	log  *slog.Logger
	node *transport.Node
	disc *discover.Client

	mu      sync.Mutex
	idx     wire.NodeAddr // cached; found through the bootstrap unless configured
	idxConf bool          // idx came from the config
}

// New loads the client identity and opens its QUIC socket.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Client, error) {
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	key, err := identity.LoadOrCreate(filepath.Join(cfg.DataDir, identity.KeyFile))
	if err != nil {
		return nil, err
	}
	seeds, err := discover.ParseSeeds(cfg.Bootstrap)
	if err != nil {
		return nil, err
	}
	if cfg.DNSSeed != "" {
		more, err := discover.SeedsFromDNS(ctx, dnsResolver, cfg.DNSSeed)
		if err != nil {
			return nil, err
		}
		seeds = append(seeds, more...)
	}
	node, err := transport.Listen(transport.Config{Key: key, Listen: cfg.Listen, RequestTimeout: time.Duration(cfg.Timeout), Logger: log})
	if err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg, log: log, node: node, disc: discover.NewClient(node, seeds)}
	if cfg.Indexer != "" {
		if c.idx, err = config.ParsePeerAddr(cfg.Indexer); err != nil {
			node.Close()
			return nil, err
		}
		c.idxConf = true
	}
	return c, nil
}

// ID is the client's peer ID (the owner of what it stores).
func (c *Client) ID() identity.PeerID { return c.node.ID() }

// Stats returns the client's transport counters.
func (c *Client) Stats() transport.Stats { return c.node.Stats() }

// Close releases the socket.
func (c *Client) Close() error { return c.node.Close() }

func (c *Client) indexer(ctx context.Context) (wire.NodeAddr, error) {
	c.mu.Lock()
	idx := c.idx
	c.mu.Unlock()
	if !idx.Peer.IsZero() {
		return idx, nil
	}
	a, err := c.disc.Find(ctx, wire.RoleIndexer)
	if err != nil {
		return a, fmt.Errorf("finding the region's indexer: %w", err)
	}
	c.mu.Lock()
	c.idx = a
	c.mu.Unlock()
	return a, nil
}

// forgetIndexer drops a cached indexer address that stopped answering, so the
// next call asks the bootstrap again (the indexer may have moved).
func (c *Client) forgetIndexer(a wire.NodeAddr) {
	c.mu.Lock()
	if !c.idxConf && c.idx == a {
		c.idx = wire.NodeAddr{}
	}
	c.mu.Unlock()
}

func (c *Client) callIndexer(ctx context.Context, req, resp wire.Message) error {
	idx, err := c.indexer(ctx)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, time.Duration(c.cfg.Timeout))
	defer cancel()
	if err := c.node.Call(cctx, idx, req, resp); err != nil {
		if errors.Is(err, transport.ErrUnreachable) {
			c.forgetIndexer(idx)
		}
		return fmt.Errorf("indexer %s: %w", idx.Peer.Short(), err)
	}
	return nil
}

// ErrBadCID reports a CID that is not a ppstore file CID.
var ErrBadCID = errors.New("not a ppstore file CID")

// ParseFileCID parses a file CID given on the command line.
func ParseFileCID(s string) (cid.Cid, error) {
	c, err := cid.Decode(s)
	if err != nil {
		return cid.Undef, fmt.Errorf("%w: %q: %v", ErrBadCID, s, err)
	}
	if c.Version() != 1 || c.Type() != shard.ManifestCodec {
		return cid.Undef, fmt.Errorf("%w: %s names a %#x object, want a file manifest (%#x)", ErrBadCID, s, c.Type(), shard.ManifestCodec)
	}
	return c, nil
}

// FileStat is what the indexer knows about a file.
type FileStat struct {
	CID    string      `json:"cid"`
	Size   int64       `json:"size"`
	Shards []ShardStat `json:"shards"`

	manifest *shard.Manifest
	replicas [][]wire.Replica
}

// ShardStat lists one shard's replicas.
type ShardStat struct {
	CID      string        `json:"cid"`
	Replicas []ReplicaStat `json:"replicas"`
}

// ReplicaStat is one miner's copy.
type ReplicaStat struct {
	Miner  string `json:"miner"`
	Status string `json:"status"`
	// Live is whether the miner has a live record at the bootstrap; nil when
	// the bootstrap was not asked (see Client.CheckLive in liveness.go).
	Live *bool `json:"live,omitempty"`
	// Proof is the verifier's state of the replica (stored, proven,
	// failing, repairing) and LastPassEpoch the epoch of its last passed
	// proof of spacetime; empty when the verifier was not asked (see
	// Client.CheckProofs in proofs.go).
	Proof         string `json:"proof,omitempty"`
	LastPassEpoch uint64 `json:"last_pass_epoch,omitempty"`
	// ProvenEpoch is the epoch the replica passed its PoRep in (the
	// verifier's record; 0 when not proven or not asked).
	ProvenEpoch uint64 `json:"proven_epoch,omitempty"`
}

// Stat asks the indexer where each shard of the file lives and checks the
// manifest it returns against the CID.
func (c *Client) Stat(ctx context.Context, file cid.Cid) (*FileStat, error) {
	var loc wire.Location
	if err := c.callIndexer(ctx, &wire.Locate{CID: file}, &loc); err != nil {
		return nil, err
	}
	if got := shard.ManifestCIDOf(loc.Manifest); !got.Equals(file) {
		return nil, wire.Errorf(wire.CodeCorrupt, "indexer returned a manifest whose CID is %v, not %v", got, file)
	}
	m, err := shard.DecodeManifest(loc.Manifest)
	if err != nil {
		return nil, err
	}
	if len(loc.Shards) != len(m.Shards) {
		return nil, wire.Errorf(wire.CodeCorrupt, "indexer listed %d shards for a %d-shard file", len(loc.Shards), len(m.Shards))
	}
	st := &FileStat{CID: file.String(), Size: m.Size, Shards: make([]ShardStat, len(m.Shards)), manifest: m, replicas: loc.Shards}
	for i := range m.Shards {
		ss := ShardStat{CID: m.ShardCID(i).String(), Replicas: []ReplicaStat{}}
		for _, r := range loc.Shards[i] {
			ss.Replicas = append(ss.Replicas, ReplicaStat{Miner: r.Peer.String(), Status: r.Status.String()})
		}
		st.Shards[i] = ss
	}
	return st, nil
}

// List returns the files this client's identity stored.
func (c *Client) List(ctx context.Context) ([]wire.FileEntry, error) {
	var fl wire.FileList
	if err := c.callIndexer(ctx, &wire.ListFiles{}, &fl); err != nil {
		return nil, err
	}
	return fl.Files, nil
}
