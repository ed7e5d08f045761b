// Package devnet runs a whole ppstore region on one machine for trying it out:
// a bootstrap, an indexer and N miners as separate processes on loopback, with
// all data under one directory. It owns process management only (configs,
// ports, start, readiness, status, stop); the daemons are the real binaries,
// found beside the running executable or on PATH.
//
// Layout of DIR:
//
//	DIR/devnet.json          the region: every process's role, name, binary and config
//	DIR/client.toml          a ready client configuration (ppstore --config DIR/client.toml)
//	DIR/client/              the client's identity
//	DIR/<name>/<name>.toml   a daemon's config (name: bootstrap, indexer, miner-1 ...)
//	DIR/<name>/pid           its process ID while running
//	DIR/<name>/log           its log (stdout and stderr)
//	DIR/<name>/node.json     written by the daemon once it listens
//
// Ports are chosen once, when DIR is created, and kept in the configs, so that
// start on an existing DIR brings back the same region with its data.
package devnet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ppstore/ppstore/config"
	"github.com/ppstore/ppstore/daemon"
	"github.com/ppstore/ppstore/discover"
	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/transport"
	"github.com/ppstore/ppstore/wire"
)

// StateFile names the region description inside DIR.
const StateFile = "devnet.json"

// Options describes a region to create.
type Options struct {
	Dir      string
	Miners   int             // default 6
	Region   string          // default "devnet"
	Capacity config.ByteSize // per miner; default 8GiB
	BinDir   string          // where the daemons are; default: beside this executable, then PATH
	Metrics  bool            // give every daemon a metrics address
	Host     string          // address the daemons listen on; default 127.0.0.1
	Log      func(format string, args ...any)
	// NoZkStore leaves out the one-validator sidechain and the zkstore
	// operator that a region otherwise runs, funding the client and paying
	// miners (zk.go); for tests that need no payments.
	NoZkStore bool
}

// Proc is one daemon of the region.
type Proc struct {
	Role   string   `json:"role"`
	Name   string   `json:"name"`
	Bin    string   `json:"bin"` // binary name
	Args   []string `json:"args"`
	Config string   `json:"config"`
	Listen string   `json:"listen"`
}

// State is DIR/devnet.json.
type State struct {
	Region string `json:"region"`
	Procs  []Proc `json:"procs"`
}

// Status is one process as seen now.
type Status struct {
	Role    string `json:"role"`
	Name    string `json:"name"`
	Peer    string `json:"peer"`
	Addr    string `json:"addr"`
	PID     int    `json:"pid"`
	Running bool   `json:"running"`
	Metrics string `json:"metrics,omitempty"`
	Log     string `json:"log"`
	Account string `json:"account,omitempty"` // the process's zkStore account key, if it has one (zk.go)
	Health  string `json:"health,omitempty"`  // the sidechain's and zkstore's own answer (zk.go)
}

func (o *Options) defaults() {
	if o.Miners == 0 {
		o.Miners = 6
	}
	if o.Region == "" {
		o.Region = "devnet"
	}
	if o.Capacity == 0 {
		o.Capacity = 8 << 30
	}
	if o.Log == nil {
		o.Log = func(string, ...any) {}
	}
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
}

