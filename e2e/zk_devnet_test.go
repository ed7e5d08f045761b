package e2e

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type zkStatusRow struct {
	Name    string `json:"name"`
	Role    string `json:"role"`
	Running bool   `json:"running"`
	Account string `json:"account"`
	Health  string `json:"health"`
}

// walletBalance is `ppstore wallet balance --json` with the devnet's client
// config, for the wallet beside the identity in dataDir (a miner's data
// directory) or, when empty, the client's.
func walletBalance(t *testing.T, dir, dataDir string) (pending, proven uint64, err error) {
	args := []string{"--config", filepath.Join(dir, "client.toml")}
	if dataDir != "" {
		args = append(args, "--identity", dataDir)
	}
	out, stderr, err := ppstore(t, append(args, "wallet", "balance", "--json")...)
	if err != nil {
		return 0, 0, fmt.Errorf("%v: %s", err, stderr)
	}
	var b struct{ Pending, Proven uint64 }
	if err := json.Unmarshal([]byte(out), &b); err != nil {
		return 0, 0, fmt.Errorf("%v: %s", err, out)
	}
	return b.Pending, b.Proven, nil
}

// A default devnet runs the sidechain node and the zkstore operator, lists
// them healthy with their accounts, funds the client from the genesis
// faucet, and its verifier pays each miner for its passed proofs: the
// miners' balances, proven against the root the sidechain accepted, grow.
func TestDevnetRunsZkStoreAndPaysMiners(t *testing.T) {
	if testing.Short() {
		t.Skip("a devnet with a sidechain and a Groth16 prover")
	}
	dir := t.TempDir()
	if _, stderr, err := ppstore(t, "devnet", "start", "--dir", dir, "--miners", "3", "--bin", binDir, "--capacity", "1GiB", "--metrics=false"); err != nil {
		t.Fatalf("devnet start: %v\n%s", err, stderr)
	}
	t.Cleanup(func() { ppstore(t, "devnet", "stop", "--dir", dir) })
	out, stderr, err := ppstore(t, "devnet", "status", "--dir", dir, "--json")
	if err != nil {
		t.Fatalf("devnet status: %v\n%s", err, stderr)
	}
	var rows []zkStatusRow
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatal(err)
	}
	seen := map[string]zkStatusRow{}
	for _, r := range rows {
		seen[r.Role] = r
		if (r.Role == "miner" || r.Role == "verifier" || r.Role == "zkstore") && len(r.Account) != 64 {
			t.Errorf("%s lists no account: %+v", r.Name, r)
		}
	}
	for _, role := range []string{"sidechain", "zkstore"} {
		if r, ok := seen[role]; !ok || !r.Running || !strings.HasPrefix(r.Health, "ok:") {
			t.Fatalf("devnet status: %s %+v, want running and healthy", role, r)
		}
	}

	// The client's faucet transfer reaches a root the chain accepted.
	pollEvery(t, 2*time.Minute, "the client's funds proven", func() error {
		_, proven, err := walletBalance(t, dir, "")
		if err == nil && proven != 1_000_000 {
			err = fmt.Errorf("proven %d", proven)
		}
		return err
	})

	data := make([]byte, 1<<20)
	rand.Read(data)
	in := filepath.Join(t.TempDir(), "in.bin")
	os.WriteFile(in, data, 0o600)
	if _, stderr, err := ppstore(t, "--config", filepath.Join(dir, "client.toml"), "put", "--replicas", "3", in); err != nil {
		t.Fatalf("put: %v\n%s", err, stderr)
	}
	// Every miner holds a replica, passes its rounds and is paid: its
	// proven balance grows (price 10 per pass, settled every 6 epochs).
	for i := 1; i <= 3; i++ {
		mdir := filepath.Join(dir, fmt.Sprintf("miner-%d", i))
		pollEvery(t, 3*time.Minute, "miner paid", func() error {
			_, proven, err := walletBalance(t, dir, mdir)
			if err == nil && proven == 0 {
				err = errors.New("no proven payment yet")
			}
			return err
		})
	}
}

// pollEvery is waitFor for conditions that run a command: it checks once a
// second rather than continuously.
func pollEvery(t *testing.T, d time.Duration, what string, cond func() error) {
	t.Helper()
	next := time.Time{}
	waitFor(t, d, what, func() error {
		if time.Now().Before(next) {
			return errors.New("not checked yet")
		}
		next = time.Now().Add(time.Second)
		return cond()
	})
}
