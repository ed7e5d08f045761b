package main

import (
	"strings"
	"testing"
	"time"
)

// rm takes exactly one file CID: anything else is a usage error (exit 2) or
// a clear refusal before any network call.
func TestRmArguments(t *testing.T) {
	if code, _, _ := runCLIWithin(t, 10*time.Second, "rm"); code != 2 {
		t.Fatalf("rm without a CID: exit %d, want 2", code)
	}
	code, _, stderr := runCLIWithin(t, 10*time.Second, "rm", "not-a-cid")
	if code == 0 || !strings.Contains(stderr, "not-a-cid") {
		t.Fatalf("rm of a bad CID: exit %d, stderr %q; want a failure naming it", code, stderr)
	}
	if code, stdout, _ := runCLIWithin(t, 10*time.Second, "help", "rm"); code != 0 || !strings.Contains(stdout, "another owner") {
		t.Fatalf("help rm: exit %d, %q", code, stdout)
	}
}
