package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// --identity DIR acts as the wallet of the identity in DIR (another user's,
// or a miner's data directory): its own key, bound to that identity.
func TestWalletAddressFollowsIdentity(t *testing.T) {
	cfg := walletConfig(t)
	addr := func(args ...string) map[string]string {
		t.Helper()
		code, out, errOut := runCLI(t, append([]string{"--config", cfg}, append(args, "wallet", "address", "--json")...)...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		var got map[string]string
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("%v: %q", err, out)
		}
		return got
	}
	other := t.TempDir()
	mine, theirs := addr(), addr("--identity", other)
	if mine["address"] == theirs["address"] || mine["peer"] == theirs["peer"] {
		t.Fatalf("--identity gave the config's wallet: %v and %v", mine, theirs)
	}
	if _, err := os.Stat(filepath.Join(other, "wallet.binding")); err != nil {
		t.Fatalf("no binding beside the other identity: %v", err)
	}
	if again := addr("--identity", other); again["address"] != theirs["address"] {
		t.Fatalf("the other identity's address changed: %v then %v", theirs, again)
	}
}
