package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCommandLineSharing runs put --private, get, share, unshare and
// --identity on a devnet as a user would.
func TestCommandLineSharing(t *testing.T) {
	dir := t.TempDir()
	if _, stderr, err := ppstore(t, "devnet", "start", "--dir", dir, "--miners", "4", "--bin", binDir, "--capacity", "1GiB", "--no-zkstore"); err != nil {
		t.Fatalf("devnet start: %v\n%s", err, stderr)
	}
	t.Cleanup(func() { ppstore(t, "devnet", "stop", "--dir", dir) })
	cfg := filepath.Join(dir, "client.toml")
	as := func(who string, args ...string) (string, string, error) {
		return ppstore(t, append([]string{"--config", cfg, "--identity", filepath.Join(dir, "ids", who)}, args...)...)
	}
	data := secretText(300 << 10)
	in := filepath.Join(dir, "secret.txt")
	if err := os.WriteFile(in, data, 0o600); err != nil {
		t.Fatal(err)
	}
	out, stderr, err := as("alice", "put", "-q", "--private", "--replicas", "2", in)
	if err != nil {
		t.Fatalf("put --private: %v\n%s", err, stderr)
	}
	id := strings.TrimSpace(out)

	ids := map[string]string{}
	for _, who := range []string{"alice", "bob", "carol"} {
		out, stderr, err := as(who, "id")
		if err != nil {
			t.Fatalf("id: %v\n%s", err, stderr)
		}
		ids[who] = strings.TrimSpace(out)
	}
	if ids["alice"] == ids["bob"] || ids["bob"] == ids["carol"] {
		t.Fatalf("--identity gave the same peer to two users: %v", ids)
	}
	if _, err := os.Stat(filepath.Join(dir, "ids", "bob", "identity.key")); err != nil {
		t.Fatalf("--identity did not create the key in its folder: %v", err)
	}

	getTo := func(who, what string) ([]byte, string, error) {
		o := filepath.Join(dir, "out-"+who)
		os.Remove(o)
		_, stderr, err := as(who, "get", "-q", what, "-o", o)
		b, _ := os.ReadFile(o)
		return b, stderr, err
	}
	if got, stderr, err := getTo("alice", id); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("owner's get: %v\n%s", err, stderr)
	}
	if _, stderr, err := getTo("bob", id); err == nil || !strings.Contains(stderr, "private file") {
		t.Fatalf("bob's get by CID: err %v, stderr %q; want a refusal naming a private file", err, stderr)
	}

	out, stderr, err = as("alice", "share", id, "--expires", "1h", "--to", ids["bob"])
	if err != nil {
		t.Fatalf("share: %v\n%s", err, stderr)
	}
	code := strings.TrimSpace(out)
	if strings.Count(out, "\n") != 1 || !strings.HasPrefix(code, "pps1") {
		t.Fatalf("share printed %q, want one code line", out)
	}
	if got, stderr, err := getTo("bob", code); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("bob's get with the code: %v\n%s", err, stderr)
	}
	if _, stderr, err := getTo("carol", code); err == nil || !strings.Contains(stderr, "issued to") {
		t.Fatalf("carol with bob's code: err %v, stderr %q", err, stderr)
	}
	if _, stderr, err := as("bob", "unshare", code); err == nil || !strings.Contains(stderr, "only the code's owner") {
		t.Fatalf("unshare by bob: err %v, stderr %q", err, stderr)
	}
	if _, stderr, err := as("alice", "unshare", code); err != nil {
		t.Fatalf("unshare: %v\n%s", err, stderr)
	}
	recorded := time.Now()
	const bound = 30 * time.Second // 3 × the default revocation_refresh
	for {
		sent := time.Now()
		_, stderr, err := getTo("bob", code)
		if err != nil && (strings.Contains(stderr, "revoked") || strings.Contains(stderr, "cannot check revocations")) {
			t.Logf("revoked code refused %v after unshare (bound %v)", time.Since(recorded).Round(time.Millisecond), bound)
			break
		}
		if sent.Sub(recorded) > bound {
			t.Fatalf("a get sent %v after unshare was not refused as revoked: err %v, stderr %q", sent.Sub(recorded), err, stderr)
		}
	}
}
