package miner

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/ppstore/ppstore/config"
	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/internal/testutil"
	"github.com/ppstore/ppstore/shard"
	"github.com/ppstore/ppstore/transport"
	"github.com/ppstore/ppstore/wire"
)

func TestRecordEncoding(t *testing.T) {
	k1, _ := identity.Generate()
	k2, _ := identity.Generate()
	r := &record{version: recordPlain, size: 3000, pieceSize: 1024, stored: 1700000000,
		pieces: []shard.Digest{{1}, {2}, {3}}, owners: []identity.PeerID{k1.ID()}}
	r = r.withOwner(k2.ID())
	got, err := decodeRecord(r.encode())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, r) {
		t.Fatalf("round trip: %+v, want %+v", got, r)
	}

	b := r.encode()
	b[0] = 2
	if _, err := decodeRecord(b); !errors.Is(err, errBadRecord) {
		t.Fatalf("unknown version: err = %v", err)
	}
	for _, bad := range [][]byte{nil, r.encode()[:20], append(r.encode(), 0)} {
		if _, err := decodeRecord(bad); !errors.Is(err, errBadRecord) {
			t.Fatalf("malformed record %x: err = %v", bad, err)
		}
	}
	wrongCount := &record{version: recordPlain, size: 5000, pieceSize: 1024, pieces: []shard.Digest{{1}}}
	if _, err := decodeRecord(wrongCount.encode()); !errors.Is(err, errBadRecord) {
		t.Fatalf("piece count disagreeing with size: err = %v", err)
	}
}

func TestConfig(t *testing.T) {
	var c Config
	c.EnsureDefaults()
	if err := c.Validate(); err == nil {
		t.Fatal("config without data_dir accepted")
	}
	c.DataDir = t.TempDir()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Capacity != DefaultCapacity || c.RecordTTL != DefaultRecordTTL {
		t.Fatalf("defaults: %+v", c)
	}
	c.Bootstrap = []string{"nonsense"}
	if err := c.Validate(); err == nil {
		t.Fatal("bad bootstrap accepted")
	}
}

func FuzzDecodeRecord(f *testing.F) {
	r := &record{version: recordPlain, size: 3000, pieceSize: 1024, pieces: []shard.Digest{{1}, {2}, {3}}}
	f.Add(r.encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, err := decodeRecord(b)
		if err != nil {
			return
		}
		again, err := decodeRecord(rec.encode())
		if err != nil || !reflect.DeepEqual(again, rec) {
			t.Fatalf("re-decoding: %v", err)
		}
	})
}

func TestConfigFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "miner.toml")
	os.WriteFile(p, []byte("data_dir = \"/x\"\ncapacity = \"2GiB\"\nrecord_ttl = \"90s\"\nbootstrap = []\n"), 0o644)
	var c Config
	if err := config.Load(p, &c); err != nil {
		t.Fatal(err)
	}
	c.EnsureDefaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Capacity != 2<<30 || c.RecordTTL != 90*time.Second || c.Listen != DefaultListen {
		t.Fatalf("loaded %+v", c)
	}
}

// The miner registers at its bootstrap with its free space and capacity.
func TestRegistersAtBootstrap(t *testing.T) {
	k, _ := identity.Generate()
	boot, err := transport.Listen(transport.Config{Key: k, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan wire.NodeRecord, 10)
	boot.Handle(wire.TypeRegister, transport.Unary(func(_ context.Context, from identity.PeerID, req *wire.Register) (wire.Message, error) {
		if req.Record.Peer != from {
			return nil, wire.Errorf(wire.CodeUnauthorized, "record of another peer")
		}
		got <- req.Record
		return &wire.Registered{Expires: req.Record.Expires}, nil
	}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go boot.Serve(ctx)
	t.Cleanup(func() { boot.Close() })

	m := startMiner(t, "", func(c *Config) {
		c.Bootstrap = []string{config.FormatPeerAddr(boot.Self())}
		c.Capacity = 5 << 20
		c.Region = "lyon"
	})
	rec := testutil.RecvWithin(t, got, testutil.Wait, "the registration at start") // Run registers at once
	if err := m.reg.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	rec = testutil.RecvWithin(t, got, testutil.Wait, "the refreshed registration")
	if err := rec.Verify(time.Now()); err != nil {
		t.Fatal(err)
	}
	if rec.Peer != m.Addr().Peer || rec.Role != wire.RoleMiner || rec.Region != "lyon" || rec.Capacity != 5<<20 ||
		rec.Free != 5<<20 || len(rec.Addrs) != 1 || rec.Addrs[0] != m.Addr().Addr {
		t.Fatalf("record %+v", rec)
	}
}
