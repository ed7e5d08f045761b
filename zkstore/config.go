package zkstore

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/ppstore/ppstore/discover"
	"github.com/ppstore/ppstore/rollup"
)

// Config configures an operator. The zero value of every field but DataDir
// and Region means its default.
type Config struct {
	DataDir     string        `toml:"data_dir"`
	Listen      string        `toml:"listen"`       // UDP host:port; default "127.0.0.1:0"
	Advertise   string        `toml:"advertise"`    // host:port published at the bootstrap; default the bound address
	Region      string        `toml:"region"`       // the region whose rollup this is (required)
	MetricsAddr string        `toml:"metrics_addr"` // empty: no metrics endpoint
	LogLevel    string        `toml:"log_level"`    // default "info"
	Bootstrap   []string      `toml:"bootstrap"`    // "peerID@host:port" of the region's bootstraps
	DNSSeed     string        `toml:"dns_seed"`     // domain whose _ppstore TXT records list bootstraps
	RecordTTL   time.Duration `toml:"record_ttl"`   // lifetime of the operator's record; default 1m

	Depth         int           `toml:"tree_depth"`     // account tree depth; default rollup.DefaultParams
	BatchSize     int           `toml:"batch_size"`     // transfers per batch; default rollup.DefaultParams
	BatchWait     time.Duration `toml:"batch_wait"`     // longest a transfer waits for its batch to fill before padding; default 10s
	RoundInterval time.Duration `toml:"round_interval"` // how often the batcher looks for work; default 1s
	KeysDir       string        `toml:"keys_dir"`       // cached circuit keys; default DataDir/keys
	Faucet        uint64        `toml:"faucet"`         // genesis balance of the operator's account 0; default 1e12

	// The sidechain the batches go to (read by cmd/zkstore, which dials it
	// and calls Peer.SetChain): a node's RPC host:port and the genesis
	// file whose validators are trusted. Empty: batches are proven, not
	// submitted.
	SidechainRPC     string `toml:"sidechain_rpc"`
	SidechainGenesis string `toml:"sidechain_genesis"`
}

// EnsureDefaults fills zero fields with their defaults.
func (c *Config) EnsureDefaults() {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:0"
	}
	if c.LogLevel == "" {
		c.LogLevel = "info"
	}
	if c.RecordTTL <= 0 {
		c.RecordTTL = time.Minute
	}
	if c.Depth == 0 {
		c.Depth = rollup.DefaultParams.Depth
	}
	if c.BatchSize == 0 {
		c.BatchSize = rollup.DefaultParams.BatchSize
	}
	if c.BatchWait <= 0 {
		c.BatchWait = 10 * time.Second
	}
	if c.RoundInterval <= 0 {
		c.RoundInterval = time.Second
	}
	if c.Faucet == 0 {
		c.Faucet = 1_000_000_000_000
	}
}

// Params are the circuit parameters the config names.
func (c *Config) Params() rollup.Params { return rollup.Params{Depth: c.Depth, BatchSize: c.BatchSize} }

// Validate reports the first setting that cannot work.
func (c *Config) Validate() error {
	if c.DataDir == "" {
		return errors.New("zkstore: data_dir is required")
	}
	if c.Region == "" {
		return errors.New("zkstore: region is required (transfers are signed for one region)")
	}
	if _, err := net.ResolveUDPAddr("udp", c.Listen); err != nil {
		return fmt.Errorf("zkstore: listen %q: %v", c.Listen, err)
	}
	if c.Advertise != "" {
		if _, _, err := net.SplitHostPort(c.Advertise); err != nil {
			return fmt.Errorf("zkstore: advertise %q: want host:port: %v", c.Advertise, err)
		}
	}
	if _, err := discover.ParseSeeds(c.Bootstrap); err != nil {
		return fmt.Errorf("zkstore: bootstrap: %w", err)
	}
	if err := c.Params().Validate(); err != nil {
		return fmt.Errorf("zkstore: %w", err)
	}
	return nil
}
