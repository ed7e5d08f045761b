package miner

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/vfs"
	"github.com/ppstore/ppstore/config"
	"github.com/ppstore/ppstore/proofs"
	"github.com/ppstore/ppstore/wire"
)

// Defaults of the fields of Config.
const (
	DefaultListen    = "127.0.0.1:0"
	DefaultRegion    = "local"
	DefaultLogLevel  = "info"
	DefaultCapacity  = config.ByteSize(10 << 30)
	DefaultRecordTTL = time.Minute
)

// Config configures a miner. The zero value of every field but DataDir means
// its default.
type Config struct {
	DataDir     string   `toml:"data_dir"`
	Listen      string   `toml:"listen"` // UDP host:port; it is also the address advertised to the bootstrap
	Region      string   `toml:"region"`
	MetricsAddr string   `toml:"metrics_addr"`
	LogLevel    string   `toml:"log_level"`
	Bootstrap   []string `toml:"bootstrap"` // "peerID@host:port" of the region's bootstraps
	DNSSeed     string   `toml:"dns_seed"`  // domain whose _ppstore TXT records name the bootstraps

	Capacity  config.ByteSize `toml:"capacity"`   // bytes offered for shards
	RecordTTL time.Duration   `toml:"record_ttl"` // lifetime of the record at the bootstrap; refreshed every third of it
	// UploadLease is how long a stored replica waits for a commit to
	// confirm it before the miner asks the indexer and reclaims it if none
	// did; default DefaultUploadLease (docs/LEASES.md).
	UploadLease time.Duration `toml:"upload_lease"`

	// Share codes (access.go): the indexer to pull revocations from
	// ("peerID@host:port"; default: found through the bootstrap) and how
	// often (default DefaultRevocationRefresh).
	Indexer           string        `toml:"indexer"`
	RevocationRefresh time.Duration `toml:"revocation_refresh"`

	// Proofs are the sealing and challenge parameters; they must be the
	// region verifier's (zero fields: the defaults of package proofs).
	Proofs proofs.Params `toml:"proofs"`

	// BenchKeepUnsealed is for benchmarks only: the miner never seals, so
	// it keeps every shard as stored, serves pieces without unsealing and
	// proves nothing to the verifier (which therefore never pays it). It
	// is the baseline of bench/sealedget.sh, which compares a get from
	// sealed replicas with the same get from these. A real miner leaves it
	// unset.
	BenchKeepUnsealed bool `toml:"bench_keep_unsealed"`

	// Knobs for tests; zero means the defaults below.
	dialTimeout    time.Duration   // connecting to the next miner of a chain
	idleTimeout    time.Duration   // longest pause between two pieces of an upload
	resultTimeout  time.Duration   // waiting for the rest of the chain after the last piece
	serveIdle      time.Duration   // longest a reader of pieces may take nothing
	requestTimeout time.Duration   // the transport's deadline for a request (see transport.Config)
	indexers       []wire.NodeAddr // the region's indexers, instead of asking the bootstrap
	sealOff        bool            // do not seal in the background (tests seal with sealer.RunOnce)
	quicIdle       time.Duration   // QUIC idle timeout of the miner's connections
	fs             vfs.FS          // the store's file system (shards and database); nil: the operating system's
}

// requestTimeoutOrDefault is the deadline of a request this miner makes.
func (c *Config) requestTimeoutOrDefault() time.Duration {
	if c.requestTimeout > 0 {
		return c.requestTimeout
	}
	return 30 * time.Second
}

const (
	defaultDialTimeout   = 3 * time.Second // a QUIC handshake in a region takes milliseconds
	defaultIdleTimeout   = 4 * time.Second // see docs/LEASES.md, "Blame in a chain"
	defaultResultTimeout = 15 * time.Second
	defaultServeIdle     = 30 * time.Second
	// defaultQUICIdle is the QUIC idle timeout of a miner's connections
	// (the smaller of both ends' applies). A live peer's QUIC stack answers
	// keep-alives (every half of it at most) even when its streams are
	// stalled, so this detects a peer that is gone (killed, unplugged: no
	// connection close is ever sent) and fails every stream to it at once,
	// in every chain. 3 s took live miners on a machine loaded 15× its
	// cores for dead (a put excluded one); 5 s did not.
	defaultQUICIdle = 5 * time.Second
)

// EnsureDefaults fills zero fields with their defaults.
func (c *Config) EnsureDefaults() {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.Region == "" {
		c.Region = DefaultRegion
	}
	if c.LogLevel == "" {
		c.LogLevel = DefaultLogLevel
	}
	if c.Capacity == 0 {
		c.Capacity = DefaultCapacity
	}
	if c.RecordTTL == 0 {
		c.RecordTTL = DefaultRecordTTL
	}
	if c.UploadLease == 0 {
		c.UploadLease = DefaultUploadLease
	}
	if c.dialTimeout <= 0 {
		c.dialTimeout = defaultDialTimeout
	}
	if c.idleTimeout <= 0 {
		c.idleTimeout = defaultIdleTimeout
	}
	if c.resultTimeout <= 0 {
		c.resultTimeout = defaultResultTimeout
	}
	if c.serveIdle <= 0 {
		c.serveIdle = defaultServeIdle
	}
	if c.quicIdle <= 0 {
		c.quicIdle = defaultQUICIdle
	}
}

// Validate reports the first field that cannot be used, saying how to fix it.
func (c *Config) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("data_dir is required: set it in the config file or pass --data-dir"))
	}
	if c.Listen == "" {
		errs = append(errs, errors.New("listen is empty: give a UDP host:port such as 0.0.0.0:7301"))
	}
	if c.Capacity <= 0 {
		errs = append(errs, fmt.Errorf("capacity %d is not positive: give the bytes to offer, such as 100GiB", int64(c.Capacity)))
	}
	if c.UploadLease < 0 {
		errs = append(errs, fmt.Errorf("upload_lease %v is negative: give how long a replica waits for its commit, such as 2m", c.UploadLease))
	}
	if c.RecordTTL < 3*time.Second {
		errs = append(errs, fmt.Errorf("record_ttl %v is too short: give at least 3s", c.RecordTTL))
	}
	for _, b := range c.Bootstrap {
		if _, err := config.ParsePeerAddr(b); err != nil {
			errs = append(errs, fmt.Errorf("bootstrap: %w", err))
		}
	}
	if err := c.Proofs.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("proofs: %w", err))
	}
	if strings.ContainsAny(c.DNSSeed, " /") {
		errs = append(errs, fmt.Errorf("dns_seed %q is not a domain name", c.DNSSeed))
	}
	if len(errs) > 0 {
		return fmt.Errorf("config: %w", errors.Join(errs...))
	}
	return nil
}