// Start creates the region in Dir if needed, starts every daemon that is not
// running, and returns when all are ready and the indexer can place shards.
func Start(ctx context.Context, o Options) (*State, error) {
	o.defaults()
	if o.Dir == "" {
		return nil, errors.New("devnet: --dir is required")
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, err
	}
	o.Dir = dir
	st, err := Load(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if st, err = create(o); err != nil {
			return nil, err
		}
		o.Log("created region %q with %d miners in %s", st.Region, o.Miners, dir)
	case err != nil:
		return nil, err
	default:
		o.Log("bringing back region %q from %s", st.Region, dir)
	}
	for _, p := range st.Procs {
		if pid, alive := running(dir, p.Name); alive {
			o.Log("%-10s already running (pid %d)", p.Name, pid)
			continue
		}
		if err := spawn(dir, o.BinDir, p, len(st.Procs)); err != nil {
			return nil, err
		}
		if p.Role == "bootstrap" {
			if _, err := waitInfo(ctx, dir, p.Name); err != nil {
				return nil, err
			}
		}
	}
	for _, p := range st.Procs {
		info, err := waitInfo(ctx, dir, p.Name)
		if err != nil {
			return nil, err
		}
		o.Log("%-10s ready  peer %s  addr %s", p.Name, info.Peer, info.Addr)
	}
	if err := waitRegion(ctx, dir, st); err != nil {
		return nil, err
	}
	if err := fundWallets(ctx, dir, st, o.Log); err != nil {
		return nil, err
	}
	return st, nil
}

// Load reads DIR/devnet.json.
func Load(dir string) (*State, error) {
	b, err := os.ReadFile(filepath.Join(dir, StateFile))
	if err != nil {
		return nil, err
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("devnet: %s: %w", filepath.Join(dir, StateFile), err)
	}
	return &st, nil
}

func freeUDPPort(host string) (int, error) {
	c, err := net.ListenPacket("udp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port, nil
}

func freeTCPAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func create(o Options) (*State, error) {
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("devnet: %w", err)
	}
	st := &State{Region: o.Region}
	addProc := func(role, name string) (*Proc, string, error) {
		port, err := freeUDPPort(o.Host)
		if err != nil {
			return nil, "", err
		}
		pdir := filepath.Join(o.Dir, name)
		if err := os.MkdirAll(pdir, 0o700); err != nil {
			return nil, "", err
		}
		p := Proc{Role: role, Name: name, Bin: role, Config: filepath.Join(pdir, name+".toml"), Listen: net.JoinHostPort(o.Host, strconv.Itoa(port))}
		if role == "miner" || role == "verifier" {
			p.Args = []string{"serve"}
		}
		p.Args = append(p.Args, "--config", p.Config)
		st.Procs = append(st.Procs, p)
		return &st.Procs[len(st.Procs)-1], pdir, nil
	}
	common := func(b *strings.Builder, pdir, listen string) error {
		fmt.Fprintf(b, "data_dir = %q\nlisten = %q\nregion = %q\nlog_level = \"info\"\n", pdir, listen, o.Region)
		if o.Metrics {
			ma, err := freeTCPAddr()
			if err != nil {
				return err
			}
			fmt.Fprintf(b, "metrics_addr = %q\n", ma)
		}
		return nil
	}

	// The bootstrap's key is made here so the others can be configured with its peer ID.
	bp, bdir, err := addProc("bootstrap", "bootstrap")
	if err != nil {
		return nil, err
	}
	bkey, err := identity.LoadOrCreate(filepath.Join(bdir, identity.KeyFile))
	if err != nil {
		return nil, err
	}
	bootAddr := config.FormatPeerAddr(wire.NodeAddr{Peer: bkey.ID(), Addr: bp.Listen})
	var b strings.Builder
	if err := common(&b, bdir, bp.Listen); err != nil {
		return nil, err
	}
	if err := os.WriteFile(bp.Config, []byte(b.String()), 0o600); err != nil {
		return nil, err
	}

	write := func(role, name, extra string) error {
		p, pdir, err := addProc(role, name)
		if err != nil {
			return err
		}
		var b strings.Builder
		if err := common(&b, pdir, p.Listen); err != nil {
			return err
		}
		fmt.Fprintf(&b, "bootstrap = [%q]\n%s", bootAddr, extra)
		return os.WriteFile(p.Config, []byte(b.String()), 0o600)
	}
	if err := write("indexer", "indexer", "refresh_interval = \"1s\"\n"); err != nil {
		return nil, err
	}
	if err := write("verifier", "verifier", devnetVerifier+devnetProofs+verifierPayment(o)); err != nil {
		return nil, err
	}
	for i := 1; i <= o.Miners; i++ {
		if err := write("miner", fmt.Sprintf("miner-%d", i), fmt.Sprintf("capacity = %q\n", o.Capacity.String())+devnetProofs); err != nil {
			return nil, err
		}
	}
	if !o.NoZkStore {
		if err := createZk(o, st, bootAddr, addProc, common); err != nil {
			return nil, err
		}
	}
	client := fmt.Sprintf("# ppstore --config %s put FILE\ndata_dir = %q\nregion = %q\nbootstrap = [%q]\n",
		filepath.Join(o.Dir, "client.toml"), filepath.Join(o.Dir, "client"), o.Region, bootAddr)
	if err := os.WriteFile(filepath.Join(o.Dir, "client.toml"), []byte(client), 0o600); err != nil {
		return nil, err
	}
	b2, _ := json.MarshalIndent(st, "", "  ")
	if err := os.WriteFile(filepath.Join(o.Dir, StateFile), append(b2, '\n'), 0o644); err != nil {
		return nil, err
	}
	return st, nil
}

