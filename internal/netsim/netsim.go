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
// most rate bytes per second from the client (its uplink, as a queue: no
// loss); answers pass at once. It returns the address to dial instead of to.
func SlowLink(t testing.TB, to string, rate float64) string {
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
		next := time.Now()
		for {
			n, from, err := front.ReadFromUDP(buf)
			if err != nil {
				return
			}
			client.Store(from)
			if now := time.Now(); next.Before(now) {
				next = now
			}
			next = next.Add(time.Duration(float64(n) / rate * float64(time.Second)))
			time.Sleep(time.Until(next))
			back.Write(buf[:n])
		}
	}()
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := back.Read(buf)
			if err != nil {
				return
			}
			if c := client.Load(); c != nil {
				front.WriteToUDP(buf[:n], c)
			}
		}
	}()
	return front.LocalAddr().String()
}
