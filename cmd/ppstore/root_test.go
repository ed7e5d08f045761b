package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// runCLI runs the ppstore command line in this process.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestNoArgumentsPrintsUsageAndExits2(t *testing.T) {
	code, out, errOut := runCLI(t)
	if code != exitUsage {
		t.Fatalf("exit %d, want %d", code, exitUsage)
	}
	if out != "" {
		t.Errorf("usage went to stdout: %q", out)
	}
	for _, cmd := range []string{"put", "get", "stat", "ls", "id", "devnet", "version", "completion", "help"} {
		if !strings.Contains(errOut, "\n  "+cmd+" ") {
			t.Errorf("usage lacks command %s:\n%s", cmd, errOut)
		}
	}
}

func TestUnknownCommandExits2(t *testing.T) {
	for _, args := range [][]string{{"frobnicate"}, {"pt", "file"}, {"devnet", "strat", "--dir", "x"}, {"--config", "c.toml", "nosuch"}} {
		code, out, errOut := runCLI(t, args...)
		if code != exitUsage || out != "" {
			t.Errorf("%q: exit %d, stdout %q; want exit 2 and nothing on stdout", args, code, out)
		}
		word := args[0]
		if word == "devnet" {
			word = args[1]
		} else if word == "--config" {
			word = args[2]
		}
		if !strings.Contains(errOut, `unknown command "`+word+`"`) || !strings.Contains(errOut, "--help") {
			t.Errorf("%q: stderr %q does not name the command and the help", args, errOut)
		}
	}
	// A near miss names the command that was meant.
	if _, _, errOut := runCLI(t, "devnet", "strat"); !strings.Contains(errOut, "did you mean start") {
		t.Errorf("no suggestion for strat: %q", errOut)
	}
}

// `ppstore help CMD` and `ppstore CMD --help` print the same text: that
// command's usage and its own flags, with the global ones.
func TestPerCommandHelp(t *testing.T) {
	for _, tc := range []struct {
		cmd   []string
		flags []string
	}{
		{[]string{"put"}, []string{"--replicas", "--name", "-q, --quiet", "--stats"}},
		{[]string{"get"}, []string{"-o, --output", "-q, --quiet", "--stats"}},
		{[]string{"stat"}, []string{"--json"}},
		{[]string{"ls"}, []string{"--json"}},
		{[]string{"id"}, nil},
		{[]string{"devnet", "start"}, []string{"--dir", "--miners", "--bin", "--metrics", "--capacity", "--host"}},
		{[]string{"devnet", "status"}, []string{"--dir", "--json"}},
		{[]string{"devnet", "stop"}, []string{"--dir"}},
	} {
		code, viaHelp, errOut := runCLI(t, append([]string{"help"}, tc.cmd...)...)
		if code != exitOK || errOut != "" {
			t.Fatalf("help %v: exit %d, stderr %q", tc.cmd, code, errOut)
		}
		code, viaFlag, _ := runCLI(t, append(tc.cmd, "--help")...)
		if code != exitOK {
			t.Fatalf("%v --help: exit %d", tc.cmd, code)
		}
		if viaHelp != viaFlag {
			t.Errorf("help %v and %v --help differ:\n%s\n---\n%s", tc.cmd, tc.cmd, viaHelp, viaFlag)
		}
		want := "ppstore " + strings.Join(tc.cmd, " ")
		if !strings.Contains(viaHelp, "Usage:\n  "+want) {
			t.Errorf("help %v lacks its usage line %q:\n%s", tc.cmd, want, viaHelp)
		}
		for _, f := range append(tc.flags, "--config", "-v, --verbose") {
			if !strings.Contains(viaHelp, f) {
				t.Errorf("help %v lacks flag %s:\n%s", tc.cmd, f, viaHelp)
			}
		}
	}
	// The help of one command does not list another's flags.
	if _, out, _ := runCLI(t, "help", "stat"); strings.Contains(out, "--replicas") {
		t.Errorf("help stat lists put's flags:\n%s", out)
	}
	if code, _, errOut := runCLI(t, "help", "nosuch"); code != exitUsage || !strings.Contains(errOut, "nosuch") {
		t.Errorf("help nosuch: exit %d, stderr %q; want 2 naming the topic", code, errOut)
	}
}

func TestVersion(t *testing.T) {
	code, viaCmd, _ := runCLI(t, "version")
	if code != exitOK || !strings.HasPrefix(viaCmd, "ppstore ") || strings.Count(viaCmd, "\n") != 1 {
		t.Fatalf("version: exit %d, %q", code, viaCmd)
	}
	code, viaFlag, _ := runCLI(t, "--version")
	if code != exitOK || viaFlag != viaCmd {
		t.Fatalf("--version: exit %d, %q; want %q", code, viaFlag, viaCmd)
	}
	// A version set at link time wins over the build info.
	old := version
	version = "v9.8.7"
	defer func() { version = old }()
	if _, out, _ := runCLI(t, "version"); out != "ppstore v9.8.7\n" {
		t.Fatalf("version with -X main.version: %q", out)
	}
	if code, _, _ := runCLI(t, "version", "extra"); code != exitUsage {
		t.Fatalf("version extra: exit %d, want 2", code)
	}
}

