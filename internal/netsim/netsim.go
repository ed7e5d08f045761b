// Package netsim has network conditions for tests: links slower than
// loopback, built from plain UDP relays so that the real transport runs over
// them.
package netsim

import (
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// SlowLink relays UDP between one client and the address to, passing at
// most up bytes per second from the client (its uplink) and down bytes per
// second back to it; zero leaves a direction unpaced. Packets queue, none is
// lost. It returns the address to dial instead of to.
func SlowLink(t testing.TB, to string, up, down float64) string {
	t.Helper()
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
		var p pacer
		for {
			n, from, err := front.ReadFromUDP(buf)
			if err != nil {
				return
			}
			client.Store(from)
			p.wait(n, up)
			back.Write(buf[:n])
		}
	}()
	go func() {
		buf := make([]byte, 64<<10)
		var p pacer
		for {
			n, err := back.Read(buf)
			if err != nil {
				return
			}
			if c := client.Load(); c != nil {
				p.wait(n, down)
				front.WriteToUDP(buf[:n], c)
			}
		}
	}()
	return front.LocalAddr().String()
}

// pacer spaces packets so that they leave at rate bytes per second.
type pacer struct{ next time.Time }

func (p *pacer) wait(n int, rate float64) {
	if rate <= 0 {
		return
	}
	if now := time.Now(); p.next.Before(now) {
		p.next = now
	}
	p.next = p.next.Add(time.Duration(float64(n) / rate * float64(time.Second)))
	time.Sleep(time.Until(p.next))
}
