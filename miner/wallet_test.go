package miner

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ppstore/ppstore/wire"
)

// A miner serves its wallet binding file as it is, refuses with
// wire.ErrNoWallet while it has none, and never serves an oversized file.
func TestGetWalletBinding(t *testing.T) {
	m := startMiner(t, "", nil)
	cli := newClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var got wire.WalletBinding
	if err := cli.Call(ctx, m.Addr(), &wire.GetWalletBinding{}, &got); !errors.Is(err, wire.ErrNoWallet) {
		t.Fatalf("no binding yet: %v", err)
	}
	want := []byte(`{"peer": "any bytes: the asker verifies them"}` + "\n")
	if err := os.WriteFile(filepath.Join(m.dir, walletBindingFile), want, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := cli.Call(ctx, m.Addr(), &wire.GetWalletBinding{}, &got); err != nil || string(got.Binding) != string(want) {
		t.Fatalf("binding: %q, %v", got.Binding, err)
	}
	if err := os.WriteFile(filepath.Join(m.dir, walletBindingFile), make([]byte, wire.MaxWalletBinding+1), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := cli.Call(ctx, m.Addr(), &wire.GetWalletBinding{}, &got); !errors.Is(err, wire.ErrNoWallet) {
		t.Fatalf("oversized binding file: %v", err)
	}
}
