package daemon

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// ErrClosed is returned by Lifetime.Start once Stop has been called: the
// daemon was closed before (or while) it was run.
var ErrClosed = errors.New("daemon closed")

// Lifetime ties a daemon's Run to its Close. Run's chores (periodic work
// that writes the daemon's store) must end before Close closes that store,
// whether or not the caller cancelled Run's context first: Close calls Stop,
// which cancels Run's context and waits until Run has returned. The zero
// value is ready to use.
type Lifetime struct {
	mu      sync.Mutex
	stopped bool
	cancel  context.CancelFunc
	done    chan struct{}
}

// Start begins a Run: it returns the context Run's chores use and the
// function Run must defer, which marks Run as returned. It returns ErrClosed
// if Stop was called first, and an error if a Run is already in progress.
func (l *Lifetime) Start(ctx context.Context) (context.Context, func(), error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		return nil, nil, ErrClosed
	}
	if l.done != nil {
		select {
		case <-l.done:
		default:
			return nil, nil, errors.New("daemon: Run called twice")
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	l.cancel, l.done = cancel, done
	return ctx, func() { cancel(); close(done) }, nil
}

// Stop cancels the Run in progress, if any, and prevents new ones. Call
// Wait after closing what unblocks Run (listeners, connections).
func (l *Lifetime) Stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stopped = true
	if l.cancel != nil {
		l.cancel()
	}
}

// Wait returns once the Run in progress, if any, has returned.
func (l *Lifetime) Wait() {
	l.mu.Lock()
	done := l.done
	l.mu.Unlock()
	if done != nil {
		<-done
	}
}

// Run is a daemon Peer's Run: it calls run with the context of Start and
// marks Run as returned once run has. A daemon closed before it ran returns
// nil at once (nothing to serve); Start's other error comes back prefixed
// with role ("miner: daemon: Run called twice").
func (l *Lifetime) Run(ctx context.Context, role string, run func(context.Context) error) error {
	ctx, end, err := l.Start(ctx)
	if errors.Is(err, ErrClosed) {
		return nil // closed before it ran: nothing to serve
	} else if err != nil {
		return fmt.Errorf("%s: %w", role, err)
	}
	defer end()
	return run(ctx)
}
