package bootstrap

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ppstore/ppstore/config"
	"github.com/ppstore/ppstore/identity"
)

func TestConfigLoad(t *testing.T) {
	seed := identity.FromSeed(make([]byte, 32)).ID().String() + "@10.0.0.2:7700"
	path := filepath.Join(t.TempDir(), "bootstrap.toml")
	toml := `data_dir = "/var/lib/ppstore"
region = "lyon"
max_ttl = "2m"
sync_interval = "30s"
seeds = ["` + seed + `"]
`
	if err := os.WriteFile(path, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	var cfg Config
	if err := config.Load(path, &cfg); err != nil {
		t.Fatal(err)
	}
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.MaxTTL.D() != 2*time.Minute || cfg.SyncInterval.D() != 30*time.Second || cfg.Listen != DefaultListen || cfg.MaxRecords != DefaultMaxRecords {
		t.Fatalf("loaded %+v", cfg)
	}
	seeds, err := cfg.seedAddrs()
	if err != nil || len(seeds) != 1 || seeds[0].Addr != "10.0.0.2:7700" {
		t.Fatalf("seeds %v, %v", seeds, err)
	}

	var bad Config
	os.WriteFile(path, []byte(`max_ttl = "five minutes"`), 0o600)
	if err := config.Load(path, &bad); err == nil || !strings.Contains(err.Error(), "5m") {
		t.Fatalf("bad duration: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	ok := func() Config {
		c := Config{DataDir: "/tmp/x", Region: "lyon"}
		c.EnsureDefaults()
		return c
	}
	if err := func() error { c := ok(); return c.Validate() }(); err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string]func(c *Config){
		"no data_dir":       func(c *Config) { c.DataDir = "" },
		"no region":         func(c *Config) { c.Region = "" },
		"max_ttl too short": func(c *Config) { c.MaxTTL = Duration(time.Millisecond) },
		"max_ttl too long":  func(c *Config) { c.MaxTTL = Duration(48 * time.Hour) },
		"sync too often":    func(c *Config) { c.SyncInterval = Duration(time.Millisecond) },
		"bad seed":          func(c *Config) { c.Seeds = []string{"10.0.0.2:7700"} },
		"bad bootstrap":     func(c *Config) { c.Bootstrap = []string{"nobody@10.0.0.2:7700"} },
		"max_records":       func(c *Config) { c.MaxRecords = -1 },
	} {
		c := ok()
		edit(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestNewDropsItselfFromSeeds(t *testing.T) {
	dir := t.TempDir()
	key, err := identity.LoadOrCreate(filepath.Join(dir, identity.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	other := identity.FromSeed(make([]byte, 32)).ID().String() + "@127.0.0.1:1"
	p, err := New(Config{DataDir: dir, Region: "r", Listen: "127.0.0.1:0",
		Seeds: []string{key.ID().String() + "@127.0.0.1:2", other}, Bootstrap: []string{other}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.ID() != key.ID() {
		t.Fatalf("peer ID %v, want the key's %v", p.ID(), key.ID())
	}
	if s := p.Syncer.Seeds(); len(s) != 1 || s[0].Addr != "127.0.0.1:1" {
		t.Fatalf("seeds %v, want only the other bootstrap once", s)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
}
