package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/wire"
)

func TestByteSize(t *testing.T) {
	for in, want := range map[string]ByteSize{"4MiB": 4 << 20, "100 GiB": 100 << 30, "1.5GB": 1.5e9, "1048576": 1 << 20, "2k": 2048} {
		got, err := ParseByteSize(in)
		if err != nil || got != want {
			t.Errorf("ParseByteSize(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "GiB", "-1MiB", "ten"} {
		if _, err := ParseByteSize(bad); err == nil {
			t.Errorf("ParseByteSize(%q) succeeded", bad)
		}
	}
}

func TestLoadRejectsUnknownKeys(t *testing.T) {
	type C struct {
		Listen   string   `toml:"listen"`
		Capacity ByteSize `toml:"capacity"`
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "good.toml")
	os.WriteFile(good, []byte("listen = \"127.0.0.1:1\"\ncapacity = \"2GiB\"\n"), 0o600)
	var c C
	if err := Load(good, &c); err != nil || c.Capacity != 2<<30 {
		t.Fatalf("Load = %+v, %v", c, err)
	}
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(bad, []byte("lisen = \"x\"\n"), 0o600)
	if err := Load(bad, &c); err == nil {
		t.Fatal("misspelt key accepted")
	}
	out := filepath.Join(dir, "out.toml")
	if err := Write(out, c); err != nil {
		t.Fatal(err)
	}
	var back C
	if err := Load(out, &back); err != nil || back != c {
		t.Fatalf("round trip = %+v, %v", back, err)
	}
}

func TestPeerAddr(t *testing.T) {
	k, _ := identity.Generate()
	a := wire.NodeAddr{Peer: k.ID(), Addr: "127.0.0.1:9"}
	got, err := ParsePeerAddr(FormatPeerAddr(a))
	if err != nil || got != a {
		t.Fatalf("round trip = %v, %v", got, err)
	}
	for _, bad := range []string{"127.0.0.1:9", "nope@127.0.0.1:9", k.ID().String() + "@"} {
		if _, err := ParsePeerAddr(bad); !errors.Is(err, ErrBadPeerAddr) {
			t.Errorf("ParsePeerAddr(%q) err = %v", bad, err)
		}
	}
}
