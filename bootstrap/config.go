package bootstrap

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ppstore/ppstore/config"
	"github.com/ppstore/ppstore/discover"
	"github.com/ppstore/ppstore/wire"
)

// Defaults.
const (
	DefaultListen       = "0.0.0.0:7700"
	DefaultMaxTTL       = 5 * time.Minute
	DefaultSyncInterval = 10 * time.Second
	DefaultMaxRecords   = 100_000
)

// Config configures a bootstrap server. The zero value of every field but
// DataDir and Region means its default.
type Config struct {
	DataDir     string `toml:"data_dir"`
	Listen      string `toml:"listen"` // UDP host:port of the QUIC listener
	Region      string `toml:"region"` // the only region whose records are accepted
	MetricsAddr string `toml:"metrics_addr"`
	LogLevel    string `toml:"log_level"`
	// Bootstrap lists other bootstrap servers of the region ("peerID@host:port").
	// For a bootstrap server they are seeds, exactly like Seeds.
	Bootstrap []string `toml:"bootstrap"`
	// DNSSeed is a domain whose TXT records at _ppstore.<domain> name the
	// region's bootstrap servers (see package discover). They are looked up
	// at every sync and used as seeds, this server itself excepted.
	DNSSeed string `toml:"dns_seed"`

	// MaxTTL is the longest record lifetime accepted (default 5m).
	MaxTTL Duration `toml:"max_ttl"`
	// Seeds are the other bootstrap servers of the region to pull records
	// from, as "peerID@host:port".
	Seeds []string `toml:"seeds"`
	// SyncInterval is how often the seeds are asked (default 10s).
	SyncInterval Duration `toml:"sync_interval"`
	// MaxRecords caps the table (default 100000); registrations of new peers
	// beyond it are refused with CodeUnavailable.
	MaxRecords int `toml:"max_records"`

	// now replaces the clock in tests.
	now func() time.Time
	// manualChores keeps Run from running the chores: tests call RunOnce.
	manualChores bool
	// resolver replaces the DNS resolver in tests.
	resolver discover.Resolver
}

// EnsureDefaults fills the zero fields.
func (c *Config) EnsureDefaults() {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.LogLevel == "" {
		c.LogLevel = "info"
	}
	if c.MaxTTL == 0 {
		c.MaxTTL = Duration(DefaultMaxTTL)
	}
	if c.SyncInterval == 0 {
		c.SyncInterval = Duration(DefaultSyncInterval)
	}
	if c.MaxRecords == 0 {
		c.MaxRecords = DefaultMaxRecords
	}
}

// Validate reports the first invalid setting.
func (c *Config) Validate() error {
	if c.DataDir == "" {
		return errors.New("bootstrap: data_dir is required (it holds the identity key)")
	}
	if c.Region == "" {
		return errors.New("bootstrap: region is required: the bootstrap serves the records of one region")
	}
	if d := c.MaxTTL.D(); d < time.Second || d > 24*time.Hour {
		return fmt.Errorf("bootstrap: max_ttl %v out of range: want between 1s and 24h", d)
	}
	if d := c.SyncInterval.D(); d < 100*time.Millisecond {
		return fmt.Errorf("bootstrap: sync_interval %v too short: want at least 100ms", d)
	}
	if c.MaxRecords < 1 {
		return fmt.Errorf("bootstrap: max_records %d: want at least 1", c.MaxRecords)
	}
	if _, err := c.seedAddrs(); err != nil {
		return err
	}
	return nil
}

// seedAddrs parses Seeds and Bootstrap, dropping duplicates.
func (c *Config) seedAddrs() ([]wire.NodeAddr, error) {
	var out []wire.NodeAddr
	seen := map[wire.NodeAddr]bool{}
	for _, s := range append(append([]string(nil), c.Seeds...), c.Bootstrap...) {
		a, err := config.ParsePeerAddr(s)
		if err != nil {
			return nil, fmt.Errorf("bootstrap: seed: %w", err)
		}
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	return out, nil
}

// Duration is a time.Duration written in TOML as a string such as "5m" or "30s".
type Duration time.Duration

// D returns the duration as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(strings.TrimSpace(string(b)))
	if err != nil {
		return fmt.Errorf("bad duration %q: want a number with a unit such as 5m or 30s", string(b))
	}
	*d = Duration(v)
	return nil
}
