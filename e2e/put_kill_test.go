package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ppstore/ppstore/config"
	"github.com/ppstore/ppstore/user"
)

// blameLog is a slog handler that records which miners a put blamed: the
// miner named by each "re-placing" warning (a miner only not reached is
// logged at info level and is not blamed).
type blameLog struct {
	mu     sync.Mutex
	blamed map[string]int
}

func (b *blameLog) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (b *blameLog) WithAttrs([]slog.Attr) slog.Handler           { return b }
func (b *blameLog) WithGroup(string) slog.Handler                { return b }
func (b *blameLog) Handle(_ context.Context, r slog.Record) error {
	if !strings.Contains(r.Message, "re-placing") {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "miner" {
			b.mu.Lock()
			b.blamed[a.Value.String()]++
			b.mu.Unlock()
		}
		if a.Key == "err" { // "replica not proven" names the miner in its error
			b.mu.Lock()
			b.blamed["err: "+a.Value.String()]++
			b.mu.Unlock()
		}
		return true
	})
	return nil
}

func (b *blameLog) take() map[string]int {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := b.blamed
	b.blamed = map[string]int{}
	return out
}

// devnetClient opens an in-process client on a devnet's client.toml, logging
// its blame into the returned log.
func devnetClient(t *testing.T, dir string) (*user.Client, *blameLog) {
	t.Helper()
	var cfg user.Config
	path := filepath.Join(dir, "client.toml")
	if err := config.Load(path, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.DataDir != "" && !filepath.IsAbs(cfg.DataDir) {
		cfg.DataDir = filepath.Join(dir, cfg.DataDir)
	}
	bl := &blameLog{blamed: map[string]int{}}
	c, err := user.New(context.Background(), cfg, slog.New(bl))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, bl
}

// minerPeer is the peer ID of a devnet's miner, from its node.json.
func minerPeer(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name, "node.json"))
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		Peer string `json:"peer"`
	}
	if err := json.Unmarshal(b, &info); err != nil {
		t.Fatal(err)
	}
	return info.Peer
}

func short(peer string) string { return peer[len(peer)-10:] }

// A put with r=3 on six miners succeeds whatever one miner does at any
// moment of it (SIGKILL before, early, while committing; SIGSTOP mid-way),
// and with miners dead beforehand as long as three are live; every shard
// ends with exactly three replicas, all on live miners, and only the miner
// at fault is blamed.
func TestPutSurvivesAMinerFailingAtAnyMoment(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a devnet of six miners")
	}
	dir, _ := startDevnet(t, "6", "")
	c, blame := devnetClient(t, dir)
	peers := map[string]string{} // name → peer ID
	for _, n := range []string{"miner-1", "miner-2", "miner-3", "miner-4", "miner-5", "miner-6"} {
		peers[n] = minerPeer(t, dir, n)
	}
	dead := map[string]bool{}
	const size = 24 << 20 // six shards

	type fault struct {
		name   string
		victim string
		at     float64 // fraction of the upload; < 0: before the put
		sig    syscall.Signal
	}
	for _, f := range []fault{
		// First, while every miner is up: the first upload of every shard
		// then succeeds, so progress reaches the whole file exactly when
		// the last piece is sent and the miners make their copies durable.
		{"killed while committing", "miner-3", 1, syscall.SIGKILL},
		{"killed early", "miner-1", 0.05, syscall.SIGKILL},
		{"hung mid-way", "miner-2", 0.5, syscall.SIGSTOP},
		{"killed before, with two dead already", "miner-4", -1, syscall.SIGKILL},
	} {
		t.Run(f.name, func(t *testing.T) {
			pid := minerPID(t, dir, f.victim)
			var (
				sent  atomic.Int64
				fired atomic.Bool
			)
			hit := func() {
				if fired.CompareAndSwap(false, true) {
					if err := syscall.Kill(pid, f.sig); err != nil {
						t.Errorf("signal %v to %s: %v", f.sig, f.victim, err)
					}
				}
			}
			if f.at < 0 {
				hit()
			}
			if f.sig == syscall.SIGSTOP {
				t.Cleanup(func() { syscall.Kill(pid, syscall.SIGCONT) })
			}
			data := randomBytes(t, size)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			blame.take()
			start := time.Now()
			id, err := c.Put(ctx, bytes.NewReader(data), user.PutOptions{Replicas: 3, Progress: func(n int64) {
				if float64(sent.Add(n)) >= f.at*size {
					hit()
				}
			}})
			t.Logf("put took %v", time.Since(start).Round(time.Millisecond))
			if f.sig == syscall.SIGSTOP {
				syscall.Kill(pid, syscall.SIGCONT)
			}
			if !fired.Load() {
				t.Fatal("the put ended before the fault")
			}
			if f.sig == syscall.SIGKILL {
				dead[f.victim] = true
			}
			if err != nil {
				t.Fatalf("put with %s %s: %v", f.victim, f.name, err)
			}
			blamed := blame.take()
			for who, n := range blamed {
				if strings.HasPrefix(who, "err: ") {
					if !strings.Contains(who, short(peers[f.victim])) && !anyDeadIn(who, dead, peers) {
						t.Errorf("a put blamed a live miner: %s", who)
					}
					continue
				}
				if who == short(peers[f.victim]) {
					continue
				}
				for name, p := range peers {
					if short(p) == who && !dead[name] {
						t.Errorf("%s was blamed %d times, but only %s failed", name, n, f.victim)
					}
				}
			}
			st, err := c.Stat(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range st.Shards {
				seen := map[string]bool{}
				for _, r := range s.Replicas {
					seen[r.Miner] = true
					// A miner killed during this put may have made its copy
					// durable and signed for it first: that replica is real.
					for name, p := range peers {
						if p == r.Miner && dead[name] && (name != f.victim || f.at < 0) {
							t.Errorf("shard %d has a replica on %s, dead before the put", i, name)
						}
					}
				}
				if len(seen) != 3 || len(s.Replicas) != 3 {
					t.Errorf("shard %d has %d replicas, want exactly 3", i, len(s.Replicas))
				}
			}
			var got bytes.Buffer
			if _, err := c.Get(ctx, id, &got, user.GetOptions{}); err != nil || !bytes.Equal(got.Bytes(), data) {
				t.Fatalf("get after the put: %v (equal %v)", err, bytes.Equal(got.Bytes(), data))
			}
		})
	}
}

func anyDeadIn(s string, dead map[string]bool, peers map[string]string) bool {
	for name := range dead {
		if strings.Contains(s, short(peers[name])) {
			return true
		}
	}
	return false
}
