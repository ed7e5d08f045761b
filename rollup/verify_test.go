package rollup

import (
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

var (
	smallKeysOnce sync.Once
	smallKeys     *Keys
	smallKeysErr  error
	smallKeysDir  string
)

// keysForTest sets up Groth16 keys for depth testDepth and batches of 2 once
// per test binary (a few seconds).
func keysForTest(t *testing.T) *Keys {
	t.Helper()
	smallKeysOnce.Do(func() {
		// Shared with other test binaries (see LoadOrSetupKeys).
		smallKeysDir = filepath.Join(os.TempDir(), "ppstore-rollup-test-keys")
		smallKeys, smallKeysErr = LoadOrSetupKeys(smallKeysDir, Params{Depth: testDepth, BatchSize: 2})
	})
	if smallKeysErr != nil {
		t.Fatal(smallKeysErr)
	}
	return smallKeys
}

func TestProveAndVerifyBatch(t *testing.T) {
	k := keysForTest(t)
	f := newFixture(t, []string{"op", "alice"}, []uint64{1000, 100})
	prev := f.root()
	ws := []TxWitness{f.apply(f.transfer("alice", "bob", 40, 0)), f.apply(f.transfer("op", "alice", 7, 0))}
	next := f.root()
	txData, proof, err := k.Prove(testRegion, ws)
	if err != nil {
		t.Fatal(err)
	}
	vk := k.VerifyingKey()
	if err := VerifyBatch(vk, prev, next, txData, proof); err != nil {
		t.Fatalf("valid batch refused: %v", err)
	}
	if tag, err := BatchRegion(txData); err != nil || tag != testRegion {
		t.Fatalf("batch region: %v", err)
	}

	// Keys come back from the cache with the same verifying key.
	k2, err := LoadOrSetupKeys(smallKeysDir, k.Params)
	if err != nil {
		t.Fatal(err)
	}
	if string(k2.VerifyingKey()) != string(vk) {
		t.Fatal("cached verifying key differs")
	}

	tampered := append([]byte(nil), txData...)
	tampered[len(tampered)-TransferSize+12]++ // an amount
	badProof := append([]byte(nil), proof...)
	badProof[len(badProof)/2] ^= 1
	var big [32]byte
	for i := range big {
		big[i] = 0xff
	}
	// A valid proof of another batch.
	g := newFixture(t, []string{"op", "alice"}, []uint64{1000, 100})
	gprev := g.root()
	gws := []TxWitness{g.apply(g.transfer("alice", "op", 1, 0)), g.apply(g.transfer("alice", "op", 2, 1))}
	gData, gProof, err := k.Prove(testRegion, gws)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyBatch(vk, gprev, g.root(), gData, gProof); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name        string
		vk          []byte
		prev, next  [32]byte
		data, proof []byte
		want        error
	}{
		{"wrong previous root", vk, next, next, txData, proof, ErrBadProof},
		{"wrong new root", vk, prev, prev, txData, proof, ErrBadProof},
		{"tampered batch data", vk, prev, next, tampered, proof, ErrBadProof},
		{"flipped proof bit", vk, prev, next, txData, badProof, nil},
		{"proof of another batch", vk, prev, next, txData, gProof, ErrBadProof},
		{"another batch's proof for its data", vk, prev, next, gData, gProof, ErrBadProof},
		{"root above the modulus", vk, big, next, txData, proof, ErrMalformed},
		{"truncated proof", vk, prev, next, txData, proof[:len(proof)-1], ErrMalformed},
		{"trailing proof bytes", vk, prev, next, txData, append(append([]byte(nil), proof...), 0), ErrMalformed},
		{"empty key", nil, prev, next, txData, proof, ErrMalformed},
		{"short batch data", vk, prev, next, txData[:10], proof, ErrMalformed},
	}
	for _, tc := range cases {
		err := VerifyBatch(tc.vk, tc.prev, tc.next, tc.data, tc.proof)
		if tc.want == nil {
			// A flipped bit makes a point off the curve (malformed) or
			// another point (bad proof): either way, refused.
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrBadProof) {
				t.Errorf("%s: got %v", tc.name, err)
			}
			continue
		}
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}

	// Witnesses that do not chain are refused before proving.
	if _, _, err := k.Prove(testRegion, []TxWitness{ws[1], ws[0]}); !errors.Is(err, ErrBadWitness) {
		t.Fatalf("unchained witnesses: %v", err)
	}
}

func FuzzDecodeBatch(f *testing.F) {
	k := BatchData{Depth: 8, RegionTag: testRegion, Transfers: []Transfer{{From: 1, To: 2, Amount: 3, Nonce: 4}}}
	f.Add(k.Encode())
	f.Add([]byte{1, 8})
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := DecodeBatch(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error without identity: %v", err)
			}
			return
		}
		if string(d.Encode()) != string(b) {
			t.Fatal("decode → encode changed the bytes")
		}
	})
}

func FuzzVerifyBatch(f *testing.F) {
	f.Add([]byte{}, []byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, vk, proof []byte) {
		d := BatchData{Depth: 8, RegionTag: testRegion}
		if err := VerifyBatch(vk, [32]byte{}, [32]byte{}, d.Encode(), proof); err == nil {
			t.Fatal("random bytes verified")
		}
	})
}

// The commitment binds the batch data's header: the same transfers read at
// another depth commit to another value.
func TestCommitmentBindsTheDepth(t *testing.T) {
	k, _ := GenerateKey(rand.Reader)
	d8 := BatchData{Depth: 8, RegionTag: testRegion, Transfers: []Transfer{{From: 1, To: 2, Amount: 3, Nonce: 4, ToKey: k.Public()}}}
	d32 := d8
	d32.Depth = 32
	c8, err := d8.Commitment()
	if err != nil {
		t.Fatal(err)
	}
	c32, err := d32.Commitment()
	if err != nil {
		t.Fatal(err)
	}
	if c8 == c32 {
		t.Fatal("batch data at depth 8 and 32 have one commitment")
	}
}
