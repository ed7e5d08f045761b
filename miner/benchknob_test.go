package miner

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/ppstore/ppstore/config"
)

// TestBenchKeepUnsealedNeverSeals checks the benchmark baseline knob: a
// miner with bench_keep_unsealed keeps the shard as stored even when asked
// to seal now, and serves it; the same shard on a normal miner is sealed.
func TestBenchKeepUnsealedNeverSeals(t *testing.T) {
	cfgFile := filepath.Join(t.TempDir(), "miner.toml")
	if err := os.WriteFile(cfgFile, []byte("data_dir = \"/x\"\nbench_keep_unsealed = true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var parsed Config
	if err := config.Load(cfgFile, &parsed); err != nil || !parsed.BenchKeepUnsealed {
		t.Fatalf("bench_keep_unsealed = true loaded as %v (err %v)", parsed.BenchKeepUnsealed, err)
	}

	plain := startMiner(t, "", func(c *Config) { withSealing(c); c.BenchKeepUnsealed = true })
	normal := startMiner(t, "", withSealing)
	cli := newClient(t)
	sh := makeShard(t, 64<<10, 16<<10)
	for _, m := range []*testMiner{plain, normal} {
		if _, err := put(context.Background(), cli, m.Addr(), sh, nil, defaultPut(16<<10)); err != nil {
			t.Fatal(err)
		}
		if err := m.SealNow(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if si := plain.sealer.info(sh.Root); si != nil {
		t.Fatalf("a bench_keep_unsealed miner sealed its shard: %+v", si)
	}
	if normal.sealer.info(sh.Root) == nil {
		t.Fatal("the normal miner did not seal the same shard")
	}
	file, err := os.ReadFile(plain.store.shardPath(sh.Root))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(file, sh.Data) {
		t.Fatal("the bench_keep_unsealed miner's shard file is not the shard as stored")
	}
	checkServes(t, cli, plain, sh)
	checkServes(t, cli, normal, sh)
}
