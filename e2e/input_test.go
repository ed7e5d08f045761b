package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Input the region would refuse is refused before anything is stored, and ls
// prints one line per file whatever the names hold.
func TestPutInputChecksAndListing(t *testing.T) {
	_, cfg := startDevnet(t, "1", "")
	in := filepath.Join(t.TempDir(), "in.bin")
	os.WriteFile(in, []byte("some bytes"), 0o600)

	for _, args := range [][]string{
		{"put", "--replicas", "0", in},
		{"put", "--replicas", "1", "--name", "caf\xe9", in},
		{"put", "--replicas", "1", "--name", strings.Repeat("n", 1025), in},
	} {
		_, stderr, err := ppstore(t, append(args, "--config", cfg)...)
		if code := exitCode(t, err); code != 2 {
			t.Errorf("%.60q: exit %d, want 2\n%s", args, code, stderr)
		}
	}
	if out, _, err := ppstore(t, "ls", "--config", cfg); err != nil || out != "" {
		t.Fatalf("refused puts stored something: %q (%v)", out, err)
	}

	odd := "two\nlines\tand \x1b[31mred"
	for _, name := range []string{odd, "plain name.txt"} {
		// Different bytes each: the index keeps one entry per owner and file.
		os.WriteFile(in, []byte("bytes of "+name), 0o600)
		if _, stderr, err := ppstore(t, "put", "--config", cfg, "--replicas", "1", "-q", "--name", name, in); err != nil {
			t.Fatalf("put --name %q: %v\n%s", name, err, stderr)
		}
	}
	// From standard input, named with --name.
	cmd := exec.Command(filepath.Join(binDir, "ppstore"), "put", "--config", cfg, "--replicas", "1", "-q", "--name", "from stdin", "-")
	cmd.Stdin = strings.NewReader("piped bytes")
	if out, err := cmd.Output(); err != nil || strings.TrimSpace(string(out)) == "" {
		t.Fatalf("put from stdin: %v, %q", err, out)
	}
	out, stderr, err := ppstore(t, "ls", "--config", cfg)
	if err != nil {
		t.Fatalf("ls: %v\n%s", err, stderr)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("ls printed %d lines for 3 files:\n%s", len(lines), out)
	}
	var seen []string
	for _, l := range lines {
		if strings.ContainsAny(l, "\t\x1b") {
			t.Errorf("ls line holds control characters: %q", l)
		}
		switch {
		case strings.HasSuffix(l, strconv.Quote(odd)):
			seen = append(seen, "odd")
		case strings.HasSuffix(l, "plain name.txt"):
			seen = append(seen, "plain")
		case strings.HasSuffix(l, "from stdin"):
			seen = append(seen, "stdin")
		}
	}
	if len(seen) != 3 {
		t.Errorf("ls lines %q: found %v, want the quoted odd name, the plain one and the stdin one", lines, seen)
	}
}
