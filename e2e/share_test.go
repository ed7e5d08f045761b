package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ppstore/ppstore/config"
	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/miner"
	"github.com/ppstore/ppstore/sharecode"
	"github.com/ppstore/ppstore/transport"
	"github.com/ppstore/ppstore/user"
	"github.com/ppstore/ppstore/wire"
)

// clientAs opens a client with its own identity under the region's folder.
func (r *region) clientAs(name string) *user.Client {
	r.t.Helper()
	c, err := user.New(context.Background(), user.Config{
		DataDir:   filepath.Join(r.dir, "id-"+name),
		Bootstrap: []string{config.FormatPeerAddr(r.bootA)},
		Listen:    "127.0.0.1:0",
		Timeout:   user.Duration(5 * time.Second),
	}, testLogger(r.t))
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { c.Close() })
	return c
}

// keyOf loads the identity key of a client made by clientAs.
func (r *region) keyOf(name string) *identity.Key {
	r.t.Helper()
	k, err := identity.Load(filepath.Join(r.dir, "id-"+name, identity.KeyFile))
	if err != nil {
		r.t.Fatal(err)
	}
	return k
}

// refreshRevocations makes every miner pull the revocations now.
func (r *region) refreshRevocations() {
	r.t.Helper()
	for i, m := range r.miners {
		if err := m.svc.(*miner.Peer).RefreshRevocations(context.Background()); err != nil {
			r.t.Fatalf("miner %d: %v", i, err)
		}
	}
}

// secretText is a plaintext easy to look for in what miners hold.
func secretText(n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "secret line %08d of a private file\n", i)
	}
	return b.Bytes()[:n]
}

