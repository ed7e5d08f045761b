package discover

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/internal/testutil"
	"github.com/ppstore/ppstore/transport"
	"github.com/ppstore/ppstore/wire"
)

type fakeDNS map[string][]string

func (f fakeDNS) LookupTXT(_ context.Context, name string) ([]string, error) {
	if v, ok := f[name]; ok {
		return v, nil
	}
	return nil, errors.New("no such host")
}

func TestSeedsFromDNS(t *testing.T) {
	k, _ := identity.Generate()
	dns := fakeDNS{"_ppstore.example.org": {"v=spf1 -all", "ppstore-bootstrap=" + k.ID().String() + "@10.0.0.1:4001"}}
	got, err := SeedsFromDNS(context.Background(), dns, "example.org.")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Peer != k.ID() || got[0].Addr != "10.0.0.1:4001" {
		t.Fatalf("seeds = %v", got)
	}
	if _, err := SeedsFromDNS(context.Background(), dns, "missing.org"); err == nil {
		t.Fatal("missing domain gave no error")
	}
	bad := fakeDNS{"_ppstore.bad.org": {"ppstore-bootstrap=nonsense@1.2.3.4:1"}}
	if _, err := SeedsFromDNS(context.Background(), bad, "bad.org"); err == nil {
		t.Fatal("malformed TXT accepted")
	}
}

type fakeSRVDNS struct {
	fakeDNS
	srv map[string][]*net.SRV
}

func (f fakeSRVDNS) LookupSRV(_ context.Context, service, proto, name string) (string, []*net.SRV, error) {
	key := "_" + service + "._" + proto + "." + name
	if v, ok := f.srv[key]; ok {
		return key, v, nil
	}
	return "", nil, errors.New("no such host")
}

func TestSeedsFromDNSSRV(t *testing.T) {
	k, _ := identity.Generate()
	dns := fakeSRVDNS{
		fakeDNS: fakeDNS{"boot1.example.org": {"ppstore-peer=" + k.ID().String()}},
		srv:     map[string][]*net.SRV{"_ppstore._udp.example.org": {{Target: "boot1.example.org.", Port: 7700}}},
	}
	got, err := SeedsFromDNS(context.Background(), dns, "example.org")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Peer != k.ID() || got[0].Addr != "boot1.example.org:7700" {
		t.Fatalf("seeds = %v", got)
	}
	// An SRV target whose TXT names no valid peer is an error, not a silent seed.
	bad := fakeSRVDNS{
		fakeDNS: fakeDNS{"boot1.example.org": {"ppstore-peer=garbage"}},
		srv:     dns.srv,
	}
	if _, err := SeedsFromDNS(context.Background(), bad, "example.org"); err == nil {
		t.Fatal("bad SRV target TXT accepted")
	}
}

// stubBootstrap answers ListNodes with fixed records and stores registrations.
func stubBootstrap(t *testing.T, records []wire.NodeRecord) (*transport.Node, chan wire.NodeRecord) {
	k, _ := identity.Generate()
	n, err := transport.Listen(transport.Config{Key: k})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan wire.NodeRecord, 16)
	n.Handle(wire.TypeListNodes, transport.Unary(func(_ context.Context, _ identity.PeerID, _ *wire.ListNodes) (wire.Message, error) {
		return &wire.NodeList{Records: records}, nil
	}))
	n.Handle(wire.TypeRegister, transport.Unary(func(_ context.Context, p identity.PeerID, r *wire.Register) (wire.Message, error) {
		if r.Record.Peer != p {
			return nil, wire.Errorf(wire.CodeUnauthorized, "not yours")
		}
		got <- r.Record
		return &wire.Registered{Expires: r.Record.Expires}, nil
	}))
	ctx, cancel := context.WithCancel(context.Background())
	go n.Serve(ctx)
	t.Cleanup(func() { cancel(); n.Close() })
	return n, got
}

func TestListDropsForgedAndExpiredRecords(t *testing.T) {
	now := time.Now()
	good, forger, old := identity.FromSeed(make([]byte, 32)), identity.FromSeed([]byte("forgerforgerforgerforgerforger12")), identity.FromSeed([]byte("oldoldoldoldoldoldoldoldoldoldol"))
	mk := func(k *identity.Key, seq uint64, exp time.Time) wire.NodeRecord {
		r := wire.NodeRecord{Role: wire.RoleMiner, Region: "r", Addrs: []string{"127.0.0.1:1"}, Seq: seq, Expires: uint64(exp.Unix())}
		r.Sign(k)
		return r
	}
	older := mk(good, 1, now.Add(time.Minute))
	newer := mk(good, 2, now.Add(time.Minute))
	forged := mk(forger, 1, now.Add(time.Minute))
	forged.Free = 1 << 60 // changed after signing
	expired := mk(old, 1, now.Add(-time.Second))
	bs, _ := stubBootstrap(t, []wire.NodeRecord{older, newer, forged, expired})

	ck, _ := identity.Generate()
	cn, err := transport.Listen(transport.Config{Key: ck})
	if err != nil {
		t.Fatal(err)
	}
	defer cn.Close()
	c := NewClient(cn, []wire.NodeAddr{bs.Self()})
	recs, err := c.List(context.Background(), wire.RoleMiner)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].Peer != good.ID() || recs[0].Seq != 2 {
		t.Fatalf("records = %+v, want only the newest valid one", recs)
	}
}

func TestClientFailsOverAndRegistrarSigns(t *testing.T) {
	bs, got := stubBootstrap(t, nil)
	deadKey, _ := identity.Generate()
	dead := wire.NodeAddr{Peer: deadKey.ID(), Addr: "127.0.0.1:9"}
	ck, _ := identity.Generate()
	cn, err := transport.Listen(transport.Config{Key: ck, DialTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer cn.Close()
	c := NewClient(cn, []wire.NodeAddr{dead, bs.Self()})
	r := NewRegistrar(c, ck, time.Minute, func(rec *wire.NodeRecord) {
		rec.Role, rec.Region, rec.Addrs = wire.RoleMiner, "r", []string{cn.Addr().String()}
	}, nil)
	for i := 0; i < 2; i++ {
		if err := r.RunOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	first := testutil.RecvWithin(t, got, testutil.Wait, "the first registration")
	second := testutil.RecvWithin(t, got, testutil.Wait, "the second registration")
	if err := first.Verify(time.Now()); err != nil {
		t.Fatal(err)
	}
	if second.Seq <= first.Seq {
		t.Fatalf("Seq did not increase: %d then %d", first.Seq, second.Seq)
	}
	none := NewClient(cn, nil)
	if _, err := none.List(context.Background(), 0); !errors.Is(err, ErrNoBootstrap) {
		t.Fatalf("no seeds: err = %v", err)
	}
	onlyDead := NewClient(cn, []wire.NodeAddr{dead})
	if _, err := onlyDead.List(context.Background(), 0); !errors.Is(err, ErrNoBootstrap) {
		t.Fatalf("dead seed: err = %v", err)
	}
}
