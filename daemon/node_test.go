package daemon

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/internal/testutil"
	"github.com/ppstore/ppstore/transport"
	"github.com/ppstore/ppstore/wire"
)

// testConfig records how Prepare used it.
type testConfig struct {
	defaulted bool
	invalid   error
}

func (c *testConfig) EnsureDefaults() { c.defaulted = true }
func (c *testConfig) Validate() error { return c.invalid }

func TestPrepare(t *testing.T) {
	var cfg testConfig
	log, err := Prepare(&cfg, nil)
	if err != nil || log == nil || !cfg.defaulted {
		t.Fatalf("Prepare = %v, %v; defaults applied %v: want a discarding logger, no error, defaults applied", log, err, cfg.defaulted)
	}
	mine := slog.New(slog.DiscardHandler)
	if log, _ := Prepare(&cfg, mine); log != mine {
		t.Fatal("Prepare replaced the caller's logger")
	}
	bad := errors.New("listen: want host:port")
	if _, err := Prepare(&testConfig{invalid: bad}, nil); !errors.Is(err, bad) {
		t.Fatalf("invalid config: err = %v, want Validate's", err)
	}
}

func listen(t *testing.T, advertise string) (*identity.Key, *transport.Node, wire.NodeAddr) {
	t.Helper()
	k, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	n, self, err := Listen(transport.Config{Key: k, Listen: "127.0.0.1:0"}, advertise)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return k, n, self
}

func TestListenPublishesAdvertise(t *testing.T) {
	_, n, self := listen(t, "")
	if self != n.Self() {
		t.Fatalf("no advertise: self %v, want the bound %v", self, n.Self())
	}
	k, n, self := listen(t, "storage.example.org:4001")
	if self.Addr != "storage.example.org:4001" || self.Peer != k.ID() || n.Self().Addr == self.Addr {
		t.Fatalf("advertise: self %v (bound %v)", self, n.Self())
	}
	if _, _, err := Listen(transport.Config{Key: k, Listen: "not an address"}, ""); err == nil {
		t.Fatal("a bad listen address was bound")
	}
}

// A registration's record reaches a bootstrap signed, with the daemon's
// role, region and address and what Usage adds; without bootstraps there is
// nothing to register.
func TestRegistrationRegisters(t *testing.T) {
	bk, bs, _ := listen(t, "")
	got := make(chan wire.NodeRecord, 4)
	bs.Handle(wire.TypeRegister, transport.Unary(func(_ context.Context, from identity.PeerID, r *wire.Register) (wire.Message, error) {
		if r.Record.Peer != from {
			return nil, wire.Errorf(wire.CodeUnauthorized, "record of %v sent by %v", r.Record.Peer, from)
		}
		got <- r.Record
		return &wire.Registered{Expires: r.Record.Expires}, nil
	}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go bs.Serve(ctx)

	k, n, self := listen(t, "10.0.0.7:4001")
	r := Registration{Role: wire.RoleMiner, Region: "eu-1", Addr: self.Addr, TTL: time.Minute, Node: n, Key: k,
		Usage:     func(rec *wire.NodeRecord) { rec.Free, rec.Capacity = 5, 9 },
		Bootstrap: []string{bk.ID().String() + "@" + bs.Self().Addr}}
	c, reg, err := r.Register()
	if err != nil || c == nil || reg == nil {
		t.Fatalf("Register = %v, %v, %v", c, reg, err)
	}
	if seeds := c.Seeds(); len(seeds) != 1 || seeds[0] != bs.Self() {
		t.Fatalf("client seeds %v, want %v", seeds, bs.Self())
	}
	if err := reg.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	rec := testutil.RecvWithin(t, got, testutil.Wait, "the registration")
	if err := rec.Verify(time.Now()); err != nil {
		t.Fatal(err)
	}
	if rec.Peer != k.ID() || rec.Role != wire.RoleMiner || rec.Region != "eu-1" || len(rec.Addrs) != 1 || rec.Addrs[0] != "10.0.0.7:4001" ||
		rec.Free != 5 || rec.Capacity != 9 {
		t.Fatalf("registered %+v", rec)
	}

	r.Bootstrap = nil
	if c, reg, err := r.Register(); c != nil || reg != nil || err != nil {
		t.Fatalf("no bootstrap: Register = %v, %v, %v; want nothing to register", c, reg, err)
	}
}
