package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ppstore/ppstore/daemon"
	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/internal/testutil"
	"github.com/ppstore/ppstore/transport"
	"github.com/ppstore/ppstore/wire"
)

// A real daemon process (the bootstrap binary) with metrics_addr on a free
// loopback port: its /metrics answers over HTTP in the Prometheus text format,
// and the counters it names move with what the daemon does.
func TestDaemonMetricsOverHTTP(t *testing.T) {
	const region = "metrics-test"
	dir := t.TempDir()
	var stderr bytes.Buffer
	cmd := exec.Command(filepath.Join(binDir, "bootstrap"), "--data-dir", dir, "--listen", "127.0.0.1:0",
		"--metrics", "127.0.0.1:0", "--region", region)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		if _, ok := testutil.Within(exited, testutil.Wait); !ok {
			cmd.Process.Kill()
			t.Errorf("the bootstrap did not stop within %v of SIGTERM", testutil.Wait)
		}
	})

	// node.json appears once the daemon listens; it names both addresses.
	var info daemon.Info
	testutil.Until(t, testutil.Wait, "the bootstrap has written node.json", func() bool {
		select {
		case err := <-exited:
			t.Fatalf("the bootstrap exited: %v\n%s", err, stderr.String())
		default:
		}
		var err error
		info, err = daemon.ReadInfo(dir)
		return err == nil
	})
	if info.Metrics == "" || strings.HasSuffix(info.Metrics, ":0") {
		t.Fatalf("node.json names no bound metrics address: %+v", info)
	}
	bs, err := identity.Parse(info.Peer)
	if err != nil {
		t.Fatal(err)
	}
	at := wire.NodeAddr{Peer: bs, Addr: info.Addr}

	const (
		registered = `ppstore_bootstrap_registrations_total{role="miner"}`
		refused    = `ppstore_bootstrap_rejections_total{reason="region",source="register"}`
	)
	before := scrape(t, info.Metrics)
	if _, ok := before["go_goroutines"]; !ok {
		t.Fatalf("/metrics lacks the Go collector's go_goroutines")
	}

	key, _ := identity.Generate()
	node, err := transport.Listen(transport.Config{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	ctx, cancel := context.WithTimeout(context.Background(), testutil.Wait)
	defer cancel()
	rec := func(region string, seq uint64) *wire.Register {
		r := wire.NodeRecord{Role: wire.RoleMiner, Region: region, Addrs: []string{"127.0.0.1:4100"}, Seq: seq,
			Expires: uint64(time.Now().Add(time.Minute).Unix()), Free: 1 << 20, Capacity: 1 << 30}
		r.Sign(key)
		return &wire.Register{Record: r}
	}
	if err := node.Call(ctx, at, rec(region, 1), &wire.Registered{}); err != nil {
		t.Fatalf("register: %v", err)
	}
	if err := node.Call(ctx, at, rec("elsewhere", 2), &wire.Registered{}); !errors.Is(err, wire.ErrBadRequest) {
		t.Fatalf("register for another region: %v, want ErrBadRequest", err)
	}

	after := scrape(t, info.Metrics)
	if got, want := after[registered], before[registered]+1; got != want {
		t.Fatalf("%s = %v after one registration, want %v", registered, got, want)
	}
	if got, want := after[refused], before[refused]+1; got != want {
		t.Fatalf("%s = %v after one refusal, want %v", refused, got, want)
	}
}

// scrape GETs http://addr/metrics and returns its samples by series (name
// and labels as the text format writes them). Series not yet written read as 0.
func scrape(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	client := &http.Client{Timeout: testutil.Wait}
	resp, err := client.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /metrics: %s\n%s", resp.Status, b)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("GET /metrics: Content-Type %q, want the text format", ct)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			t.Fatalf("/metrics: malformed line %q", line)
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("/metrics: malformed value in %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("reading /metrics: %v", err)
	}
	return out
}
