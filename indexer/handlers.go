package indexer

import (
	"context"
	"errors"
	"time"

	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/transport"
	"github.com/ppstore/ppstore/wire"
)

// budget is the most body bytes an answer of type t may have (its frame
// limit less room for the header).
func budget(t wire.Type) int { return wire.LimitFor(t, 0) - 1024 }

func (p *Peer) handlePlace(_ context.Context, peer identity.PeerID, req *wire.Place) (wire.Message, error) {
	pl, err := p.placer.Place(req)
	if err != nil {
		p.metrics.placementFailures.WithLabelValues(wire.ToError(err).Code.String()).Inc()
		p.log.Debug("placement refused", "peer", peer.Short(), "err", err)
		return nil, err
	}
	p.metrics.placements.Inc()
	return pl, nil
}

func (p *Peer) handleCommit(_ context.Context, peer identity.PeerID, req *wire.Commit) (wire.Message, error) {
	c, err := p.commit(peer, req, time.Now())
	if err != nil {
		var we *wire.Error
		if errors.As(err, &we) {
			p.metrics.commits.WithLabelValues("rejected").Inc()
			p.log.Info("commit rejected", "owner", peer.Short(), "err", err)
		} else {
			p.metrics.commits.WithLabelValues("failed").Inc()
			p.log.Error("commit failed", "owner", peer.Short(), "err", err)
		}
		return nil, err
	}
	p.metrics.commits.WithLabelValues("ok").Inc()
	p.log.Info("committed", "file", c.String(), "owner", peer.Short(), "name", req.Name, "shards", len(req.Receipts))
	return &wire.Committed{CID: c}, nil
}

// answerDeadline is how long the indexer gives the answer to a commit once
// it is ready.
const answerDeadline = 10 * time.Second

// serveCommit is handleCommit with the stream's deadline re-armed once the
// answer is ready: checking the signatures of a large commit is CPU work
// that may outlast the request deadline on a busy machine, and the client
// waiting for it is not silent; losing the answer then would make it put
// the whole file again.
func (p *Peer) serveCommit(ctx context.Context, s *transport.Stream, m wire.Message) error {
	req, ok := m.(*wire.Commit)
	if !ok {
		return wire.Errorf(wire.CodeBadRequest, "unexpected %v", m.Type())
	}
	res, err := p.handleCommit(ctx, s.Peer(), req)
	s.SetDeadline(time.Now().Add(answerDeadline)) // also for an error's answer
	if err != nil {
		return err
	}
	return s.Send(res)
}

func (p *Peer) handleLocate(_ context.Context, _ identity.PeerID, req *wire.Locate) (wire.Message, error) {
	start := time.Now()
	loc, err := p.store.Locate(req.CID)
	p.metrics.locateSeconds.Observe(time.Since(start).Seconds())
	if err == nil && locationSize(loc) > budget(wire.TypeLocation) {
		err = wire.Errorf(wire.CodeTooLarge, "the location of %s does not fit in one message", req.CID)
	}
	switch {
	case err == nil:
		p.metrics.locates.WithLabelValues("ok").Inc()
		return loc, nil
	case errors.Is(err, wire.ErrNotFound):
		p.metrics.locates.WithLabelValues("not_found").Inc()
	case errors.As(err, new(*wire.Error)):
		p.metrics.locates.WithLabelValues("rejected").Inc()
	default:
		p.metrics.locates.WithLabelValues("failed").Inc()
		p.log.Error("locate failed", "file", req.CID.String(), "err", err)
	}
	return nil, err
}

func (p *Peer) handleListFiles(_ context.Context, peer identity.PeerID, _ *wire.ListFiles) (wire.Message, error) {
	files, err := p.store.ListFiles(peer, 0)
	if err != nil {
		p.log.Error("list files failed", "owner", peer.Short(), "err", err)
		return nil, err
	}
	// Newest first: keep as many as fit in one frame.
	size := 4
	for i, f := range files {
		size += 4 + f.CID.ByteLen() + 4 + len(f.Name) + 16
		if size > budget(wire.TypeFileList) {
			p.log.Warn("file list truncated to fit one message", "owner", peer.Short(), "files", len(files), "sent", i)
			files = files[:i]
			break
		}
	}
	return &wire.FileList{Files: files}, nil
}

// placementSize is the encoded size of a Placement.
func placementSize(pl *wire.Placement) int {
	n := 4
	for _, c := range pl.Chains {
		n += 4
		for _, a := range c {
			n += 8 + len(a.Peer.Bytes()) + len(a.Addr)
		}
	}
	return n
}

// locationSize is the encoded size of a Location.
func locationSize(loc *wire.Location) int {
	n := 4 + len(loc.Manifest) + 4
	for _, rs := range loc.Shards {
		n += 4
		for _, r := range rs {
			n += 9 + len(r.Peer.Bytes()) + len(r.Addr)
		}
	}
	return n
}
