package zkstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/rollup"
	"github.com/ppstore/ppstore/transport"
	"github.com/ppstore/ppstore/wire"
)

const testRegion = "test-region"

var testParams = rollup.Params{Depth: 8, BatchSize: 2}

// keysDir holds the circuit keys of testParams, set up once per test binary.
var keysDir string

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		helperAcceptLoop()
		return
	}
	// Circuit keys are cached across test binaries (rollup.LoadOrSetupKeys
	// renames a whole key directory into place, so concurrent setups do not
	// mix); a circuit change bumps rollup.CircuitVersion and so the path.
	keysDir = filepath.Join(os.TempDir(), "ppstore-rollup-test-keys")
	os.Exit(m.Run())
}

func testConfig(t *testing.T, dir string) Config {
	return Config{DataDir: dir, Region: testRegion, Depth: testParams.Depth, BatchSize: testParams.BatchSize,
		KeysDir: keysDir, BatchWait: time.Hour, RoundInterval: time.Hour, Faucet: 1000}
}

// fakeChain is the sidechain's contract in memory: it keeps one root per
// region and accepts a batch only from the current root with a proof that
// rollup.VerifyBatch accepts.
type fakeChain struct {
	mu      sync.Mutex
	vk      []byte
	roots   map[string][32]byte
	height  int64
	submits int
}

func (c *fakeChain) SubmitBatch(_ context.Context, region string, prev, next [32]byte, data, proof []byte) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.submits++
	if c.roots[region] != prev {
		return 0, errors.New("fake chain: wrong previous root")
	}
	if tag, err := rollup.BatchRegion(data); err != nil || tag != rollup.RegionTag(region) {
		return 0, errors.New("fake chain: batch for another region")
	}
	if err := rollup.VerifyBatch(c.vk, prev, next, data, proof); err != nil {
		return 0, err
	}
	c.height++
	c.roots[region] = next
	return c.height, nil
}

func (c *fakeChain) Root(_ context.Context, region string) ([32]byte, int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.roots[region], c.height, nil
}

// startPeer runs an operator in dir until the test ends.
func startPeer(t *testing.T, dir string) *Peer {
	t.Helper()
	p, err := New(testConfig(t, dir), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.node.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		p.Close()
	})
	return p
}

func newClient(t *testing.T) *transport.Node {
	t.Helper()
	n, err := transport.Listen(transport.Config{Key: identity.FromSeed(bytes.Repeat([]byte{3}, 32)), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func newKey(t *testing.T) *rollup.PrivateKey {
	k, err := rollup.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func submitMsg(t *testing.T, k *rollup.PrivateKey, region string, tr rollup.Transfer) *wire.SubmitTransfer {
	st, err := rollup.Sign(k, rollup.RegionTag(region), tr)
	if err != nil {
		t.Fatal(err)
	}
	return &wire.SubmitTransfer{Region: region, From: tr.From, To: tr.To, Amount: tr.Amount, Nonce: tr.Nonce, ToKey: tr.ToKey, Signature: st.Sig}
}

func call(t *testing.T, n *transport.Node, to wire.NodeAddr, req, resp wire.Message) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return n.Call(ctx, to, req, resp)
}
