package transport

import (
	"context"
	"testing"

	"github.com/ppstore/ppstore/internal/testutil"
	"github.com/ppstore/ppstore/wire"
)

// The race that bootstrap's TestWithDiscover once hid behind a retry: the
// server answers and stops reading (STOP_SENDING) as soon as it has the
// request, and that can reach the caller before the caller closes its send
// side. quic-go then refuses the close; the answer is on its way all the
// same, and Call must return it. The hook holds the caller between its send
// and its close until the STOP_SENDING has arrived, so the test takes the
// losing order every time.
func TestCallSurvivesEarlyStopSending(t *testing.T) {
	srv := newNode(t, echoHandlers())
	cli := newNode(t, nil)
	var stopped, held int
	testHookAfterSend = func(s *Stream) {
		held++
		// The send side's context ends when the peer's STOP_SENDING arrives.
		if testutil.Closed(s.s.Context().Done(), testutil.Wait) {
			stopped++
		}
	}
	t.Cleanup(func() { testHookAfterSend = nil })
	for i := range 20 {
		var pong wire.Pong
		if err := cli.Call(context.Background(), srv.Self(), &wire.Ping{Nonce: uint64(i)}, &pong); err != nil {
			t.Fatalf("call %d, STOP_SENDING before our close: %v", i, err)
		}
		if pong.Nonce != uint64(i) {
			t.Fatalf("call %d: answer to nonce %d", i, pong.Nonce)
		}
	}
	if held != 20 || stopped != 20 {
		t.Fatalf("%d of %d calls saw the server's STOP_SENDING before closing: the test did not take the racy order", stopped, held)
	}
}
