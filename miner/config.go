package miner

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ppstore/ppstore/config"
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

	// Share codes (access.go): the indexer to pull revocations from
	// ("peerID@host:port"; default: found through the bootstrap) and how
	// often (default DefaultRevocationRefresh).
	Indexer           string        `toml:"indexer"`
	RevocationRefresh time.Duration `toml:"revocation_refresh"`

	// Knobs for tests; zero means the defaults below.
	dialTimeout    time.Duration // connecting to the next miner of a chain
	idleTimeout    time.Duration // longest pause between two pieces of an upload
	resultTimeout  time.Duration // waiting for the rest of the chain after the last piece
	serveIdle      time.Duration // longest a reader of pieces may take nothing
	requestTimeout time.Duration // the transport's deadline for a request (see transport.Config)
}

const (
	defaultDialTimeout   = 5 * time.Second
	defaultIdleTimeout   = 5 * time.Second
	defaultResultTimeout = 15 * time.Second
	defaultServeIdle     = 30 * time.Second
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
	if c.RecordTTL < 3*time.Second {
		errs = append(errs, fmt.Errorf("record_ttl %v is too short: give at least 3s", c.RecordTTL))
	}
	for _, b := range c.Bootstrap {
		if _, err := config.ParsePeerAddr(b); err != nil {
			errs = append(errs, fmt.Errorf("bootstrap: %w", err))
		}
	}
	if strings.ContainsAny(c.DNSSeed, " /") {
		errs = append(errs, fmt.Errorf("dns_seed %q is not a domain name", c.DNSSeed))
	}
	if len(errs) > 0 {
		return fmt.Errorf("config: %w", errors.Join(errs...))
	}
	return nil
}
