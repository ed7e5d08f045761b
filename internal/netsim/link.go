package netsim

import (
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// Link is a paced UDP relay that can also be cut: after Cut
// it drops every packet both ways, as a machine that lost power would,
// without closing anything, so the peers learn of it only by their timeouts.
type Link struct {
	addr string
	cut  atomic.Bool
}

// Addr is the address to dial instead of the relayed one.
func (l *Link) Addr() string { return l.addr }

// Cut makes the link drop everything from now on.
func (l *Link) Cut() { l.cut.Store(true) }

// NewLink relays UDP between one client and the address to, pacing the
// client's uplink to up and its downlink to down bytes per second (zero:
// unpaced), until Cut.
func NewLink(t testing.TB, to string, up, down float64) *Link {
	t.Helper()
	l := &Link{}
	front, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	ta, err := net.ResolveUDPAddr("udp", to)
	if err != nil {
		t.Fatal(err)
	}
	back, err := net.DialUDP("udp", nil, ta)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { front.Close(); back.Close() })
	var client atomic.Pointer[net.UDPAddr]
	go func() {
		buf := make([]byte, 64<<10)
		var p burstPacer
		for {
			n, from, err := front.ReadFromUDP(buf)
			if err != nil {
				return
			}
			if l.cut.Load() {
				continue
			}
			client.Store(from)
			p.wait(n, up)
			back.Write(buf[:n])
		}
	}()
	go func() {
		buf := make([]byte, 64<<10)
		var p burstPacer
		for {
			n, err := back.Read(buf)
			if err != nil {
				return
			}
			if c := client.Load(); c != nil && !l.cut.Load() {
				p.wait(n, down)
				front.WriteToUDP(buf[:n], c)
			}
		}
	}()
	l.addr = front.LocalAddr().String()
	return l
}

// burstPacer spaces packets so that they leave at rate bytes per second on
// average, letting a packet go early by up to 2 ms of credit: a sleeping
// relay wakes late under load, and without the credit the lost time would
// lower the rate below the one asked for.
type burstPacer struct{ next time.Time }

func (p *burstPacer) wait(n int, rate float64) {
	if rate <= 0 {
		return
	}
	now := time.Now()
	if p.next.Before(now.Add(-2 * time.Millisecond)) {
		p.next = now.Add(-2 * time.Millisecond)
	}
	p.next = p.next.Add(time.Duration(float64(n) / rate * float64(time.Second)))
	if d := p.next.Sub(now); d > 0 {
		time.Sleep(d)
	}
}
