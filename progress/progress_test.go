package progress

import (
	"bytes"
	"strings"
	"testing"
)

func TestLineModeReportsTenthsAndFinish(t *testing.T) {
	var buf bytes.Buffer
	b := New(&buf, "put", 1000)
	for i := 0; i < 100; i++ {
		b.Add(10)
	}
	b.Finish()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 11 { // 0%..90% and the final 100%
		t.Fatalf("%d lines:\n%s", len(lines), buf.String())
	}
	if !strings.Contains(lines[len(lines)-1], "100%") {
		t.Fatalf("last line %q lacks 100%%", lines[len(lines)-1])
	}
}

func TestSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 3 << 30: "3.0 GiB"} {
		if got := Size(n); got != want {
			t.Errorf("Size(%d) = %q, want %q", n, got, want)
		}
	}
}
