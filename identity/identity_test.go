package identity

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestLoadOrCreateKeepsKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "node", KeyFile)
	k1, err := LoadOrCreate(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", st.Mode().Perm())
	}
	k2, err := LoadOrCreate(path)
	if err != nil {
		t.Fatal(err)
	}
	if k1.ID() != k2.ID() {
		t.Fatalf("reloaded key has another ID: %v vs %v", k1.ID(), k2.ID())
	}
}

func TestLoadRejectsOpenModeAndGarbage(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, KeyFile)
	if _, err := LoadOrCreate(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); !errors.Is(err, ErrBadKeyFile) {
		t.Fatalf("world-readable key: err = %v, want ErrBadKeyFile", err)
	}
	garbage := filepath.Join(dir, "garbage.key")
	if err := os.WriteFile(garbage, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(garbage); !errors.Is(err, ErrBadKeyFile) {
		t.Fatalf("garbage key: err = %v, want ErrBadKeyFile", err)
	}
}

func TestPeerIDRoundTripAndSignatures(t *testing.T) {
	k, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	id, err := Parse(k.ID().String())
	if err != nil {
		t.Fatal(err)
	}
	if id != k.ID() {
		t.Fatal("parsed ID differs")
	}
	msg := []byte("record")
	sig := k.Sign(msg)
	if !id.Verify(msg, sig) {
		t.Fatal("valid signature rejected")
	}
	if id.Verify([]byte("recorx"), sig) {
		t.Fatal("signature over other bytes accepted")
	}
	other, _ := Generate()
	if other.ID().Verify(msg, sig) {
		t.Fatal("signature accepted for another peer")
	}
	for _, bad := range []string{"", "abc", "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG"} {
		if _, err := Parse(bad); !errors.Is(err, ErrBadPeerID) {
			t.Errorf("Parse(%q) err = %v, want ErrBadPeerID", bad, err)
		}
	}
}
