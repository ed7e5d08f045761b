package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ppstore/ppstore/devnet"
	"github.com/ppstore/ppstore/discover"
	"github.com/ppstore/ppstore/identity"
)

// deadBootstrapConfig writes a client config in dir whose one bootstrap
// listens nowhere: a UDP port that was free a moment ago.
func deadBootstrapConfig(t *testing.T, dir string) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	key, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "client.toml")
	cfg := fmt.Sprintf("data_dir = %q\nbootstrap = [\"%s@%s\"]\ntimeout = \"1s\"\n", filepath.Join(dir, "client"), key.ID(), addr)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// runCLIWithin runs the command line with a deadline: a dial to a bootstrap
// that does not answer then fails within d instead of the transport's dial
// timeout (5 s), by the same path.
func runCLIWithin(t *testing.T, d time.Duration, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var out, errb bytes.Buffer
	code = run(ctx, args, &out, &errb)
	return code, out.String(), errb.String()
}

// When no bootstrap answers, the error says so first, names the config in
// use and how to start a local region.
func TestNoBootstrapErrorNamesConfigAndDevnet(t *testing.T) {
	cfg := deadBootstrapConfig(t, t.TempDir())
	for _, args := range [][]string{{"ls"}, {"stat", "bagbibqabciqacvnuzcz7armcukrgmu7ktc7lvoemzmr6keviz6nf3j3wch7qk5i"}} {
		code, out, errOut := runCLIWithin(t, time.Second, append(args, "--config", cfg)...)
		if code != exitError || out != "" {
			t.Fatalf("%v: exit %d, stdout %q", args, code, out)
		}
		first, _, _ := strings.Cut(errOut, "\n")
		if !strings.HasPrefix(first, "ppstore: no bootstrap answered") || !strings.Contains(first, cfg) {
			t.Errorf("%v: first line %q, want it to say no bootstrap answered and name %s", args, first, cfg)
		}
		if !strings.Contains(errOut, "ppstore devnet start --dir DIR") {
			t.Errorf("%v: no devnet suggestion in %q", args, errOut)
		}
	}

	// The config of a stopped devnet: the suggestion names its directory.
	dir := t.TempDir()
	cfg = deadBootstrapConfig(t, dir)
	if err := os.WriteFile(filepath.Join(dir, devnet.StateFile), []byte("{}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PPSTORE_CONFIG", cfg)
	code, _, errOut := runCLI(t, "id") // id needs no region
	if code != exitOK {
		t.Fatalf("id: exit %d, %q", code, errOut)
	}
	_, _, errOut = runCLIWithin(t, time.Second, "ls")
	if !strings.HasPrefix(errOut, "ppstore: no bootstrap answered") || !strings.Contains(errOut, "ppstore devnet start --dir "+dir+"\n") {
		t.Errorf("stopped devnet: %q", errOut)
	}
}

// explain leaves other errors alone and keeps the cause reachable.
func TestExplainKeepsIdentity(t *testing.T) {
	root := newRootCmd()
	other := errors.New("disk full")
	if got := explain(root, other); got != other {
		t.Errorf("explain changed an unrelated error: %v", got)
	}
	wrapped := fmt.Errorf("finding the indexer: %w", discover.ErrNoBootstrap)
	got := explain(root, wrapped)
	if !errors.Is(got, discover.ErrNoBootstrap) {
		t.Errorf("explained error lost its cause: %v", got)
	}
	if again := explain(root, got); again != got {
		t.Errorf("explained twice")
	}
}
