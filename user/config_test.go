package user_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ppstore/ppstore/config"
	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/user"
)

// configWith returns a client config that New accepts, changed by edit.
func configWith(t *testing.T, edit func(c *user.Config)) user.Config {
	key, _ := identity.Generate()
	c := user.Config{DataDir: t.TempDir(), Indexer: key.ID().String() + "@127.0.0.1:7400", Listen: "127.0.0.1:0"}
	edit(&c)
	return c
}

func TestNewAcceptsZeroAndLimitValues(t *testing.T) {
	for name, edit := range map[string]func(c *user.Config){
		"zeros mean defaults": func(c *user.Config) {},
		"smallest": func(c *user.Config) {
			c.Replicas, c.Uploads, c.Streams, c.RunPieces = 1, 1, 1, 1
			c.ShardSize, c.PieceSize = 1, 1
			c.Timeout, c.PieceTimeout = user.Duration(time.Nanosecond), user.Duration(time.Nanosecond)
		},
		"largest": func(c *user.Config) {
			c.Replicas, c.Uploads, c.Streams, c.RunPieces = user.MaxReplicas, 32, 256, 64
			c.ShardSize, c.PieceSize = 64<<20, 1<<20
		},
	} {
		c, err := user.New(context.Background(), configWith(t, edit), nil)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		c.Close()
	}
}

// Every value out of range is refused by New with an error naming its key
// and the values allowed, before anything is opened.
func TestNewRefusesValuesOutOfRange(t *testing.T) {
	for _, tc := range []struct {
		edit func(c *user.Config)
		want string
	}{
		{func(c *user.Config) { c.Replicas = -1 }, "replicas = -1, want 1..9"},
		{func(c *user.Config) { c.Replicas = 10 }, "replicas = 10, want 1..9"}, // an upload reaches wire.MaxChain+1 miners
		{func(c *user.Config) { c.Uploads = -1 }, "uploads = -1, want 1..32"},
		{func(c *user.Config) { c.Uploads = 33 }, "uploads = 33, want 1..32"},
		{func(c *user.Config) { c.Streams = -1 }, "streams = -1, want 1..256"},
		{func(c *user.Config) { c.Streams = 257 }, "streams = 257, want 1..256"},
		{func(c *user.Config) { c.RunPieces = -1 }, "run_pieces = -1, want 1..64"},
		{func(c *user.Config) { c.RunPieces = 65 }, "run_pieces = 65, want 1..64"},
		{func(c *user.Config) { c.Timeout = user.Duration(-time.Second) }, "timeout = -1s, want a duration above 0"},
		{func(c *user.Config) { c.PieceTimeout = user.Duration(-time.Second) }, "piece_timeout = -1s, want a duration above 0"},
		{func(c *user.Config) { c.PieceSize = -1 }, "piece_size = -1, want 1..1048576"},
		{func(c *user.Config) { c.PieceSize = 2 << 20 }, "piece_size = 2097152, want 1..1048576"},
		{func(c *user.Config) { c.ShardSize = -1 }, "shard_size = -1, want a positive multiple of piece_size"},
		{func(c *user.Config) { c.ShardSize, c.PieceSize = 5000, 1024 }, "shard_size = 5000, piece_size = 1024: "},
		{func(c *user.Config) { c.ShardSize, c.PieceSize = 2<<20, 1<<10 }, "shard_size = 2097152, piece_size = 1024: "},
	} {
		cfg := configWith(t, tc.edit)
		c, err := user.New(context.Background(), cfg, nil)
		if err == nil {
			c.Close()
			t.Errorf("New accepted a config whose error should be %q", tc.want)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %q, want it to contain %q", err, tc.want)
		}
	}
}

func TestNewNamesEveryBadKey(t *testing.T) {
	_, err := user.New(context.Background(), configWith(t, func(c *user.Config) {
		c.Streams, c.RunPieces, c.PieceTimeout = -1, -2, user.Duration(-time.Millisecond)
	}), nil)
	if err == nil {
		t.Fatal("New accepted three bad values")
	}
	for _, key := range []string{"streams = -1", "run_pieces = -2", "piece_timeout = -1ms"} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("error %q does not name %s", err, key)
		}
	}
}

// A negative value written in client.toml reaches Validate as it is (zero is
// the only value EnsureDefaults replaces).
func TestConfigFileNegativeValues(t *testing.T) {
	path := filepath.Join(t.TempDir(), "client.toml")
	key, _ := identity.Generate()
	toml := "data_dir = \"" + t.TempDir() + "\"\nindexer = \"" + key.ID().String() + "@127.0.0.1:7400\"\n" +
		"uploads = -1\ntimeout = \"-5s\"\n"
	if err := os.WriteFile(path, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	var cfg user.Config
	if err := config.Load(path, &cfg); err != nil {
		t.Fatal(err)
	}
	_, err := user.New(context.Background(), cfg, nil)
	if err == nil || !strings.Contains(err.Error(), "uploads = -1") || !strings.Contains(err.Error(), "timeout = -5s") {
		t.Fatalf("New with uploads = -1 and timeout = -5s: %v", err)
	}
}
