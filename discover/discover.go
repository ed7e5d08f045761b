// Package discover is the client side of a region's bootstrap service: it
// finds bootstrap servers (from configured seeds or DNS), lists the signed
// records of a region's nodes, and keeps a node's own record registered. It
// does not serve records (package bootstrap does) and trusts no bootstrap:
// every record it returns carries a valid signature of the node it describes.
//
// DNS seeds, either or both of:
//
//	_ppstore.<domain>          TXT "ppstore-bootstrap=<peer ID>@<host>:<port>"
//	_ppstore._udp.<domain>     SRV <prio> <weight> <port> <target>
//	<target>                   TXT "ppstore-peer=<peer ID>"
//
// TXT records name a bootstrap completely; SRV records give host and port and
// the target's TXT record gives the peer ID that the QUIC handshake checks.
package discover

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ppstore/ppstore/config"
	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/transport"
	"github.com/ppstore/ppstore/wire"
)

// ErrNoBootstrap is returned when no bootstrap server is configured or none answered.
var ErrNoBootstrap = errors.New("discover: no bootstrap server reachable")

// ParseSeeds parses "peerID@host:port" addresses.
func ParseSeeds(addrs []string) ([]wire.NodeAddr, error) {
	var out []wire.NodeAddr
	for _, s := range addrs {
		if strings.TrimSpace(s) == "" {
			continue
		}
		a, err := config.ParsePeerAddr(s)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// Resolver looks up TXT records; *net.Resolver satisfies it.
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

// SRVResolver is a Resolver that can also look up SRV records (*net.Resolver
// can); SeedsFromDNS uses SRV records only when the resolver offers them.
type SRVResolver interface {
	Resolver
	LookupSRV(ctx context.Context, service, proto, name string) (string, []*net.SRV, error)
}

const (
	txtPrefix  = "ppstore-bootstrap="
	peerPrefix = "ppstore-peer="
)

// SeedsFromDNS reads bootstrap addresses from DNS (see the package comment).
func SeedsFromDNS(ctx context.Context, r Resolver, domain string) ([]wire.NodeAddr, error) {
	domain = strings.TrimSuffix(domain, ".")
	name := "_ppstore." + domain
	var out []wire.NodeAddr
	var errs []error
	txts, err := r.LookupTXT(ctx, name)
	if err != nil {
		errs = append(errs, fmt.Errorf("TXT %s: %w", name, err))
	}
	if sr, ok := r.(SRVResolver); ok {
		srvs, err := seedsFromSRV(ctx, sr, domain)
		if err != nil {
			errs = append(errs, err)
		}
		out = append(out, srvs...)
	}
	for _, t := range txts {
		v, ok := strings.CutPrefix(strings.TrimSpace(t), txtPrefix)
		if !ok {
			continue
		}
		a, err := config.ParsePeerAddr(v)
		if err != nil {
			return nil, fmt.Errorf("discover: DNS TXT %s: %w", name, err)
		}
		out = append(out, a)
	}
	if len(out) == 0 {
		errs = append(errs, fmt.Errorf("no %q TXT records at %s and no usable SRV records", txtPrefix, name))
		return nil, fmt.Errorf("discover: DNS seeds of %s: %w", domain, errors.Join(errs...))
	}
	return out, nil
}

func seedsFromSRV(ctx context.Context, r SRVResolver, domain string) ([]wire.NodeAddr, error) {
	_, srvs, err := r.LookupSRV(ctx, "ppstore", "udp", domain)
	if err != nil {
		return nil, fmt.Errorf("SRV _ppstore._udp.%s: %w", domain, err)
	}
	var out []wire.NodeAddr
	for _, s := range srvs {
		target := strings.TrimSuffix(s.Target, ".")
		txts, err := r.LookupTXT(ctx, target)
		if err != nil {
			return out, fmt.Errorf("TXT %s (SRV target): %w", target, err)
		}
		for _, t := range txts {
			v, ok := strings.CutPrefix(strings.TrimSpace(t), peerPrefix)
			if !ok {
				continue
			}
			p, err := identity.Parse(v)
			if err != nil {
				return out, fmt.Errorf("TXT %s: %w", target, err)
			}
			out = append(out, wire.NodeAddr{Peer: p, Addr: net.JoinHostPort(target, strconv.Itoa(int(s.Port)))})
		}
	}
	return out, nil
}

// Client asks a region's bootstrap servers for node records.
type Client struct {
	node  *transport.Node
	seeds []wire.NodeAddr
	now   func() time.Time

	mu   sync.Mutex
	next int // index of the bootstrap tried first (the last one that answered)
}

// NewClient returns a client that uses node to talk to the given bootstraps.
func NewClient(node *transport.Node, seeds []wire.NodeAddr) *Client {
	return &Client{node: node, seeds: seeds, now: time.Now}
}

// Seeds returns the configured bootstrap addresses.
func (c *Client) Seeds() []wire.NodeAddr { return c.seeds }

// call tries each bootstrap in turn, starting from the last that answered.
func (c *Client) call(ctx context.Context, req, resp wire.Message) error {
	if len(c.seeds) == 0 {
		return fmt.Errorf("%w: none configured (set bootstrap = [\"PEERID@HOST:PORT\"] or dns_seed)", ErrNoBootstrap)
	}
	c.mu.Lock()
	start := c.next
	c.mu.Unlock()
	var errs []error
	for i := range c.seeds {
		k := (start + i) % len(c.seeds)
		err := c.node.Call(ctx, c.seeds[k], req, resp)
		if err == nil {
			c.mu.Lock()
			c.next = k
			c.mu.Unlock()
			return nil
		}
		var we *wire.Error
		if errors.As(err, &we) && we.Code != wire.CodeInternal && we.Code != wire.CodeUnavailable {
			return err // the bootstrap answered and refused: asking another will not help
		}
		errs = append(errs, fmt.Errorf("%s: %w", config.FormatPeerAddr(c.seeds[k]), err))
		if ctx.Err() != nil {
			break
		}
	}
	return fmt.Errorf("%w: %w", ErrNoBootstrap, errors.Join(errs...))
}

// List returns the live records of a role (0: all), each with a valid
// signature, one per peer (the highest Seq), sorted by peer ID.
func (c *Client) List(ctx context.Context, role wire.Role) ([]wire.NodeRecord, error) {
	var nl wire.NodeList
	if err := c.call(ctx, &wire.ListNodes{Role: role}, &nl); err != nil {
		return nil, err
	}
	now := c.now()
	best := map[identity.PeerID]wire.NodeRecord{}
	for _, r := range nl.Records {
		if role != 0 && r.Role != role {
			continue
		}
		if err := r.Verify(now); err != nil {
			continue // a bootstrap cannot forge records; drop what does not check
		}
		if old, ok := best[r.Peer]; !ok || r.Seq > old.Seq {
			best[r.Peer] = r
		}
	}
	out := make([]wire.NodeRecord, 0, len(best))
	for _, r := range best {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Peer.String() < out[j].Peer.String() })
	return out, nil
}

// Find returns the address of one live node of a role (the first by peer ID).
func (c *Client) Find(ctx context.Context, role wire.Role) (wire.NodeAddr, error) {
	recs, err := c.List(ctx, role)
	if err != nil {
		return wire.NodeAddr{}, err
	}
	for _, r := range recs {
		if len(r.Addrs) > 0 {
			return wire.NodeAddr{Peer: r.Peer, Addr: r.Addrs[0]}, nil
		}
	}
	return wire.NodeAddr{}, wire.Errorf(wire.CodeUnavailable, "no live %v registered at the bootstrap; is the %v running?", role, role)
}

// Register publishes a signed record.
func (c *Client) Register(ctx context.Context, rec *wire.NodeRecord) error {
	return c.call(ctx, &wire.Register{Record: *rec}, &wire.Registered{})
}

// Registrar keeps a node's record fresh at the bootstrap.
type Registrar struct {
	c    *Client
	key  *identity.Key
	ttl  time.Duration
	fill func(*wire.NodeRecord)
	log  *slog.Logger
	now  func() time.Time

	mu      sync.Mutex
	lastSeq uint64
}

// NewRegistrar returns a registrar; fill sets Role, Region, Addrs and, for
// miners, Free and Capacity. The registrar sets Seq and Expires and signs.
func NewRegistrar(c *Client, key *identity.Key, ttl time.Duration, fill func(*wire.NodeRecord), log *slog.Logger) *Registrar {
	if ttl <= 0 {
		ttl = time.Minute
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Registrar{c: c, key: key, ttl: ttl, fill: fill, log: log, now: time.Now}
}

// RunOnce registers the current record.
func (r *Registrar) RunOnce(ctx context.Context) error {
	now := r.now()
	var rec wire.NodeRecord
	r.fill(&rec)
	r.mu.Lock()
	seq := uint64(now.UnixNano())
	if seq <= r.lastSeq {
		seq = r.lastSeq + 1
	}
	r.lastSeq = seq
	r.mu.Unlock()
	rec.Seq = seq
	rec.Expires = uint64(now.Add(r.ttl).Unix())
	rec.Sign(r.key)
	return r.c.Register(ctx, &rec)
}

// Run registers at once and then every ttl/3 until ctx is done; failures are
// logged and retried sooner.
func (r *Registrar) Run(ctx context.Context) error {
	period := r.ttl / 3
	wait := time.Duration(0)
	failing := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := r.RunOnce(cctx)
		cancel()
		switch {
		case err != nil && ctx.Err() == nil:
			if !failing {
				r.log.Warn("registration at bootstrap failed; retrying", "err", err)
			}
			failing = true
			wait = min(period, time.Second)
		case err == nil:
			if failing {
				r.log.Info("registered at bootstrap again")
			}
			failing = false
			wait = period
		}
	}
}
