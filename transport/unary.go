package transport

import (
	"context"
	"fmt"

	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/wire"
)

// Unary adapts a request/response function to a Handler: the function gets the
// authenticated peer and the typed request, and its answer is sent back.
func Unary[Req wire.Message](fn func(ctx context.Context, peer identity.PeerID, req Req) (wire.Message, error)) Handler {
	return func(ctx context.Context, s *Stream, m wire.Message) error {
		req, ok := m.(Req)
		if !ok {
			return wire.Errorf(wire.CodeBadRequest, "unexpected %v", m.Type())
		}
		resp, err := fn(ctx, s.Peer(), req)
		if err != nil {
			return err
		}
		if err := s.Send(resp); err != nil {
			return fmt.Errorf("reply: %w", err)
		}
		return nil
	}
}

// Ping answers wire.Ping with the given role; every daemon registers it.
func Ping(role wire.Role) Handler {
	return Unary(func(_ context.Context, _ identity.PeerID, req *wire.Ping) (wire.Message, error) {
		return &wire.Pong{Nonce: req.Nonce, Role: role}, nil
	})
}
