package bootstrap

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"math/big"
	"testing"
	"time"

	"github.com/ppstore/ppstore/transport"
	"github.com/ppstore/ppstore/wire"
	"github.com/quic-go/quic-go"
)

type rawCase struct {
	frame []byte
	code  wire.Code
}

func frame(version uint8, typ wire.Type, length uint32, body []byte) []byte {
	b := []byte{version, 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint16(b[1:], uint16(typ))
	binary.BigEndian.PutUint32(b[3:], length)
	return append(b, body...)
}

// rawCases are requests the typed client cannot send.
func rawCases() map[string]rawCase {
	garbage := []byte("this is not a record at all")
	return map[string]rawCase{
		"register with a garbage body": {frame(wire.Version, wire.TypeRegister, uint32(len(garbage)), garbage), wire.CodeBadRequest},
		"list with trailing bytes":     {frame(wire.Version, wire.TypeListNodes, 3, []byte{3, 0, 0}), wire.CodeBadRequest},
		"unknown message type":         {frame(wire.Version, 999, 2, []byte{1, 2}), wire.CodeBadRequest},
		"future version":               {frame(wire.Version+1, wire.TypeListNodes, 1, []byte{0}), wire.CodeVersion},
		"oversized frame":              {frame(wire.Version, wire.TypeRegister, wire.MaxFrame+1, nil), wire.CodeTooLarge},
		"truncated body":               {frame(wire.Version, wire.TypeRegister, 100, garbage), wire.CodeBadRequest},
	}
}

// rawRequest writes b on a fresh QUIC stream to addr, as a peer with its own
// key, and returns the code of the error frame that comes back (0 if the
// answer is not an error).
func rawRequest(t *testing.T, addr string, b []byte) wire.Code {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cert := rawCert(t)
	conn, err := quic.DialAddr(ctx, addr, &tls.Config{
		Certificates:       []tls.Certificate{cert},
		InsecureSkipVerify: true, // the test does not care who answers
		NextProtos:         []string{transport.ALPN},
		MinVersion:         tls.VersionTLS13,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseWithError(0, "")
	s, err := conn.OpenStreamSync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := s.Write(b); err != nil {
		t.Fatal(err)
	}
	s.Close()
	hd, body, err := wire.ReadFrame(s, nil, wire.Fixed(wire.MaxFrame))
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	if hd.Type != wire.TypeError {
		return 0
	}
	var we wire.Error
	if err := we.Decode(body); err != nil {
		t.Fatal(err)
	}
	return we.Code
}

// rawCert is a self-signed certificate of a fresh ed25519 key, as the
// transport expects from every peer.
func rawCert(t *testing.T) tls.Certificate {
	t.Helper()
	k := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: k.ID().String()},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k.Private())
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k.Private()}
}
