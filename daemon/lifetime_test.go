package daemon

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestLifetimeStopWaitsForRun(t *testing.T) {
	var l Lifetime
	started, returned := make(chan struct{}), make(chan struct{})
	go func() {
		ctx, end, err := l.Start(context.Background())
		if err != nil {
			t.Error(err)
			close(started)
			return
		}
		defer close(returned)
		defer end()
		close(started)
		<-ctx.Done() // a chore that runs until cancelled
	}()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not start")
	}
	l.Stop()
	waited := make(chan struct{})
	go func() { l.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not return after Stop")
	}
	select {
	case <-returned:
	default:
		t.Fatal("Wait returned before Run did")
	}
	if _, _, err := l.Start(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Start after Stop: err = %v, want ErrClosed", err)
	}
}

func TestLifetimeWithoutRun(t *testing.T) {
	var l Lifetime
	l.Stop()
	l.Wait() // returns at once: nothing ran
	if _, _, err := l.Start(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Start after Stop: err = %v, want ErrClosed", err)
	}
}

func TestLifetimeRunTwice(t *testing.T) {
	var l Lifetime
	_, end, err := l.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.Start(context.Background()); err == nil {
		t.Fatal("a second Run while the first runs was accepted")
	}
	end()
	_, end, err = l.Start(context.Background())
	if err != nil {
		t.Fatalf("Run after the first returned: %v", err)
	}
	end()
}
