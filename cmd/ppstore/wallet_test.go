package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ppstore/ppstore/config"
	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/wire"
)

func walletConfig(t *testing.T) string {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "client.toml")
	boot := config.FormatPeerAddr(wire.NodeAddr{Peer: identity.FromSeed(make([]byte, 32)).ID(), Addr: "127.0.0.1:9"})
	body := fmt.Sprintf("data_dir = \"client\"\nregion = \"r1\"\nbootstrap = [%q]\n", boot)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// The wallet's address is made once, kept beside the identity and bound to it.
func TestWalletAddressIsStable(t *testing.T) {
	cfg := walletConfig(t)
	var first map[string]string
	for i := 0; i < 2; i++ {
		code, out, errOut := runCLI(t, "--config", cfg, "wallet", "address", "--json")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		var got map[string]string
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("%v: %q", err, out)
		}
		if len(got["address"]) != 64 || got["peer"] == "" {
			t.Fatalf("address output %v", got)
		}
		if i == 0 {
			first = got
		} else if got["address"] != first["address"] || got["peer"] != first["peer"] {
			t.Fatalf("address changed: %v then %v", first, got)
		}
	}
	_, id, _ := runCLI(t, "--config", cfg, "id")
	if strings.TrimSpace(id) != first["peer"] {
		t.Fatalf("wallet bound to %s, client is %s", first["peer"], id)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(cfg), "client", "wallet.binding")); err != nil {
		t.Fatal(err)
	}
}

func TestWalletRefusesWithoutChainOrWithBadInput(t *testing.T) {
	cfg := walletConfig(t)
	code, _, errOut := runCLI(t, "--config", cfg, "wallet", "balance")
	if code == 0 || !strings.Contains(errOut, "no sidechain configured") {
		t.Fatalf("balance without a sidechain: exit %d, %q", code, errOut)
	}
	for _, args := range [][]string{
		{"wallet", "send", "nothex", "5"},
		{"wallet", "send", strings.Repeat("ab", 32), "5"}, // not a curve point
		{"wallet", "send", strings.Repeat("00", 32), "-1"},
		{"wallet", "send", "x"},
	} {
		code, out, errOut := runCLI(t, append([]string{"--config", cfg}, args...)...)
		if code != exitUsage || out != "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want a usage error", args, code, out, errOut)
		}
	}
}