// FindBinary locates a daemon binary: binDir, beside this executable, then PATH.
func FindBinary(binDir, name string) (string, error) {
	var tried []string
	if binDir != "" {
		p := filepath.Join(binDir, name)
		if isExec(p) {
			return p, nil
		}
		tried = append(tried, p)
	}
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), name)
		if isExec(p) {
			return p, nil
		}
		tried = append(tried, p)
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("devnet: cannot find the %q binary (looked at %s and on PATH); run `make build` and use bin/ppstore", name, strings.Join(tried, ", "))
}

func isExec(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// daemonEnv is the environment of a devnet daemon. Many daemons share this
// machine's cores, so each gets a share of them as GOMAXPROCS (at least 1)
// unless the caller set GOMAXPROCS: idle Go schedulers spinning in eight
// processes on two cores cost more than they give.
func daemonEnv(procs int) []string {
	env := os.Environ()
	if os.Getenv("GOMAXPROCS") != "" {
		return env
	}
	share := max(1, runtime.NumCPU()/max(1, procs))
	return append(env, "GOMAXPROCS="+strconv.Itoa(share))
}

func spawn(dir, binDir string, p Proc, procs int) error {
	bin, err := FindBinary(binDir, p.Bin)
	if err != nil {
		return err
	}
	pdir := filepath.Join(dir, p.Name)
	daemon.RemoveInfo(pdir)
	logf, err := os.OpenFile(filepath.Join(pdir, "log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("devnet: %w", err)
	}
	defer logf.Close()
	cmd := exec.Command(bin, p.Args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = daemonEnv(procs)
	cmd.Dir = pdir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // outlive this command
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("devnet: start %s: %w", p.Name, err)
	}
	pid := cmd.Process.Pid
	if err := os.WriteFile(filepath.Join(pdir, "pid"), []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
		return err
	}
	// Reap the child if it dies while we are still here, so liveness checks see it.
	go cmd.Wait()
	return nil
}

func readPID(dir, name string) int {
	b, err := os.ReadFile(filepath.Join(dir, name, "pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	// A zombie still answers kill(0); look at its state.
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err == nil {
		if i := strings.LastIndexByte(string(b), ')'); i > 0 && i+2 < len(b) && b[i+2] == 'Z' {
			return false
		}
	}
	return true
}

func running(dir, name string) (int, bool) {
	pid := readPID(dir, name)
	return pid, alive(pid)
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func waitInfo(ctx context.Context, dir, name string) (daemon.Info, error) {
	deadline := time.Now().Add(30 * time.Second)
	pdir := filepath.Join(dir, name)
	for {
		pid := readPID(dir, name)
		if info, err := daemon.ReadInfo(pdir); err == nil && info.PID == pid {
			return info, nil
		}
		if !alive(pid) {
			return daemon.Info{}, fmt.Errorf("devnet: %s exited during start; last log lines:\n%s", name, tail(filepath.Join(pdir, "log"), 15))
		}
		if time.Now().After(deadline) {
			return daemon.Info{}, fmt.Errorf("devnet: %s not ready after 30s; see %s", name, filepath.Join(pdir, "log"))
		}
		select {
		case <-ctx.Done():
			return daemon.Info{}, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// waitRegion waits until the bootstrap lists every daemon and the indexer can place a shard.
func waitRegion(ctx context.Context, dir string, st *State) error {
	key, err := identity.Generate()
	if err != nil {
		return err
	}
	node, err := transport.Listen(transport.Config{Key: key, RequestTimeout: 3 * time.Second})
	if err != nil {
		return err
	}
	defer node.Close()
	var boot, idx wire.NodeAddr
	miners := 0
	for _, p := range st.Procs {
		if p.Role == "sidechain" { // a CometBFT node, not a ppstore peer (zk.go)
			continue
		}
		info, err := daemon.ReadInfo(filepath.Join(dir, p.Name))
		if err != nil {
			return err
		}
		peer, err := identity.Parse(info.Peer)
		if err != nil {
			return err
		}
		switch p.Role {
		case "bootstrap":
			boot = wire.NodeAddr{Peer: peer, Addr: info.Addr}
		case "indexer":
			idx = wire.NodeAddr{Peer: peer, Addr: info.Addr}
		case "miner":
			miners++
		}
	}
	dc := discover.NewClient(node, []wire.NodeAddr{boot})
	deadline := time.Now().Add(30 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		recs, err := dc.List(ctx, wire.RoleMiner)
		if err == nil && len(recs) >= miners {
			err = node.Call(ctx, idx, &wire.Place{Replicas: uint8(min(miners, 3)), ShardSize: 1, Count: 1}, &wire.Placement{})
			if err == nil {
				return nil
			}
		} else if err == nil {
			err = fmt.Errorf("%d of %d miners registered", len(recs), miners)
		}
		last = err
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("devnet: region not ready after 30s: %w", last)
}

// StatusOf reports every process of the region in DIR.
func StatusOf(dir string) ([]Status, error) {
	st, err := Load(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("devnet: no region in %s (start one with: ppstore devnet start --dir %s)", dir, dir)
		}
		return nil, err
	}
	var out []Status
	for _, p := range st.Procs {
		pdir := filepath.Join(dir, p.Name)
		s := Status{Role: p.Role, Name: p.Name, Addr: p.Listen, Log: filepath.Join(pdir, "log")}
		if k, err := identity.Load(filepath.Join(pdir, identity.KeyFile)); err == nil {
			s.Peer = k.ID().String()
		}
		if pid, ok := running(dir, p.Name); ok {
			s.PID, s.Running = pid, true
			if info, err := daemon.ReadInfo(pdir); err == nil && info.PID == pid {
				s.Addr, s.Metrics = info.Addr, info.Metrics
			}
		}
		out = append(out, s)
	}
	zkStatus(dir, st, out) // zk.go
	return out, nil
}

// Stop ends every process of the region: SIGTERM, then SIGKILL after grace.
func Stop(dir string, grace time.Duration) error {
	st, err := Load(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("devnet: no region in %s", dir)
		}
		return err
	}
	var pids []int
	// Miners and indexer first, bootstrap last.
	for i := len(st.Procs) - 1; i >= 0; i-- {
		if pid, ok := running(dir, st.Procs[i].Name); ok {
			syscall.Kill(pid, syscall.SIGTERM)
			pids = append(pids, pid)
		}
	}
	deadline := time.Now().Add(grace)
	for _, pid := range pids {
		for alive(pid) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if alive(pid) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	for _, p := range st.Procs {
		os.Remove(filepath.Join(dir, p.Name, "pid"))
	}
	return nil
}
