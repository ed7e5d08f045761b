package user_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/transport"
	"github.com/ppstore/ppstore/wire"
)

// A put that cannot succeed, because every miner the indexer offers refuses
// the shard, fails with an error that names each of those miners and what it
// said, keeps the refusal's identity, and commits nothing.
func TestPutFailsNamingEveryRefusingMiner(t *testing.T) {
	r := newChainRegion(t) // no chain miners: refusing ones are added below
	refusals := []struct {
		code wire.Code
		why  string
	}{
		{wire.CodeNoSpace, "no room for 4096 bytes (free 0); add capacity or remove data"},
		{wire.CodeUnavailable, "too many uploads in progress; try again later"},
		{wire.CodeNoSpace, "disk full: cannot write shard; free disk space or lower capacity"},
	}
	var names []string
	for _, rf := range refusals {
		key, _ := identity.Generate()
		name := "miner " + key.ID().Short()
		n := serveChainNode(t, key, map[wire.Type]transport.Handler{
			wire.TypeStoreShard: func(context.Context, *transport.Stream, wire.Message) error {
				return wire.Errorf(rf.code, "%s: %s", name, rf.why)
			},
		})
		m := &chainMiner{key: key, addr: n.Self()}
		r.mu.Lock() // the fake indexer, already serving, reads them under mu
		r.miners = append(r.miners, m)
		r.byPeer[key.ID()] = m
		r.mu.Unlock()
		names = append(names, key.ID().Short())
	}
	err := r.put(t, 4<<10, 1)
	if err == nil {
		t.Fatal("put succeeded although every miner refused the shard")
	}
	msg := err.Error()
	for i, rf := range refusals {
		if !strings.Contains(msg, names[i]) || !strings.Contains(msg, rf.why) {
			t.Errorf("the error does not name miner %s and its refusal %q:\n%v", names[i], rf.why, err)
		}
	}
	if !errors.Is(err, wire.ErrNoSpace) {
		t.Errorf("the error lost the miners' CodeNoSpace: %v", err)
	}
	if strings.Contains(msg, "%!") {
		t.Errorf("error has a formatting fault: %v", err)
	}
	if commits := r.commitsSeen(); len(commits) != 0 {
		t.Errorf("a failed put committed %v", commits)
	}
}
