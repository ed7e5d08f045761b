package rollup

import (
	"bytes"
	"crypto/rand"
	"testing"

	"github.com/consensys/gnark-crypto/ecc"
	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
	"github.com/consensys/gnark/frontend"
	"github.com/consensys/gnark/test"
)

// hashCircuit computes the circuit's C, C4 and H8 (of every length) on In
// and asserts they equal the native values in Want.
type hashCircuit struct {
	In   [7]frontend.Variable
	Want [10]frontend.Variable
}

func (c *hashCircuit) Define(api frontend.API) error {
	g, err := newGadgets(api)
	if err != nil {
		return err
	}
	api.AssertIsEqual(g.c2(c.In[0], c.In[1]), c.Want[0])
	api.AssertIsEqual(g.c4(c.In[0], c.In[1], c.In[2], c.In[3]), c.Want[1])
	for n := 0; n <= maxHash8; n++ {
		api.AssertIsEqual(g.h8(c.In[:n]...), c.Want[2+n])
	}
	return nil
}

// The native hashes the tree and the signatures use are the circuit's.
func TestNativeHashesMatchTheCircuit(t *testing.T) {
	var in [7]fr.Element
	for i := range in {
		in[i].SetRandom()
	}
	var a hashCircuit
	for i := range in {
		a.In[i] = in[i]
	}
	a.Want[0] = compress(in[0], in[1])
	a.Want[1] = compress4([4]fr.Element(in[:4]))
	for n := 0; n <= maxHash8; n++ {
		a.Want[2+n] = hash8(in[:n])
	}
	if err := test.IsSolved(&hashCircuit{}, &a, ecc.BN254.ScalarField()); err != nil {
		t.Fatalf("native and in-circuit hashes differ: %v", err)
	}
	// And they are not constant: a changed input changes the circuit's answer.
	a.In[3] = 12345
	if err := test.IsSolved(&hashCircuit{}, &a, ecc.BN254.ScalarField()); err == nil {
		t.Fatal("the hash circuit accepted values for other inputs")
	}
}

// H8 separates lengths: a message padded with a zero is another message.
func TestHash8SeparatesLengths(t *testing.T) {
	var x fr.Element
	x.SetUint64(7)
	if hash8([]fr.Element{x}) == hash8([]fr.Element{x, {}}) {
		t.Fatal("H8(x) = H8(x, 0)")
	}
	if hash8(nil) == hash8([]fr.Element{{}}) {
		t.Fatal("H8() = H8(0)")
	}
}

// The signature hasher takes only whole canonical elements, seven at most:
// anything else is an error, not a silently different hash.
func TestSigHasherRefusesBadInput(t *testing.T) {
	h := &sigHasher{}
	if _, err := h.Write(make([]byte, 31)); err == nil {
		t.Error("31 bytes accepted")
	}
	if _, err := h.Write(bytes.Repeat([]byte{0xff}, 32)); err == nil {
		t.Error("a non-canonical element accepted")
	}
	h.Reset()
	if _, err := h.Write(make([]byte, 7*32)); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Write(make([]byte, 32)); err == nil {
		t.Error("an eighth element accepted")
	}
	// Signing and verifying go through it.
	k, _ := GenerateKey(rand.Reader)
	sig, err := k.SignDigest([32]byte{1})
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Public().VerifyDigest([32]byte{1}, sig); err != nil {
		t.Fatal(err)
	}
	if err := k.Public().VerifyDigest([32]byte{2}, sig); err == nil {
		t.Fatal("a signature verified for another digest")
	}
}
