// Package daemon holds the plumbing every ppstore daemon shares: its logger,
// its Prometheus endpoint, and the node.json file through which a daemon
// tells whoever started it (the devnet, an operator, a test) that it is up and
// where; the start of its New (Prepare), its QUIC listener and published
// address (Listen), its record at the region's bootstraps (Registration), and
// the tie between its Run and its Close (Lifetime). It holds no daemon's
// logic: what a daemon serves, stores and publishes besides its role, region
// and address stays in its own package.
//
// node.json, written atomically into the data directory once the daemon
// listens and removed when it stops:
//
//	{"role": "miner", "peer": "<peer ID>", "addr": "127.0.0.1:4001", "pid": 1234, "metrics": "127.0.0.1:9101"}
package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ppstore/ppstore/wire"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"
)

// InfoFile is the name of the file a running daemon writes into its data directory.
const InfoFile = "node.json"

// Info describes a running daemon.
type Info struct {
	Role    string `json:"role"`
	Peer    string `json:"peer"`
	Addr    string `json:"addr"`
	PID     int    `json:"pid"`
	Metrics string `json:"metrics,omitempty"`
}

// WriteInfo writes dir/node.json atomically.
func WriteInfo(dir string, info Info) error {
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, InfoFile+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("daemon: write %s: %w", InfoFile, err)
	}
	return os.Rename(tmp, filepath.Join(dir, InfoFile))
}

// ReadInfo reads dir/node.json.
func ReadInfo(dir string) (Info, error) {
	var info Info
	b, err := os.ReadFile(filepath.Join(dir, InfoFile))
	if err != nil {
		return info, err
	}
	if err := json.Unmarshal(b, &info); err != nil {
		return info, fmt.Errorf("daemon: %s in %s: %w", InfoFile, dir, err)
	}
	return info, nil
}

// RemoveInfo deletes dir/node.json.
func RemoveInfo(dir string) { os.Remove(filepath.Join(dir, InfoFile)) }

// NewLogger returns a text slog logger at the named level (debug, info, warn, error).
func NewLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if level == "" {
		level = "info"
	}
	if err := l.UnmarshalText([]byte(strings.ToUpper(level))); err != nil {
		return nil, fmt.Errorf("bad log level %q: want debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

// NewRegistry returns a Prometheus registry with the Go and process collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// MetricsServer serves /metrics over HTTP.
type MetricsServer struct {
	ln  net.Listener
	srv *http.Server
}

// ListenMetrics binds addr (empty: no server, nil returned).
func ListenMetrics(addr string, reg *prometheus.Registry) (*MetricsServer, error) {
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	// Profiles for operators, on the same (operator-only) address as the metrics.
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return &MetricsServer{ln: ln, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}}, nil
}

// Addr is the bound address.
func (m *MetricsServer) Addr() string {
	if m == nil {
		return ""
	}
	return m.ln.Addr().String()
}

// Run serves until ctx is done.
func (m *MetricsServer) Run(ctx context.Context) error {
	if m == nil {
		<-ctx.Done()
		return nil
	}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		m.srv.Shutdown(sctx)
	}()
	if err := m.srv.Serve(m.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Service is what Serve runs: a daemon's Peer.
type Service interface {
	// Addr is where the daemon's QUIC listener answers.
	Addr() wire.NodeAddr
	// Run serves until ctx is done.
	Run(ctx context.Context) error
	// Close releases everything; called once after Run returns.
	Close() error
}

// Serve runs svc and its metrics server until ctx is done (or one of them
// fails), publishing node.json in dataDir while it runs.
func Serve(ctx context.Context, role, dataDir string, ms *MetricsServer, svc Service, log *slog.Logger) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	a := svc.Addr()
	if err := WriteInfo(dataDir, Info{Role: role, Peer: a.Peer.String(), Addr: a.Addr, PID: os.Getpid(), Metrics: ms.Addr()}); err != nil {
		svc.Close()
		return err
	}
	defer RemoveInfo(dataDir)
	log.Info("started", "role", role, "peer", a.Peer.String(), "addr", a.Addr, "metrics", ms.Addr(), "data_dir", dataDir)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return svc.Run(gctx) })
	g.Go(func() error { return ms.Run(gctx) })
	err := g.Wait()
	if cerr := svc.Close(); err == nil {
		err = cerr
	}
	log.Info("stopped", "role", role, "err", err)
	return err
}
