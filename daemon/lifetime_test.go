package daemon

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ppstore/ppstore/internal/testutil"
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

// Lifetime.Run calls run under Start's context, returns nil without calling
// it once the daemon is closed, and names the daemon in Start's other error.
func TestLifetimeRun(t *testing.T) {
	var l Lifetime
	ran := make(chan struct{}, 1)
	done := make(chan error, 1)
	go func() {
		done <- l.Run(context.Background(), "miner", func(ctx context.Context) error {
			ran <- struct{}{}
			<-ctx.Done() // a chore that runs until Close
			return nil
		})
	}()
	testutil.RecvWithin(t, ran, testutil.Wait, "run to start")
	err := l.Run(context.Background(), "miner", func(context.Context) error {
		t.Error("run called by a second Run")
		return nil
	})
	if err == nil || !strings.HasPrefix(err.Error(), "miner: ") {
		t.Fatalf("second Run: err = %v, want an error naming the miner", err)
	}
	l.Stop()
	if err := testutil.RecvWithin(t, done, testutil.Wait, "Run to return after Stop"); err != nil {
		t.Fatal(err)
	}
	l.Wait()
	if err := l.Run(context.Background(), "miner", func(context.Context) error {
		t.Error("run called after Stop")
		return nil
	}); err != nil {
		t.Fatalf("Run after Stop: err = %v, want nil (nothing to serve)", err)
	}
}
