package user_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"testing"
	"time"

	"github.com/ppstore/ppstore/internal/netsim"
	"github.com/ppstore/ppstore/user"
)

// playback is what a player saw reading a stream at a video's bit rate.
type playback struct {
	firstByte time.Duration // from opening the range to its first byte
	stalls    int           // reads after the first second waiting longer than a piece plays
	stalled   time.Duration // their total wait
	longest   time.Duration // the longest read wait after the first second
	hedged    int
	dropped   int
}

func (p playback) String() string {
	return fmt.Sprintf("first byte %v, %d stalls (%v in all), longest wait %v, %d hedges, %d miners dropped",
		p.firstByte.Round(time.Millisecond), p.stalls, p.stalled.Round(time.Millisecond), p.longest.Round(time.Millisecond), p.hedged, p.dropped)
}

// playOver streams an 8 Mbit/s video of size bytes from four miners (each
// shard on three), their links to the client paced by netsim: three at
// 24 Mbit/s and one at a quarter of that; 8 s into playback the link of one
// fast miner is cut (as if its machine were killed). The player reads a
// piece's worth every time the previous one has played.
var cutAfter = 8 * time.Second

func playOver(t *testing.T, policy user.Policy, size int) playback {
	const (
		fast    = 3e6 // bytes per second
		bitrate = 1e6 // 8 Mbit/s
		piece   = 256 << 10
	)
	r := newStreamRegion(t, size, 3)
	var links []*netsim.Link
	for i, down := range []float64{fast, fast, fast, fast / 4} {
		n := r.addMiner(t, nil)
		l := netsim.NewLink(t, n.Self().Addr, 0, down)
		links = append(links, l)
		r.relink(i, l.Addr())
	}
	s := r.open(t, r.client(t, nil), user.StreamOptions{Policy: policy})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	rr := s.Range(ctx, 0, int64(size))
	defer rr.Close()
	playTime := time.Duration(float64(piece) / bitrate * float64(time.Second))
	buf := make([]byte, piece)
	var pb playback
	var playStart, due time.Time
	cut := false
	for read := 0; read < size; {
		if !due.IsZero() {
			time.Sleep(time.Until(due)) // the player's pace
		}
		if !cut && !playStart.IsZero() && time.Since(playStart) > cutAfter {
			links[1].Cut()
			cut = true
		}
		t0 := time.Now()
		n, err := io.ReadFull(rr, buf[:min(piece, size-read)])
		if err != nil {
			t.Fatalf("%v: after %d bytes: %v", policy, read, err)
		}
		now := time.Now()
		wait := now.Sub(t0)
		if playStart.IsZero() {
			playStart, pb.firstByte = now, now.Sub(start)
		} else if t0.Sub(playStart) > time.Second {
			if wait > playTime {
				pb.stalls++
				pb.stalled += wait
			}
			pb.longest = max(pb.longest, wait)
		}
		read += n
		due = now.Add(playTime)
	}
	st := s.Stats()
	pb.hedged, pb.dropped = st.Hedged, len(st.DroppedMiners)
	return pb
}

// TestStreamStallsBench is the streaming target: no stall after the first
// second with urgency-first, and the same run with rarest-first beside it.
// It takes about a minute: PPSTORE_BENCH=1 go test -run StreamStallsBench -v ./user/
func TestStreamStallsBench(t *testing.T) {
	if os.Getenv("PPSTORE_BENCH") == "" {
		t.Skip("a benchmark of about a minute; set PPSTORE_BENCH=1")
	}
	const size = 24 << 20 // 25 s at 8 Mbit/s
	u := playOver(t, user.UrgencyFirst, size)
	t.Logf("urgency-first: %v", u)
	r := playOver(t, user.RarestFirst, size)
	t.Logf("rarest-first:  %v", r)
	if u.stalls != 0 {
		t.Errorf("urgency-first stalled %d times after the first second", u.stalls)
	}
}
