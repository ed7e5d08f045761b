package e2e

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startDevnet starts a region of real processes and returns its dir and client config.
func startDevnet(t *testing.T, miners string, clientTOML string) (string, string) {
	t.Helper()
	dir := t.TempDir()
	if _, stderr, err := ppstore(t, "devnet", "start", "--dir", dir, "--miners", miners, "--bin", binDir, "--capacity", "1GiB", "--metrics=false", "--no-zkstore"); err != nil {
		t.Fatalf("devnet start: %v\n%s", err, stderr)
	}
	t.Cleanup(func() { ppstore(t, "devnet", "stop", "--dir", dir) })
	cfg := filepath.Join(dir, "client.toml")
	f, err := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(clientTOML)
	f.Close()
	return dir, cfg
}

// runKilling runs ppstore with args and SIGKILLs victim once the progress
// bar on stderr passes 20 %. It returns stdout, stderr and the error.
func runKilling(t *testing.T, victim int, args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "ppstore"), args...)
	var out bytes.Buffer
	cmd.Stdout = &out
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var errText strings.Builder
	killed := false
	sc := bufio.NewScanner(errPipe)
	for sc.Scan() {
		line := sc.Text()
		errText.WriteString(line + "\n")
		if !killed && (strings.Contains(line, " 20%") || strings.Contains(line, " 30%")) {
			if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
				t.Fatalf("kill %d: %v", victim, err)
			}
			killed = true
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("the transfer ended before the miner could be killed:\n%s", errText.String())
	}
	return out.String(), errText.String(), err
}

func minerPID(t *testing.T, dir, name string) int {
	b, err := os.ReadFile(filepath.Join(dir, name, "pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || !processAlive(pid) {
		t.Fatalf("%s: pid %q not running (%v)", name, b, err)
	}
	return pid
}

func TestMinerSIGKILLedMidDownload(t *testing.T) {
	// A short piece timeout so that the dead miner is noticed quickly.
	dir, cfg := startDevnet(t, "4", "piece_timeout = \"3s\"\n")
	data := make([]byte, 48<<20)
	rand.Read(data)
	in := filepath.Join(t.TempDir(), "in.bin")
	os.WriteFile(in, data, 0o600)
	out, stderr, err := ppstore(t, "put", "--config", cfg, "--replicas", "2", "-q", in)
	if err != nil {
		t.Fatalf("put: %v\n%s", err, stderr)
	}
	id := strings.TrimSpace(out)
	copyPath := filepath.Join(t.TempDir(), "copy.bin")
	start := time.Now()
	_, stderr, err = runKilling(t, minerPID(t, dir, "miner-1"), "get", "--config", cfg, id, "-o", copyPath)
	if err != nil {
		t.Fatalf("get with a miner SIGKILLed mid-way: %v\n%s", err, stderr)
	}
	got, _ := os.ReadFile(copyPath)
	if !bytes.Equal(got, data) {
		t.Fatal("get wrote other bytes")
	}
	t.Logf("get finished %v after start with miner-1 killed", time.Since(start).Round(time.Millisecond))
}

func TestMinerSIGKILLedMidUpload(t *testing.T) {
	// Default timeouts: the miner before the dead one must notice first.
	dir, cfg := startDevnet(t, "5", "")
	data := make([]byte, 64<<20)
	rand.Read(data)
	in := filepath.Join(t.TempDir(), "in.bin")
	os.WriteFile(in, data, 0o600)
	start := time.Now()
	out, stderr, err := runKilling(t, minerPID(t, dir, "miner-2"), "put", "--config", cfg, "--replicas", "3", in)
	t.Logf("put took %v with miner-2 killed", time.Since(start).Round(time.Millisecond))
	if err != nil {
		// Failing is allowed, but clearly, and with nothing recorded.
		t.Logf("put failed: %v\n%s", err, stderr)
		ls, _, lerr := ppstore(t, "ls", "--config", cfg)
		if lerr != nil || strings.TrimSpace(ls) != "" {
			t.Fatalf("a failed put left records: %q (err %v)", ls, lerr)
		}
		return
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	id := lines[len(lines)-1]
	stat, _, err := ppstore(t, "stat", "--config", cfg, "--json", id)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(stat, `"miner"`); n < 3*16 {
		t.Fatalf("%d replicas recorded for 16 shards × 3", n)
	}
	copyPath := filepath.Join(t.TempDir(), "copy.bin")
	if _, stderr, err := ppstore(t, "get", "--config", cfg, id, "-o", copyPath); err != nil {
		t.Fatalf("get: %v\n%s", err, stderr)
	}
	got, _ := os.ReadFile(copyPath)
	if !bytes.Equal(got, data) {
		t.Fatal("get after a put that lost a miner returned other bytes")
	}
}
