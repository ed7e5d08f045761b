// Package testutil holds the waiting helpers every test in the tree uses, so
// that no test orders goroutines with time.Sleep and no wait can hang a run:
// RecvWithin receives from a channel or fails the test after a timeout, and
// Until polls a condition until it holds or fails the test at a deadline.
// It is imported only by _test.go files; it owns nothing else.
package testutil

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// Wait is the default timeout of a wait in a test: long enough for a loaded
// 2-core CI machine running the race detector, short enough that a hung test
// fails well inside the suite's 20-minute limit.
const Wait = 20 * time.Second

// RecvWithin returns the next value received from ch, failing the test
// (t.Fatalf, so call it from the test's goroutine) if none arrives within d
// or if ch is closed. what names the awaited event in the failure message.
func RecvWithin[T any](t testing.TB, ch <-chan T, d time.Duration, what string) T {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case v, ok := <-ch:
		if !ok {
			t.Fatalf("waiting for %s: channel closed", what)
		}
		return v
	case <-timer.C:
		t.Fatalf("waiting for %s: nothing within %v", what, d)
	}
	panic("unreachable")
}

// Within returns the next value received from ch and true, or the zero
// value and false if none arrives within d or ch is closed. Unlike
// RecvWithin it may be called from any goroutine (the caller reports the
// failure with t.Errorf).
func Within[T any](ch <-chan T, d time.Duration) (T, bool) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case v, ok := <-ch:
		return v, ok
	case <-timer.C:
		var zero T
		return zero, false
	}
}

// Closed reports whether ch is closed within d (it receives and discards any
// values sent before), for waits run off the test goroutine where t.Fatal may
// not be called.
func Closed[T any](ch <-chan T, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return true
			}
		case <-timer.C:
			return false
		}
	}
}

// Until polls cond every few milliseconds until it returns true, failing the
// test if it has not within d. what names the condition in the failure message.
func Until(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	if err := Poll(d, cond); err != nil {
		t.Fatalf("waiting until %s: %v", what, err)
	}
}

// Poll polls cond until it returns true or d has passed; it returns an error
// in the second case. It may be called from any goroutine.
func Poll(d time.Duration, cond func() bool) error {
	deadline := time.Now().Add(d)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not true within %v", d)
		}
		<-tick.C
	}
	return nil
}

// SlowLink waits d, or until ctx ends (returning its error). Tests that
// simulate a slow link call it between two steps of a transfer: the pace is
// the behaviour under test there, not an ordering of goroutines, and each
// such gap stays a small fraction of the timeout it exercises.
func SlowLink(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
