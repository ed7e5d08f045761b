package daemon

import (
	"context"
	"log/slog"
	"net"
	"time"

	"github.com/ppstore/ppstore/discover"
	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/transport"
	"github.com/ppstore/ppstore/wire"
)

// dnsSeedTimeout bounds the DNS lookup of Registration.Seeds.
const dnsSeedTimeout = 10 * time.Second

// Prepare is how every daemon's New begins: it applies cfg's defaults,
// validates it (returning Validate's error) and returns log, or a logger
// that discards everything when log is nil.
func Prepare(cfg Config, log *slog.Logger) (*slog.Logger, error) {
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return log, nil
}

// Listen binds a daemon's QUIC listener (transport.Listen with tc) and
// returns it with the address the daemon publishes: the bound address, or
// advertise (host:port, checked by the daemon's Validate) when it is set. Its
// errors are transport.Listen's.
func Listen(tc transport.Config, advertise string) (*transport.Node, wire.NodeAddr, error) {
	node, err := transport.Listen(tc)
	if err != nil {
		return nil, wire.NodeAddr{}, err
	}
	self := node.Self()
	if advertise != "" {
		self.Addr = advertise
	}
	return node, self, nil
}

// Registration is how a daemon registers at its region's bootstraps: the
// record it publishes and where the bootstraps are. Register (or Seeds and
// Open) turns it into a discover.Client and the discover.Registrar that keeps
// the record fresh; the daemon runs the registrar in its Run.
type Registration struct {
	Role   wire.Role // the daemon's role
	Region string    // the daemon's region
	Addr   string    // host:port published in the record (the advertised or bound address)
	// Usage, when set, fills the rest of the record each time it is signed
	// (a miner's Free and Capacity, in bytes).
	Usage func(*wire.NodeRecord)

	Bootstrap []string      // "peerID@host:port" of the region's bootstraps, checked by the daemon's Validate
	DNSSeed   string        // domain whose DNS records name the bootstraps when Bootstrap is empty
	TTL       time.Duration // lifetime of the record; the registrar renews it every third of it

	Node *transport.Node // reaches the bootstraps
	Key  *identity.Key   // signs the record
	Log  *slog.Logger    // the registrar's failures and recoveries; nil: none
}

// Fill sets rec's Role, Region and Addrs (the one address Addr), then calls
// Usage: the fill function of the registrar that Open returns.
func (r Registration) Fill(rec *wire.NodeRecord) {
	rec.Role = r.Role
	rec.Region = r.Region
	rec.Addrs = []string{r.Addr}
	if r.Usage != nil {
		r.Usage(rec)
	}
}

// Seeds returns the region's bootstraps: those of Bootstrap or, when it
// names none and DNSSeed is set, those that DNS lists under DNSSeed
// (discover.SeedsFromDNS, within 10 s; its error is returned). Neither set:
// none and no error.
func (r Registration) Seeds() ([]wire.NodeAddr, error) {
	seeds, _ := discover.ParseSeeds(r.Bootstrap) // checked by the daemon's Validate
	if len(seeds) == 0 && r.DNSSeed != "" {
		ctx, cancel := context.WithTimeout(context.Background(), dnsSeedTimeout)
		defer cancel()
		return discover.SeedsFromDNS(ctx, net.DefaultResolver, r.DNSSeed)
	}
	return seeds, nil
}

// Open returns a client of the bootstraps seeds, reached through Node, and a
// registrar that keeps the record (Fill) registered there, signed with Key,
// for TTL.
func (r Registration) Open(seeds []wire.NodeAddr) (*discover.Client, *discover.Registrar) {
	c := discover.NewClient(r.Node, seeds)
	return c, discover.NewRegistrar(c, r.Key, r.TTL, r.Fill, r.Log)
}

// Register finds the bootstraps (Seeds) and opens the client and the
// registrar for them (Open). With no bootstrap configured both are nil (the
// daemon is not discoverable: it says so in its own words); the error is that
// of the DNS lookup.
func (r Registration) Register() (*discover.Client, *discover.Registrar, error) {
	seeds, err := r.Seeds()
	if err != nil || len(seeds) == 0 {
		return nil, nil, err
	}
	c, reg := r.Open(seeds)
	return c, reg, nil
}
