package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

var binDir string

func TestMain(m *testing.M) {
	code := func() int {
		dir, err := os.MkdirTemp("", "ppstore-bin-")
		if err != nil {
			panic(err)
		}
		defer os.RemoveAll(dir)
		build := exec.Command("go", "build", "-o", dir+"/", "../cmd/...")
		build.Stderr = os.Stderr
		if err := build.Run(); err != nil {
			panic("building the binaries: " + err.Error())
		}
		binDir = dir
		return m.Run()
	}()
	os.Exit(code)
}

func ppstore(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "ppstore"), args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

type statusRow struct {
	Role    string `json:"role"`
	Peer    string `json:"peer"`
	Addr    string `json:"addr"`
	PID     int    `json:"pid"`
	Running bool   `json:"running"`
}

func devnetStatus(t *testing.T, dir string) []statusRow {
	out, stderr, err := ppstore(t, "devnet", "status", "--dir", dir, "--json")
	if err != nil {
		t.Fatalf("devnet status: %v\n%s", err, stderr)
	}
	var rows []statusRow
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("status JSON: %v\n%s", err, out)
	}
	return rows
}

func TestDevnetAndCommandLine(t *testing.T) {
	dir := t.TempDir()
	if _, stderr, err := ppstore(t, "devnet", "start", "--dir", dir, "--miners", "3", "--bin", binDir, "--capacity", "1GiB", "--no-zkstore"); err != nil {
		t.Fatalf("devnet start: %v\n%s", err, stderr)
	}
	t.Cleanup(func() { ppstore(t, "devnet", "stop", "--dir", dir) })
	rows := devnetStatus(t, dir)
	if len(rows) != 6 {
		t.Fatalf("%d processes, want bootstrap, indexer, verifier and 3 miners: %+v", len(rows), rows)
	}
	roles := map[string]int{}
	for _, r := range rows {
		roles[r.Role]++
		if !r.Running || r.PID <= 0 || r.Peer == "" || r.Addr == "" {
			t.Fatalf("bad status row %+v", r)
		}
	}
	if roles["miner"] != 3 || roles["bootstrap"] != 1 || roles["indexer"] != 1 || roles["verifier"] != 1 {
		t.Fatalf("roles = %v", roles)
	}

	cfg := filepath.Join(dir, "client.toml")
	data := make([]byte, 5<<20+7)
	rand.Read(data)
	in := filepath.Join(t.TempDir(), "in.bin")
	os.WriteFile(in, data, 0o600)
	out, stderr, err := ppstore(t, "put", "--config", cfg, "--replicas", "3", in)
	if err != nil {
		t.Fatalf("put: %v\n%s", err, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	id := lines[len(lines)-1]
	if !strings.Contains(stderr, "100%") {
		t.Errorf("no progress on stderr: %q", stderr)
	}

	copyPath := filepath.Join(t.TempDir(), "copy.bin")
	if _, stderr, err := ppstore(t, "--config", cfg, "get", id, "-o", copyPath); err != nil {
		t.Fatalf("get: %v\n%s", err, stderr)
	}
	got, _ := os.ReadFile(copyPath)
	if !bytes.Equal(got, data) {
		t.Fatal("get -o wrote other bytes")
	}
	// PPSTORE_CONFIG and stdout output.
	cmd := exec.Command(filepath.Join(binDir, "ppstore"), "get", "-q", id)
	cmd.Env = append(os.Environ(), "PPSTORE_CONFIG="+cfg)
	stdout, err := cmd.Output()
	if err != nil || !bytes.Equal(stdout, data) {
		t.Fatalf("get to stdout: err %v, %d bytes", err, len(stdout))
	}

	out, _, err = ppstore(t, "stat", "--config", cfg, "--json", id)
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		CID    string `json:"cid"`
		Size   int64  `json:"size"`
		Shards []struct {
			CID      string `json:"cid"`
			Replicas []struct {
				Miner  string `json:"miner"`
				Status string `json:"status"`
			} `json:"replicas"`
		} `json:"shards"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("stat JSON: %v\n%s", err, out)
	}
	if st.CID != id || st.Size != int64(len(data)) || len(st.Shards) != 2 || len(st.Shards[0].Replicas) != 3 || st.Shards[0].Replicas[0].Status == "" {
		t.Fatalf("stat = %+v", st)
	}
	out, _, err = ppstore(t, "ls", "--config", cfg)
	if err != nil || !strings.Contains(out, id) || !strings.Contains(out, "in.bin") {
		t.Fatalf("ls: %v\n%s", err, out)
	}

	// An unknown CID: clear error, non-zero exit.
	unknown := "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy" // a raw CID, not a manifest
	if _, stderr, err := ppstore(t, "get", "--config", cfg, unknown); err == nil || !strings.Contains(stderr, "not a ppstore file CID") {
		t.Fatalf("raw CID: err %v, stderr %q", err, stderr)
	}
	notStored := strings.Replace(id, id[len(id)-4:], "aaaa", 1)
	if _, stderr, err := ppstore(t, "get", "--config", cfg, notStored); err == nil {
		t.Fatal("get of a CID never stored exited 0")
	} else if !strings.Contains(stderr, "not") {
		t.Fatalf("unclear error: %q", stderr)
	}

	// Stop and start again: same region, same data.
	if _, stderr, err := ppstore(t, "devnet", "stop", "--dir", dir); err != nil {
		t.Fatalf("stop: %v\n%s", err, stderr)
	}
	for _, r := range rows {
		if processAlive(r.PID) {
			t.Fatalf("%s (pid %d) still running after stop", r.Role, r.PID)
		}
	}
	if _, stderr, err := ppstore(t, "devnet", "start", "--dir", dir, "--bin", binDir); err != nil {
		t.Fatalf("restart: %v\n%s", err, stderr)
	}
	again := devnetStatus(t, dir)
	for i := range rows {
		if again[i].Peer != rows[i].Peer || !again[i].Running {
			t.Fatalf("restarted region differs: %+v vs %+v", again[i], rows[i])
		}
	}
	if _, stderr, err := ppstore(t, "get", "--config", cfg, id, "-o", copyPath); err != nil {
		t.Fatalf("get after restart: %v\n%s", err, stderr)
	}
	got, _ = os.ReadFile(copyPath)
	if !bytes.Equal(got, data) {
		t.Fatal("get after restart wrote other bytes")
	}
}

// processAlive is true for a live process; a zombie (exited, not yet reaped
// by whoever adopted it) counts as gone.
func processAlive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	return !(i > 0 && i+2 < len(b) && b[i+2] == 'Z')
}

// exitCode is the exit status of a finished ppstore run (0 when err is nil).
func exitCode(t *testing.T, err error) int {
	t.Helper()
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("ppstore did not run: %v", err)
	}
	return ee.ExitCode()
}

// The binary's exit statuses and help, without a region: usage errors exit 2,
// help and version 0.
func TestCommandLineUsage(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		code   int
		stdout string // a substring of stdout
		stderr string // a substring of stderr
	}{
		{nil, 2, "", "Usage:"},
		{[]string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{[]string{"put"}, 2, "", "put takes one FILE"},
		{[]string{"help", "put"}, 0, "--replicas", ""},
		{[]string{"get", "--help"}, 0, "-o, --output", ""},
		{[]string{"--version"}, 0, "ppstore ", ""},
		{[]string{"version"}, 0, "ppstore ", ""},
		{[]string{"completion", "bash"}, 0, "ppstore", ""},
	} {
		out, stderr, err := ppstore(t, tc.args...)
		if code := exitCode(t, err); code != tc.code || !strings.Contains(out, tc.stdout) || !strings.Contains(stderr, tc.stderr) {
			t.Errorf("ppstore %q: exit %d, stdout %.200q, stderr %.200q; want exit %d, %q, %q", tc.args, code, out, stderr, tc.code, tc.stdout, tc.stderr)
		}
	}
}
