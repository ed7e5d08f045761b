// Command quicraw is the baseline for download benchmarks: one plain quic-go
// stream between two processes on loopback, no ppstore code in the path.
//
//	quicraw serve -addr 127.0.0.1:7999 &
//	quicraw fetch -addr 127.0.0.1:7999 -size 1GiB   # prints bytes, seconds, MB/s
package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"math/big"
	"os"
	"os/signal"
	"runtime/pprof"
	"time"

	"github.com/ppstore/ppstore/config"
	"github.com/quic-go/quic-go"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: quicraw serve|fetch -addr HOST:PORT [-size N]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:7999", "UDP address")
	size := fs.String("size", "1GiB", "bytes to fetch")
	prof := fs.String("cpuprofile", "", "write a CPU profile of serve to this file (until SIGINT)")
	fs.Parse(os.Args[2:])
	if *prof != "" {
		f, err := os.Create(*prof)
		if err == nil {
			pprof.StartCPUProfile(f)
			sig := make(chan os.Signal, 1)
			signal.Notify(sig, os.Interrupt)
			go func() { <-sig; pprof.StopCPUProfile(); os.Exit(0) }()
		}
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(*addr)
	case "fetch":
		var n config.ByteSize
		if n, err = config.ParseByteSize(*size); err == nil {
			err = fetch(*addr, int64(n))
		}
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "quicraw:", err)
		os.Exit(1)
	}
}

func cert() (tls.Certificate, error) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv}, err
}

func serve(addr string) error {
	c, err := cert()
	if err != nil {
		return err
	}
	ln, err := quic.ListenAddr(addr, &tls.Config{Certificates: []tls.Certificate{c}, NextProtos: []string{"quicraw"}}, nil)
	if err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	for {
		conn, err := ln.Accept(context.Background())
		if err != nil {
			return err
		}
		go func() {
			s, err := conn.AcceptStream(context.Background())
			if err != nil {
				return
			}
			var hdr [8]byte
			if _, err := io.ReadFull(s, hdr[:]); err != nil {
				return
			}
			left := int64(binary.BigEndian.Uint64(hdr[:]))
			for left > 0 {
				n := min(left, int64(len(buf)))
				if _, err := s.Write(buf[:n]); err != nil {
					return
				}
				left -= n
			}
			s.Close()
		}()
	}
}

func fetch(addr string, size int64) error {
	ctx := context.Background()
	conn, err := quic.DialAddr(ctx, addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"quicraw"}}, nil)
	if err != nil {
		return err
	}
	defer conn.CloseWithError(0, "")
	start := time.Now()
	s, err := conn.OpenStreamSync(ctx)
	if err != nil {
		return err
	}
	var hdr [8]byte
	binary.BigEndian.PutUint64(hdr[:], uint64(size))
	if _, err := s.Write(hdr[:]); err != nil {
		return err
	}
	s.Close()
	n, err := io.Copy(io.Discard, s)
	if err != nil {
		return err
	}
	if n != size {
		return fmt.Errorf("got %d bytes, want %d", n, size)
	}
	el := time.Since(start).Seconds()
	fmt.Printf("bytes %d seconds %.3f MBps %.1f\n", n, el, float64(n)/el/1e6)
	return nil
}
