package bootstrap

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ppstore/ppstore/config"
	"github.com/ppstore/ppstore/discover"
	"github.com/ppstore/ppstore/wire"
)

type fakeResolver map[string][]string

func (r fakeResolver) LookupTXT(_ context.Context, name string) ([]string, error) {
	if txt, ok := r[name]; ok {
		return txt, nil
	}
	return nil, errors.New("no such name")
}

func TestSeedsFromDNS(t *testing.T) {
	clk := newClock()
	a := startPeer(t, clk, Config{})
	res := fakeResolver{}
	b := startPeer(t, clk, Config{DNSSeed: "region.example", resolver: res})
	res["_ppstore.region.example"] = []string{
		"v=spf1 -all",
		"ppstore-bootstrap=" + config.FormatPeerAddr(a.Addr()),
		"ppstore-bootstrap=" + config.FormatPeerAddr(b.Addr()), // B itself: skipped
	}
	k := newKey(t)
	mustRegister(t, newClient(t, k), a.Addr(), record(k, clk, wire.RoleIndexer, 1, time.Minute))
	if err := b.Syncer.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := list(t, newClient(t, nil), b.Addr(), wire.RoleIndexer); len(got) != 1 || got[0].Peer != k.ID() {
		t.Fatalf("B after a DNS-seeded sync: %v", peersOf(got))
	}
	delete(res, "_ppstore.region.example")
	if err := b.Syncer.RunOnce(context.Background()); err == nil {
		t.Fatal("sync with a failing DNS lookup reported no error")
	}
}

// The discover package's Registrar and Client against a real bootstrap.
func TestWithDiscover(t *testing.T) {
	clk := newClock()
	bs := startPeer(t, clk, Config{})
	k := newKey(t)
	// One seed and no retry: a lost answer would fail the test. (The race
	// that once lost answers, STOP_SENDING before the caller's close, is
	// fixed in transport.Node.call and pinned by
	// transport.TestCallSurvivesEarlyStopSending.)
	seeds := []wire.NodeAddr{bs.Addr()}
	reg := discover.NewRegistrar(discover.NewClient(newClient(t, k), seeds), k, time.Minute, func(r *wire.NodeRecord) {
		r.Role, r.Region, r.Addrs, r.Free, r.Capacity = wire.RoleMiner, testRegion, []string{"127.0.0.1:4100"}, 10, 20
	}, nil)
	ctx := context.Background()
	for i := range 3 { // a refresh must not be taken for a replay
		if err := reg.RunOnce(ctx); err != nil {
			t.Fatalf("registration %d: %v", i+1, err)
		}
	}
	c := discover.NewClient(newClient(t, nil), seeds)
	got, err := c.Find(ctx, wire.RoleMiner)
	if err != nil || got.Peer != k.ID() || got.Addr != "127.0.0.1:4100" {
		t.Fatalf("Find: %v, %v", got, err)
	}
}