// Wrong flags and argument counts are usage errors (2); a command that runs
// and fails is an error (1).
func TestExitStatuses(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "none.toml")
	for _, tc := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{"put"}, exitUsage, "put takes one FILE"},
		{[]string{"put", "a", "b"}, exitUsage, "got 2 argument"},
		{[]string{"put", "--bogus", "x"}, exitUsage, "unknown flag: --bogus"},
		{[]string{"get"}, exitUsage, "get takes one CID"},
		{[]string{"ls", "extra"}, exitUsage, "ls takes no arguments"},
		{[]string{"put", "--replicas", "three", "x"}, exitUsage, "--replicas"},
		{[]string{"devnet", "status"}, exitUsage, "--dir is required"},
		{[]string{"devnet", "start", "--dir", "d", "--miners", "0"}, exitUsage, "--miners"},
		{[]string{"devnet", "start", "--dir", "d", "--capacity", "lots"}, exitUsage, "--capacity"},
		{[]string{"devnet"}, exitUsage, "Usage:"},
		{[]string{"ls", "--config", missing}, exitError, "no client config at " + missing},
		{[]string{"get", "--config", missing, "notacid"}, exitError, "not a ppstore file CID"},
		{[]string{"put", "--config", missing, filepath.Join(t.TempDir(), "absent")}, exitError, "absent"},
	} {
		code, out, errOut := runCLI(t, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.says) || out != "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit %d and %q", tc.args, code, out, errOut, tc.code, tc.says)
		}
	}
}

// --config is global: before or after the command, and PPSTORE_CONFIG when
// absent.
func TestConfigFlagAndEnvironment(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.toml"), filepath.Join(dir, "b.toml")
	if _, _, errOut := runCLI(t, "--config", a, "ls"); !strings.Contains(errOut, a) {
		t.Errorf("global --config not used: %q", errOut)
	}
	if _, _, errOut := runCLI(t, "ls", "--config", a); !strings.Contains(errOut, a) {
		t.Errorf("--config after the command not used: %q", errOut)
	}
	if _, _, errOut := runCLI(t, "--config", a, "ls", "--config", b); !strings.Contains(errOut, b) {
		t.Errorf("the last --config should win: %q", errOut)
	}
	t.Setenv("PPSTORE_CONFIG", b)
	if _, _, errOut := runCLI(t, "ls"); !strings.Contains(errOut, b) {
		t.Errorf("PPSTORE_CONFIG not used: %q", errOut)
	}
	if _, _, errOut := runCLI(t, "ls", "--config", a); !strings.Contains(errOut, a) {
		t.Errorf("--config should win over PPSTORE_CONFIG: %q", errOut)
	}
}

func TestCompletion(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		code, out, errOut := runCLI(t, "completion", shell)
		if code != exitOK || !strings.Contains(out, "ppstore") {
			t.Errorf("completion %s: exit %d, %d bytes, stderr %q", shell, code, len(out), errOut)
		}
	}
	// What the shell asks of the binary: the commands after "ppstore p".
	code, out, _ := runCLI(t, "__complete", "p")
	if code != exitOK || !strings.Contains(out, "put") || strings.Contains(out, "\nget") {
		t.Errorf("__complete p: exit %d, %q", code, out)
	}
	code, out, _ = runCLI(t, "__complete", "put", "--re")
	if code != exitOK || !strings.Contains(out, "--replicas") {
		t.Errorf("__complete put --re: exit %d, %q", code, out)
	}
}

// Command lines written for the earlier flag package (one dash before a long
// name) still parse.
func TestLongFlagsWithOneDash(t *testing.T) {
	root := newRootCmd()
	for _, tc := range []struct{ in, want []string }{
		{[]string{"ls", "-json"}, []string{"ls", "--json"}},
		{[]string{"-config", "c.toml", "put", "-replicas=2", "-q", "f"}, []string{"--config", "c.toml", "put", "--replicas=2", "-q", "f"}},
		{[]string{"put", "--name", "-json", "f"}, []string{"put", "--name", "-json", "f"}},  // a value, not a flag
		{[]string{"put", "-name", "-stats", "f"}, []string{"put", "--name", "-stats", "f"}}, // likewise
		{[]string{"get", "-o", "-json", "CID"}, []string{"get", "-o", "-json", "CID"}},
		{[]string{"get", "-ofile", "CID"}, []string{"get", "-ofile", "CID"}},
		{[]string{"put", "--", "-json"}, []string{"put", "--", "-json"}},
		{[]string{"put", "-"}, []string{"put", "-"}},
		{[]string{"put", "-help"}, []string{"put", "--help"}},
		{[]string{"devnet", "start", "-dir", "d", "-metrics=false"}, []string{"devnet", "start", "--dir", "d", "--metrics=false"}},
		{[]string{"put", "-unknown"}, []string{"put", "-unknown"}},
	} {
		if got := longFlagsWithOneDash(root, tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q -> %q, want %q", tc.in, got, tc.want)
		}
	}
	missing := filepath.Join(t.TempDir(), "none.toml")
	if code, _, errOut := runCLI(t, "ls", "-json", "-config", missing); code != exitError || !strings.Contains(errOut, missing) {
		t.Errorf("ls -json -config: exit %d, %q", code, errOut)
	}
}

func TestMain(m *testing.M) {
	os.Unsetenv("PPSTORE_CONFIG")
	os.Exit(m.Run())
}