func putPrivate(t *testing.T, c *user.Client, data []byte, replicas int) cid.Cid {
	t.Helper()
	id, err := c.Put(context.Background(), bytes.NewReader(data), user.PutOptions{Name: "private.txt", Replicas: replicas, Private: true})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// getWith gets a file through what the user typed (a CID or a code).
func getWith(c *user.Client, codeOrCID string) ([]byte, error) {
	ctx := context.Background()
	id, acc, err := c.Resolve(ctx, codeOrCID)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	_, err = c.Get(ctx, id, &buf, user.GetOptions{Access: acc})
	return buf.Bytes(), err
}

// askMiner sends one GetSharedPiece with grant for piece 0 of shard 0 of
// file to every miner holding it, and returns the first answer's error.
func askMiner(t *testing.T, c *user.Client, file cid.Cid, grant []byte) error {
	t.Helper()
	st, err := c.Stat(context.Background(), file)
	if err != nil {
		t.Fatal(err)
	}
	acc := &user.Access{File: file, Grant: grant}
	if grant == nil {
		acc = nil
	}
	_, err = c.ReadHeader(context.Background(), st, acc)
	return err
}

func TestPrivateFilesAndShareCodes(t *testing.T) {
	r := newRegion(t, 4)
	r.refreshRevocations()
	alice, bob, carol := r.clientAs("alice"), r.clientAs("bob"), r.clientAs("carol")
	ctx := context.Background()

	data := secretText(700 << 10) // one default shard's worth: cut into two for privacy
	id := putPrivate(t, alice, data, 2)
	st, err := alice.Stat(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Private() || len(st.Shards) < 2 {
		t.Fatalf("private put: private %v, %d shards; want an encrypted manifest of at least 2 shards", st.Private(), len(st.Shards))
	}

	t.Run("placement never gives one miner every shard", func(t *testing.T) {
		count := map[string]int{}
		for _, s := range st.Shards {
			for _, rep := range s.Replicas {
				count[rep.Miner]++
			}
		}
		for m, n := range count {
			if n == len(st.Shards) {
				t.Fatalf("miner %s holds all %d shards of a private file", m, n)
			}
		}
	})

	t.Run("miners hold no plaintext", func(t *testing.T) {
		held := 0
		for i := range r.mcfgs {
			filepath.Walk(r.mcfgs[i].DataDir, func(p string, info os.FileInfo, err error) error {
				if err != nil || info.IsDir() || filepath.Ext(p) != ".shard" {
					return nil
				}
				b, _ := os.ReadFile(p)
				held += len(b)
				for _, needle := range [][]byte{[]byte("secret line"), data[:16], data[len(data)-16:]} {
					if bytes.Contains(b, needle) {
						t.Fatalf("miner %d holds plaintext %q in %s", i, needle, p)
					}
				}
				return nil
			})
		}
		if held < len(data) {
			t.Fatalf("miners hold %d bytes of a %d-byte file", held, len(data))
		}
	})

	t.Run("owner reads by CID", func(t *testing.T) {
		got, err := getWith(alice, id.String())
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("owner's get: %v (equal %v)", err, bytes.Equal(got, data))
		}
	})

	t.Run("another identity without a code is refused", func(t *testing.T) {
		got, err := getWith(bob, id.String())
		if !errors.Is(err, wire.ErrShareDenied) {
			t.Fatalf("bob's get by CID: err = %v, want ErrShareDenied", err)
		}
		if bytes.Contains(got, []byte("secret")) {
			t.Fatal("a refused get wrote plaintext")
		}
	})

	code, err := alice.Share(ctx, id, user.ShareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("a code lets another identity read", func(t *testing.T) {
		got, err := getWith(bob, code.String())
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("bob's get with a code: %v", err)
		}
	})

	t.Run("one character changed", func(t *testing.T) {
		s := []byte(code.String())
		s[len(s)/2] ^= 1
		if _, err := getWith(bob, string(s)); !errors.Is(err, sharecode.ErrChecksum) && !errors.Is(err, sharecode.ErrMalformed) {
			t.Fatalf("altered code: err = %v, want ErrChecksum", err)
		}
	})

	aliceKey := r.keyOf("alice")
	t.Run("expired", func(t *testing.T) {
		old, err := sharecode.New(aliceKey, id, code.Key, sharecode.Options{Expires: time.Now().Add(-time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := getWith(bob, old.String()); !errors.Is(err, wire.ErrShareExpired) {
			t.Fatalf("client: expired code: err = %v, want ErrShareExpired", err)
		}
		if err := askMiner(t, bob, id, old.Grant.Encode()); !errors.Is(err, wire.ErrShareExpired) {
			t.Fatalf("miner: expired code: err = %v, want ErrShareExpired", err)
		}
	})

	t.Run("signed by someone else", func(t *testing.T) {
		forged, err := sharecode.New(r.keyOf("carol"), id, code.Key, sharecode.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := getWith(bob, forged.String()); !errors.Is(err, wire.ErrShareForged) {
			t.Fatalf("code signed by carol for alice's file: err = %v, want ErrShareForged", err)
		}
	})

	t.Run("issued to another peer", func(t *testing.T) {
		toBob, err := alice.Share(ctx, id, user.ShareOptions{To: bob.ID()})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := getWith(carol, toBob.String()); !errors.Is(err, wire.ErrShareDenied) {
			t.Fatalf("client: carol with bob's code: err = %v, want ErrShareDenied", err)
		}
		if err := askMiner(t, carol, id, toBob.Grant.Encode()); !errors.Is(err, wire.ErrShareDenied) {
			t.Fatalf("miner: carol with bob's code: err = %v, want ErrShareDenied", err)
		}
		if got, err := getWith(bob, toBob.String()); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("bob with his code: %v", err)
		}
	})

	t.Run("code for another file", func(t *testing.T) {
		other := putPrivate(t, alice, secretText(100<<10), 2)
		var buf bytes.Buffer
		_, acc, err := bob.Resolve(ctx, code.String())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := bob.Get(ctx, other, &buf, user.GetOptions{Access: acc}); !errors.Is(err, wire.ErrShareDenied) {
			t.Fatalf("client: code for one file used on another: err = %v, want ErrShareDenied", err)
		}
		if err := askMiner(t, bob, other, acc.Grant); !errors.Is(err, wire.ErrShareDenied) {
			t.Fatalf("miner: code for one file used on another: err = %v, want ErrShareDenied", err)
		}
	})

	t.Run("revoked", func(t *testing.T) {
		if err := bob.Unshare(ctx, code.String()); !errors.Is(err, wire.ErrUnauthorized) {
			t.Fatalf("unshare by a non-owner: err = %v, want ErrUnauthorized", err)
		}
		if err := alice.Unshare(ctx, code.String()); err != nil {
			t.Fatal(err)
		}
		r.refreshRevocations()
		if _, err := getWith(bob, code.String()); !errors.Is(err, wire.ErrShareRevoked) {
			t.Fatalf("revoked code: err = %v, want ErrShareRevoked", err)
		}
		// Other codes for the file still work.
		again, err := alice.Share(ctx, id, user.ShareOptions{Expires: time.Now().Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if got, err := getWith(bob, again.String()); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("a new code after revoking another: %v", err)
		}
	})

	t.Run("wrong key in a code does not decrypt", func(t *testing.T) {
		bad := bytes.Repeat([]byte{1}, 32)
		wrong, err := sharecode.New(aliceKey, id, bad, sharecode.Options{})
		if err != nil {
			t.Fatal(err)
		}
		got, err := getWith(bob, wrong.String())
		if err == nil || bytes.Contains(got, []byte("secret")) {
			t.Fatalf("a code with another key: err = %v", err)
		}
	})
}

func TestPrivatePutNeedsDisjointMiners(t *testing.T) {
	r := newRegion(t, 3)
	c := r.clientAs("alice")
	_, err := c.Put(context.Background(), bytes.NewReader(secretText(10<<10)), user.PutOptions{Replicas: 2, Private: true})
	if err == nil || !strings.Contains(err.Error(), "needs 4 miners") {
		t.Fatalf("private put with replicas 2 on 3 miners: err = %v, want a refusal naming 4 miners", err)
	}
	// One replica per shard fits: shards 0 and 1 on two different miners.
	data := secretText(10 << 10)
	id := putPrivate(t, c, data, 1)
	if got, err := getWith(c, id.String()); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("get: %v", err)
	}
}

// TestRevocationReachesEveryMinerInTime checks the stated bound: a request
// sent more than 3×revocation_refresh after the revocation was recorded is
// refused by every miner, whether or not it could pull the revocation.
func TestRevocationReachesEveryMinerInTime(t *testing.T) {
	const refresh = 300 * time.Millisecond
	r := newRegion(t, 4)
	for i := range r.miners {
		r.miners[i].stop()
		r.mcfgs[i].RevocationRefresh = refresh
		r.startMiner(i)
	}
	r.waitReady(4)
	r.refreshRevocations()
	alice, bob := r.clientAs("alice"), r.clientAs("bob")
	ctx := context.Background()
	id := putPrivate(t, alice, secretText(200<<10), 2)
	code, err := alice.Share(ctx, id, user.ShareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := bob.Stat(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.Unshare(ctx, code.String()); err != nil {
		t.Fatal(err)
	}
	recorded := time.Now()
	bound := 3 * refresh
	grant := code.Grant.Encode()
	var slowest time.Duration
	node, err := transport.Listen(transport.Config{Key: r.keyOf("bob"), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	for _, s := range st.Shards {
		for _, rep := range s.Replicas {
			deadline := time.Now().Add(30 * time.Second)
			for {
				sent := time.Now()
				err := askRaw(t, node, r.miners[r.minerIndex(rep.Miner)].svc.Addr(), s.CID, grant)
				if errors.Is(err, wire.ErrShareRevoked) || errors.Is(err, wire.ErrUnavailable) {
					slowest = max(slowest, time.Since(recorded))
					break
				}
				if sent.Sub(recorded) > bound {
					t.Fatalf("miner %s served a revoked code %v after the revocation was recorded (bound %v): err = %v", rep.Miner, sent.Sub(recorded), bound, err)
				}
				if time.Now().After(deadline) {
					t.Fatalf("miner %s never refused the revoked code: %v", rep.Miner, err)
				}
			}
		}
	}
	t.Logf("every miner refused the revoked code within %v of its recording (bound %v)", slowest, bound)
}

// askRaw asks a miner for piece 0 of a shard with a grant and returns its refusal, if any.
func askRaw(t *testing.T, node *transport.Node, to wire.NodeAddr, shardCID string, grant []byte) error {
	t.Helper()
	sc, err := cid.Decode(shardCID)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := node.Open(ctx, to)
	if err != nil {
		return err
	}
	defer s.Close()
	if err := s.Send(&wire.GetSharedPiece{Grant: grant, GetPiece: wire.GetPiece{Shard: sc, Count: 1}}); err != nil {
		return err
	}
	var pc wire.Piece
	return s.Expect(&pc)
}
