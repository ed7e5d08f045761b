package progress

import (
	"bytes"
	"strings"
	"sync"
	"testing"
)

func TestLineModeReportsTenthsAndFinish(t *testing.T) {
	var buf bytes.Buffer
	b := newBar(&buf, "put", 1000, false)
	for i := 0; i < 100; i++ {
		b.Add(10)
	}
	b.Finish()
	b.Finish() // a second Finish draws nothing more
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 11 { // 0%..90% and the final 100%
		t.Fatalf("%d lines:\n%s", len(lines), buf.String())
	}
	for i, l := range lines {
		if strings.ContainsAny(l, "\r\x1b") {
			t.Errorf("line %d holds terminal control characters: %q", i, l)
		}
		if !strings.HasPrefix(l, "put ") {
			t.Errorf("line %d lacks the label: %q", i, l)
		}
	}
	if !strings.Contains(lines[5], "50%") {
		t.Errorf("sixth line %q is not at 50%%", lines[5])
	}
	if last := lines[len(lines)-1]; !strings.Contains(last, "100%") || !strings.Contains(last, "1000 B") && !strings.Contains(last, "1000/1000 B") {
		t.Fatalf("last line %q lacks 100%% and the byte count", last)
	}
}

// Bytes reported from many goroutines at once (a put's parallel uploads) are
// all counted, and the tenths still come out once each.
func TestLineModeConcurrentAdds(t *testing.T) {
	var buf bytes.Buffer
	b := newBar(&buf, "get", 8000, false)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				b.Add(10)
			}
		}()
	}
	wg.Wait()
	b.Finish()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 11 {
		t.Fatalf("%d lines:\n%s", len(lines), buf.String())
	}
}

// An unknown total (stdin) prints one line at the end, with the bytes done.
func TestLineModeUnknownTotal(t *testing.T) {
	var buf bytes.Buffer
	b := newBar(&buf, "put", -1, false)
	for i := 0; i < 50; i++ {
		b.Add(1 << 20)
	}
	b.Finish()
	out := strings.TrimSpace(buf.String())
	if strings.Count(out, "\n") != 0 || !strings.Contains(out, "50 MiB") || !strings.HasPrefix(out, "put") {
		t.Fatalf("output %q, want one line with 50 MiB", out)
	}
}

// On a terminal the bar redraws in place (carriage returns) and Finish ends
// the line; a bar closed before Finish (an error) also ends its line.
func TestTerminalMode(t *testing.T) {
	var buf bytes.Buffer
	b := newBar(&buf, "put", 1000, true)
	b.Add(500)
	b.Add(500)
	b.Finish()
	b.Close()
	out := buf.String()
	if !strings.Contains(out, "\r") || !strings.Contains(out, "100%") || !strings.HasSuffix(out, "\n") || strings.Count(out, "\n") != 1 {
		t.Fatalf("terminal output %q", out)
	}

	buf.Reset()
	b = newBar(&buf, "get", 1000, true)
	b.Add(300)
	b.Close()
	b.Finish()
	out = buf.String()
	if !strings.HasSuffix(out, "\n") || strings.Count(out, "\n") != 1 || strings.Contains(out, "100%") {
		t.Fatalf("closed bar wrote %q, want its last state and one newline", out)
	}
}

func TestDiscardDrawsNothing(t *testing.T) {
	b := Discard()
	b.Add(10)
	b.SetTotal(100)
	b.Finish()
	b.Close()
}

func TestSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 3 << 30: "3.0 GiB"} {
		if got := Size(n); got != want {
			t.Errorf("Size(%d) = %q, want %q", n, got, want)
		}
	}
}
