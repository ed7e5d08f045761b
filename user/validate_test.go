package user_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ppstore/ppstore/config"
	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/shard"
	"github.com/ppstore/ppstore/transport"
	"github.com/ppstore/ppstore/user"
	"github.com/ppstore/ppstore/wire"
)

func TestValidateName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"holiday.mp4", true},
		{"", true},
		{"ünïcødé 名前.txt", true},
		{"two\nlines\tand\x1b[31mcolour\x00", true}, // the indexer takes any UTF-8
		{strings.Repeat("a", wire.MaxNameLen), true},
		{strings.Repeat("a", wire.MaxNameLen+1), false},
		{strings.Repeat("é", wire.MaxNameLen/2+1), false}, // bytes, not runes
		{"caf\xe9.txt", false},                            // Latin-1, not UTF-8
		{"\xff", false},
	} {
		err := user.ValidateName(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("ValidateName(%.40q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
		var ie *user.InputError
		if err != nil && (!errors.Is(err, user.ErrInput) || !errors.As(err, &ie) || ie.Field != "name") {
			t.Errorf("ValidateName(%.40q) = %v: not an InputError for name", tc.name, err)
		}
	}
}

func TestValidateReplicas(t *testing.T) {
	if user.MaxReplicas != wire.MaxChain+1 || user.MaxReplicas > wire.MaxReplicas {
		t.Fatalf("MaxReplicas = %d; an upload reaches %d miners, the indexer takes %d", user.MaxReplicas, wire.MaxChain+1, wire.MaxReplicas)
	}
	for n := -1; n <= wire.MaxReplicas+1; n++ {
		err := user.ValidateReplicas(n)
		if ok := n >= 1 && n <= user.MaxReplicas; (err == nil) != ok {
			t.Errorf("ValidateReplicas(%d) = %v, want ok=%v", n, err, ok)
		}
		if err != nil && !errors.Is(err, user.ErrInput) {
			t.Errorf("ValidateReplicas(%d) = %v, not ErrInput", n, err)
		}
	}
}

// hugeReader claims n bytes left and fails the test if read.
type hugeReader struct {
	t *testing.T
	n int
}

func (h hugeReader) Len() int { return h.n }
func (h hugeReader) Read([]byte) (int, error) {
	h.t.Error("a put refused before upload read its input")
	return 0, io.EOF
}

// countingIndexer answers nothing but counts every request a client sends.
func countingIndexer(t *testing.T) (wire.NodeAddr, *atomic.Int64) {
	t.Helper()
	k, _ := identity.Generate()
	n, err := transport.Listen(transport.Config{Key: k})
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int64
	h := func(context.Context, *transport.Stream, wire.Message) error {
		calls.Add(1)
		return wire.Errorf(wire.CodeUnavailable, "test indexer")
	}
	for _, typ := range []wire.Type{wire.TypePlace, wire.TypeCommit, wire.TypeLocate, wire.TypeListFiles} {
		n.Handle(typ, h)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go n.Serve(ctx)
	t.Cleanup(func() { cancel(); n.Close() })
	return n.Self(), &calls
}

// Every input the indexer or a miner would refuse fails the put before it
// sends anything: not one request reaches the indexer.
func TestPutRefusedBeforeFirstRequest(t *testing.T) {
	idx, calls := countingIndexer(t)
	c, err := user.New(context.Background(), user.Config{DataDir: t.TempDir(), Indexer: idx.Peer.String() + "@" + idx.Addr, Listen: "127.0.0.1:0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	small := func() io.Reader { return bytes.NewReader(make([]byte, 1000)) }
	for _, tc := range []struct {
		what  string
		r     io.Reader
		opts  user.PutOptions
		field string
	}{
		{"name not UTF-8", small(), user.PutOptions{Name: "caf\xe9"}, "name"},
		{"name too long", small(), user.PutOptions{Name: strings.Repeat("n", wire.MaxNameLen+1)}, "name"},
		{"negative replicas", small(), user.PutOptions{Replicas: -1}, "replicas"},
		{"more replicas than a chain reaches", small(), user.PutOptions{Replicas: wire.MaxChain + 2}, "replicas"},
		{"more replicas than the indexer takes", small(), user.PutOptions{Replicas: wire.MaxReplicas + 1}, "replicas"},
		{"a file too large for one commit", hugeReader{t, 1 << 40}, user.PutOptions{}, "size"},
	} {
		_, err := c.Put(context.Background(), tc.r, tc.opts)
		var ie *user.InputError
		if !errors.Is(err, user.ErrInput) || !errors.As(err, &ie) || ie.Field != tc.field {
			t.Errorf("%s: Put = %v, want an InputError for %s", tc.what, err, tc.field)
		}
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("%d requests reached the indexer from puts refused before upload", n)
	}
	// A valid put does reach it (so the count above could have moved).
	if _, err := c.Put(context.Background(), small(), user.PutOptions{Name: "ok"}); err == nil || errors.Is(err, user.ErrInput) {
		t.Fatalf("valid put against a refusing indexer: %v", err)
	}
	if calls.Load() == 0 {
		t.Fatal("a valid put sent no request: the counter cannot tell")
	}
}

// Several problems are all reported at once.
func TestCheckPutJoinsErrors(t *testing.T) {
	idx, _ := countingIndexer(t)
	c, err := user.New(context.Background(), user.Config{DataDir: t.TempDir(), Indexer: idx.Peer.String() + "@" + idx.Addr, Listen: "127.0.0.1:0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = c.CheckPut(bytes.NewReader(nil), user.PutOptions{Name: "\xff", Replicas: 99})
	if !strings.Contains(err.Error(), "name:") || !strings.Contains(err.Error(), "replicas:") {
		t.Fatalf("CheckPut = %v, want both the name and the replicas named", err)
	}
}

// The largest file one commit can record: with the default 4 MiB shards and
// 3 replicas, hundreds of GiB fit and a TiB does not; bigger shards raise it.
func TestCommitSizeLimit(t *testing.T) {
	idx, _ := countingIndexer(t)
	mk := func(shardSize int64) *user.Client {
		c, err := user.New(context.Background(), user.Config{DataDir: t.TempDir(), Indexer: idx.Peer.String() + "@" + idx.Addr, Listen: "127.0.0.1:0", ShardSize: config.ByteSize(shardSize)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	def := mk(shard.DefaultShardSize)
	if err := def.CheckPut(hugeReader{t, 100 << 30}, user.PutOptions{Replicas: 3}); err != nil {
		t.Errorf("100 GiB at 4 MiB shards: %v", err)
	}
	err := def.CheckPut(hugeReader{t, 1 << 40}, user.PutOptions{Replicas: 3})
	if err == nil || !strings.Contains(err.Error(), "shard_size") {
		t.Errorf("1 TiB at 4 MiB shards: %v, want a size error that suggests shard_size", err)
	}
	if err := mk(shard.MaxShardSize).CheckPut(hugeReader{t, 1 << 40}, user.PutOptions{Replicas: 3}); err != nil {
		t.Errorf("1 TiB at 64 MiB shards: %v", err)
	}
}
