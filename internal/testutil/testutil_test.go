package testutil

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeTB records a Fatalf and ends its goroutine, as testing.T does.
type fakeTB struct {
	testing.TB
	mu  sync.Mutex
	msg string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.msg = format
	f.mu.Unlock()
	runtime.Goexit()
}

// run calls fn with a fakeTB on its own goroutine and returns the format
// of the Fatalf it made ("" if none).
func run(fn func(tb testing.TB)) string {
	f := &fakeTB{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	if !Closed(done, Wait) {
		return "run: fn neither returned nor failed"
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.msg
}

func TestRecvWithin(t *testing.T) {
	ch := make(chan int, 1)
	ch <- 7
	if got := RecvWithin(t, ch, time.Second, "a value"); got != 7 {
		t.Fatalf("got %d", got)
	}
	if msg := run(func(tb testing.TB) { RecvWithin(tb, make(chan int), 20*time.Millisecond, "nothing") }); !strings.Contains(msg, "nothing within") {
		t.Fatalf("an empty channel: Fatalf %q, want a timeout", msg)
	}
	closed := make(chan int)
	close(closed)
	if msg := run(func(tb testing.TB) { RecvWithin(tb, closed, time.Second, "a value") }); !strings.Contains(msg, "closed") {
		t.Fatalf("a closed channel: Fatalf %q, want a closed-channel failure", msg)
	}
}

func TestWithinClosedUntil(t *testing.T) {
	if _, ok := Within(make(chan int), 10*time.Millisecond); ok {
		t.Fatal("Within returned a value from an empty channel")
	}
	done := make(chan struct{})
	if Closed(done, 10*time.Millisecond) {
		t.Fatal("Closed reported an open channel closed")
	}
	close(done)
	if !Closed(done, time.Second) {
		t.Fatal("Closed missed a closed channel")
	}
	n := 0
	Until(t, time.Second, "n reaches 3", func() bool { n++; return n >= 3 })
	if msg := run(func(tb testing.TB) { Until(tb, 20*time.Millisecond, "never", func() bool { return false }) }); !strings.Contains(msg, "waiting until") {
		t.Fatalf("a condition that never holds: Fatalf %q", msg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := SlowLink(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("SlowLink on a cancelled context: %v", err)
	}
}
