package transport

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/ppstore/ppstore/internal/testutil"
	"github.com/ppstore/ppstore/wire"
	"github.com/quic-go/quic-go"
)

// TLS alerts (RFC 8446 §6) as QUIC carries them: CRYPTO_ERROR 0x100 + alert
// (RFC 9001 §4.8).
const (
	alertBadCertificate      = 42
	alertCertificateRequired = 116
)

// rawDial performs a QUIC handshake with the node from a bare quic-go
// transport with the given TLS config, sends one Ping request if the
// handshake lets it, and returns why the connection ended, and whether an
// answer came back. The node must refuse: the test fails if the connection
// is still open after testutil.Wait.
func rawDial(t *testing.T, n *Node, tc *tls.Config) (closeErr error, answered bool) {
	t.Helper()
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	tr := &quic.Transport{Conn: udp}
	defer tr.Close()
	ctx, cancel := context.WithTimeout(context.Background(), testutil.Wait)
	defer cancel()
	conn, err := tr.Dial(ctx, n.Addr(), tc, &quic.Config{HandshakeIdleTimeout: testutil.Wait})
	if err != nil {
		return err, false
	}
	// A TLS 1.3 client may finish its side of the handshake before the
	// server has checked its certificate: the refusal then closes the
	// connection right after. Try a request meanwhile.
	if s, err := conn.OpenStreamSync(ctx); err == nil {
		s.SetDeadline(time.Now().Add(testutil.Wait))
		if _, err := s.Write(wire.AppendFrame(nil, &wire.Ping{Nonce: 1})); err == nil {
			s.Close()
			var hd [wire.HeaderLen]byte
			if _, err := s.Read(hd[:]); err == nil {
				answered = true
			}
		}
	}
	if !testutil.Closed(conn.Context().Done(), testutil.Wait) {
		t.Fatalf("the node kept the connection open %v after the handshake", testutil.Wait)
	}
	return context.Cause(conn.Context()), answered
}

// checkAlert checks that err is the peer's TLS alert.
func checkAlert(t *testing.T, err error, alert uint8) {
	t.Helper()
	var te *quic.TransportError
	if !errors.As(err, &te) || !te.Remote || te.ErrorCode != quic.TransportErrorCode(0x100+uint64(alert)) {
		t.Fatalf("connection ended with %v, want the node's TLS alert %d", err, alert)
	}
}

// stillServes checks that the node answers a well-behaved peer and that it
// served no request to the refused ones.
func stillServes(t *testing.T, srv *Node) {
	t.Helper()
	if got := srv.Stats().Requests; got != 0 {
		t.Fatalf("the node served %d requests to refused peers", got)
	}
	cli := newNode(t, nil)
	var pong wire.Pong
	if err := cli.Call(context.Background(), srv.Self(), &wire.Ping{Nonce: 9}, &pong); err != nil || pong.Nonce != 9 {
		t.Fatalf("after the refusals the node does not serve a good peer: %v (%+v)", err, pong)
	}
}

func TestTLSRefusedWithoutClientCertificate(t *testing.T) {
	srv := newNode(t, echoHandlers())
	err, answered := rawDial(t, srv, &tls.Config{
		MinVersion: tls.VersionTLS13, InsecureSkipVerify: true, NextProtos: []string{ALPN}, ServerName: "ppstore",
	})
	if answered {
		t.Fatal("the node answered a request from a peer without a certificate")
	}
	checkAlert(t, err, alertCertificateRequired)
	stillServes(t, srv)
}

func TestTLSRefusedForNonEd25519Key(t *testing.T) {
	srv := newNode(t, echoHandlers())
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "not-a-peer"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cerr, answered := rawDial(t, srv, &tls.Config{
		MinVersion: tls.VersionTLS13, InsecureSkipVerify: true, NextProtos: []string{ALPN}, ServerName: "ppstore",
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
	})
	if answered {
		t.Fatal("the node answered a request from a peer with an ECDSA certificate")
	}
	checkAlert(t, cerr, alertBadCertificate)
	stillServes(t, srv)
}

// QUIC is TLS 1.3 only (RFC 9001 §4.2) and quic-go raises every config's
// minimum to 1.3, so no TLS 1.2 handshake can reach the node over QUIC from
// quic-go: the test checks that a dial limited to 1.2 fails, and that the
// node's own TLS config, driven by crypto/tls over a plain pipe, refuses a
// TLS 1.2 client with an alert.
func TestTLS12Refused(t *testing.T) {
	srv := newNode(t, echoHandlers())
	k := srv.cert
	err, answered := rawDial(t, srv, &tls.Config{
		MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12, InsecureSkipVerify: true,
		NextProtos: []string{ALPN}, ServerName: "ppstore", Certificates: []tls.Certificate{k},
	})
	if err == nil || answered {
		t.Fatalf("a QUIC dial limited to TLS 1.2 got through (err %v, answered %v)", err, answered)
	}

	cconn, sconn := net.Pipe()
	defer cconn.Close()
	defer sconn.Close()
	srvErr := make(chan error, 1)
	go func() {
		s := tls.Server(sconn, srv.srvTLS)
		srvErr <- s.Handshake()
		s.Close()
	}()
	c := tls.Client(cconn, &tls.Config{
		MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12, InsecureSkipVerify: true,
		NextProtos: []string{ALPN}, Certificates: []tls.Certificate{k},
	})
	cerr := c.Handshake()
	// crypto/tls reports an alert received from the peer as a net.OpError
	// whose Op is "remote error" (the alert's type is unexported).
	var oe *net.OpError
	if !errors.As(cerr, &oe) || oe.Op != "remote error" {
		t.Fatalf("TLS 1.2 client: %v, want the node's alert", cerr)
	}
	t.Logf("TLS 1.2 over QUIC: %v; over a pipe: %v", err, cerr)
	if err := testutil.RecvWithin(t, srvErr, testutil.Wait, "the node's TLS handshake to end"); err == nil {
		t.Fatal("the node's TLS config completed a TLS 1.2 handshake")
	}
	stillServes(t, srv)
}
