package e2e

import (
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// statReplicas runs `ppstore stat --json` and returns, per miner peer ID, the
// "live" field of its replicas ("true", "false" or "" when absent) and their
// "status".
func statReplicas(t *testing.T, cfg, id string) (live, status map[string]string) {
	t.Helper()
	out, stderr, err := ppstore(t, "stat", "--config", cfg, "--json", id)
	if err != nil {
		t.Fatalf("stat: %v\n%s", err, stderr)
	}
	var st struct {
		Shards []struct {
			Replicas []struct {
				Miner  string `json:"miner"`
				Status string `json:"status"`
				Live   *bool  `json:"live"`
			} `json:"replicas"`
		} `json:"shards"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("stat JSON: %v\n%s", err, out)
	}
	live, status = map[string]string{}, map[string]string{}
	for _, s := range st.Shards {
		for _, r := range s.Replicas {
			switch {
			case r.Live == nil:
				live[r.Miner] = ""
			case *r.Live:
				live[r.Miner] = "true"
			default:
				live[r.Miner] = "false"
			}
			status[r.Miner] = r.Status
		}
	}
	return live, status
}

// waitGone waits until process pid has exited.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); processAlive(pid); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("pid %d still running 30s after it was told to stop", pid)
		}
	}
}

// stat tells a stopped miner from a running one: its replicas turn
// "live": false once its record at the bootstrap has expired.
func TestStatShowsStoppedMiner(t *testing.T) {
	dir, cfg := startDevnet(t, "3", "")
	// Give miner-1 a short record TTL so that its stop shows within seconds:
	// stop it, change its config, and let devnet start bring it back.
	pid := minerPID(t, dir, "miner-1")
	syscall.Kill(pid, syscall.SIGTERM)
	waitGone(t, pid)
	minerCfg := filepath.Join(dir, "miner-1", "miner-1.toml")
	f, err := os.OpenFile(minerCfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("record_ttl = \"3s\"\n")
	f.Close()
	if _, stderr, err := ppstore(t, "devnet", "start", "--dir", dir, "--bin", binDir); err != nil {
		t.Fatalf("devnet start again: %v\n%s", err, stderr)
	}
	var stopped string
	out, _, err := ppstore(t, "devnet", "status", "--dir", dir, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var rows []struct{ Name, Peer string }
	json.Unmarshal([]byte(out), &rows)
	for _, r := range rows {
		if r.Name == "miner-1" {
			stopped = r.Peer
		}
	}
	if stopped == "" {
		t.Fatalf("no miner-1 in devnet status: %s", out)
	}

	data := make([]byte, 1<<20)
	rand.Read(data)
	in := filepath.Join(t.TempDir(), "in.bin")
	os.WriteFile(in, data, 0o600)
	out, stderr, err := ppstore(t, "put", "--config", cfg, "--replicas", "3", "-q", in)
	if err != nil {
		t.Fatalf("put: %v\n%s", err, stderr)
	}
	id := strings.TrimSpace(out)
	live, _ := statReplicas(t, cfg, id)
	if len(live) != 3 {
		t.Fatalf("replicas on %d miners, want 3: %v", len(live), live)
	}
	for m, l := range live {
		if l != "true" {
			t.Fatalf("miner %s not live with every miner running: %v", m, live)
		}
	}

	pid = minerPID(t, dir, "miner-1")
	syscall.Kill(pid, syscall.SIGKILL)
	waitGone(t, pid)
	deadline := time.Now().Add(30 * time.Second)
	for {
		live, status := statReplicas(t, cfg, id)
		if live[stopped] == "false" {
			for m, l := range live {
				if m != stopped && l != "true" {
					t.Errorf("running miner %s shown as live=%q", m, l)
				}
				if status[m] != "stored" && status[m] != "proven" { // proven once the verifier told the indexer
					t.Errorf("miner %s: status %q, want the indexer's \"stored\" or \"proven\"", m, status[m])
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("miner-1 still shown live 30s after it was killed (record TTL 3s): %v", live)
		}
		time.Sleep(200 * time.Millisecond)
	}
	out, _, err = ppstore(t, "stat", "--config", cfg, id)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, stopped) && !strings.HasSuffix(strings.TrimSpace(line), "unreachable") {
			t.Errorf("stat line of the stopped miner: %q", line)
		}
	}
	if !strings.Contains(out, "unreachable") {
		t.Errorf("stat does not show the stopped miner unreachable:\n%s", out)
	}
}
