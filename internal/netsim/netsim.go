// Package netsim has network conditions for tests: links slower than
// loopback, built from plain UDP relays so that the real transport runs over
// them.
package netsim

import "testing"

// SlowLink relays UDP between one client and the address to, passing at
// most up bytes per second from the client (its uplink) and down bytes per
// second back to it; zero leaves a direction unpaced. Packets queue, none is
// lost. It returns the address to dial instead of to. It is a Link that is
// never cut.
func SlowLink(t testing.TB, to string, up, down float64) string {
	t.Helper()
	return NewLink(t, to, up, down).Addr()
}
