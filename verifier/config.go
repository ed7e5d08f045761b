package verifier

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/ppstore/ppstore/discover"
	"github.com/ppstore/ppstore/proofs"
)

// Config configures a verifier. The zero value of every field but DataDir
// means its default.
type Config struct {
	DataDir     string        `toml:"data_dir"`
	Listen      string        `toml:"listen"`       // UDP host:port; default "127.0.0.1:0"
	Advertise   string        `toml:"advertise"`    // host:port published at the bootstrap; default the bound address
	Region      string        `toml:"region"`       // region name in the verifier's record
	MetricsAddr string        `toml:"metrics_addr"` // empty: no metrics endpoint
	LogLevel    string        `toml:"log_level"`    // default "info"
	Bootstrap   []string      `toml:"bootstrap"`    // "peerID@host:port" of the region's bootstraps
	RecordTTL   time.Duration `toml:"record_ttl"`   // lifetime of the verifier's record; default 1m

	// Epoch is the length of a proof-of-spacetime round; default 1h (a few
	// seconds in the devnet).
	Epoch time.Duration `toml:"epoch"`
	// ChainLength is the number of epochs the committed hash chain covers
	// (its seeds are revealed one per epoch); default 100,000.
	ChainLength int `toml:"chain_length"`
	// KeepEpochs is how many epochs of judged responses are kept for
	// `verifier check`; default 64.
	KeepEpochs int `toml:"keep_epochs"`
	// MissesToRepair is the number of rounds in a row a replica may miss
	// before it is reported for repair; default 3.
	MissesToRepair int `toml:"misses_to_repair"`
	// RepairTimeout is how long a repair's new replica has to pass its
	// PoRep before the repair is sent to another miner; default 2m (the
	// miner reclaims an unconfirmed copy after its upload lease, 90 s).
	RepairTimeout time.Duration `toml:"repair_timeout"`
	// DeadlineBase and DeadlinePerReplica set a round's response deadline
	// for a miner asked about n replicas: base + n × per replica (defaults
	// proofs.DefaultDeadlineBase and proofs.DefaultDeadlinePerReplica).
	DeadlineBase       time.Duration `toml:"deadline_base"`
	DeadlinePerReplica time.Duration `toml:"deadline_per_replica"`
	// Proofs are the sealing and challenge parameters miners must use.
	Proofs proofs.Params `toml:"proofs"`
	// Payment says how passed proofs are paid (payment.go).
	Payment PaymentConfig `toml:"payment"`
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
	if c.Epoch <= 0 {
		c.Epoch = time.Hour
	}
	if c.ChainLength <= 0 {
		c.ChainLength = 100_000
	}
	if c.KeepEpochs <= 0 {
		c.KeepEpochs = 64
	}
	if c.MissesToRepair <= 0 {
		c.MissesToRepair = 3
	}
	if c.RepairTimeout <= 0 {
		c.RepairTimeout = 2 * time.Minute
	}
	if c.DeadlineBase <= 0 {
		c.DeadlineBase = proofs.DefaultDeadlineBase
	}
	if c.DeadlinePerReplica <= 0 {
		c.DeadlinePerReplica = proofs.DefaultDeadlinePerReplica
	}
	c.Proofs = c.Proofs.WithDefaults()
}

// Validate reports the settings that cannot work, saying how to fix them.
func (c *Config) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("data_dir is required: set it in the config file or pass --data-dir"))
	}
	if _, err := net.ResolveUDPAddr("udp", c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("listen %q: %v", c.Listen, err))
	}
	if _, err := discover.ParseSeeds(c.Bootstrap); err != nil {
		errs = append(errs, fmt.Errorf("bootstrap: %w", err))
	}
	if c.Epoch < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("epoch %v is too short: give at least 100ms", c.Epoch))
	}
	if c.DeadlineBase >= c.Epoch {
		errs = append(errs, fmt.Errorf("deadline_base %v must be shorter than the epoch %v", c.DeadlineBase, c.Epoch))
	}
	if c.ChainLength > 10_000_000 {
		errs = append(errs, fmt.Errorf("chain_length %d: at most 10,000,000 (each epoch hashes the rest of the chain)", c.ChainLength))
	}
	if c.RecordTTL > 0 && c.RecordTTL < 3*time.Second {
		errs = append(errs, fmt.Errorf("record_ttl %v is too short; use at least 3s", c.RecordTTL))
	}
	if err := c.Proofs.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("proofs: %w", err))
	}
	if len(errs) > 0 {
		return fmt.Errorf("verifier config: %w", errors.Join(errs...))
	}
	return nil
}
