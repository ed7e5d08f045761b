package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// ppstore rm on a devnet of real processes: the file leaves the listing, a
// second rm says there is no such file.
func TestRmCommand(t *testing.T) {
	_, cfg := startDevnet(t, "3", "")
	in := filepath.Join(t.TempDir(), "f.bin")
	if err := os.WriteFile(in, randomBytes(t, 5<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	out, stderr, err := ppstore(t, "put", "--config", cfg, "--replicas", "2", "-q", in)
	if err != nil {
		t.Fatalf("put: %v\n%s", err, stderr)
	}
	id := strings.TrimSpace(out)
	if _, stderr, err := ppstore(t, "rm", "--config", cfg, id); err != nil || !strings.Contains(stderr, "2 shards freed") {
		t.Fatalf("rm: %v\n%s", err, stderr)
	}
	if ls, _, err := ppstore(t, "ls", "--config", cfg); err != nil || strings.TrimSpace(ls) != "" {
		t.Fatalf("ls after rm: %q, %v", ls, err)
	}
	if _, stderr, err := ppstore(t, "rm", "--config", cfg, id); err == nil || !strings.Contains(stderr, "no file") {
		t.Fatalf("second rm: %v\n%s", err, stderr)
	}
}
