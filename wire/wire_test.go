package wire

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
	"github.com/ppstore/ppstore/identity"
)

func testCID(t testing.TB, s string) cid.Cid {
	h, err := mh.Sum([]byte(s), mh.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	return cid.NewCidV1(cid.Raw, h)
}

func samples(t testing.TB) []Message {
	k := identity.FromSeed(bytes.Repeat([]byte{7}, 32))
	k2 := identity.FromSeed(bytes.Repeat([]byte{9}, 32))
	rec := NodeRecord{Role: RoleMiner, Region: "devnet", Addrs: []string{"127.0.0.1:4001"}, Free: 1 << 30, Capacity: 2 << 30, Seq: 3, Expires: 1 << 40}
	rec.Sign(k)
	rcpt := Receipt{Shard: testCID(t, "s"), Size: 4 << 20, Owner: k2.ID(), Stored: 12345}
	rcpt.Sign(k)
	addr := NodeAddr{Peer: k.ID(), Addr: "127.0.0.1:1"}
	return []Message{
		&Error{Code: CodeNotFound, Message: "no such file"},
		&Ping{Nonce: 42}, &Pong{Nonce: 42, Role: RoleIndexer},
		&Register{Record: rec}, &Registered{Expires: 99}, &ListNodes{Role: RoleMiner},
		&NodeList{Records: []NodeRecord{rec, rec}},
		&Place{Replicas: 3, ShardSize: 4 << 20, Count: 2, Exclude: []identity.PeerID{k.ID()}},
		&Placement{Chains: [][]NodeAddr{{addr, addr}, {addr}}},
		&Commit{Manifest: bytes.Repeat([]byte("manifest"), 12), Name: "a.txt", Receipts: [][]Receipt{{rcpt}, {rcpt, rcpt}, {}}},
		&Committed{CID: testCID(t, "f")}, &Locate{CID: testCID(t, "f")},
		&Location{Manifest: []byte("m"), Shards: [][]Replica{{{NodeAddr: addr, Status: StatusStored}}}},
		&ListFiles{}, &FileList{Files: []FileEntry{{CID: testCID(t, "x"), Name: "x", Size: 1, Created: 2}}},
		&StoreShard{Shard: testCID(t, "s"), Size: 10, PieceSize: 4, Pieces: [][32]byte{{1}, {2}, {3}}, Owner: k2.ID(), Chain: []NodeAddr{addr}},
		&PieceData{Index: 2, Data: []byte("abcd")},
		&StoreResult{Receipts: []Receipt{rcpt}, Failures: []HopFailure{{Peer: k2.ID(), Code: CodeNoSpace, Message: "full"}}},
		&GetPiece{Shard: testCID(t, "s"), Index: 1, Count: 4},
		&Piece{Index: 1, Data: []byte("data"), Proof: [][32]byte{{4}, {5}}},
	}
}

func TestRoundTripEveryMessage(t *testing.T) {
	checkRoundTrip(t, samples(t))
}

func TestTailedFramesMatchWholeFrames(t *testing.T) {
	for _, m := range []Tailed{&Piece{Index: 3, Proof: [][32]byte{{1}}, Data: []byte("piece bytes")}, &PieceData{Index: 1, Data: make([]byte, 1000)}} {
		whole := AppendFrame(nil, m)
		split := append(AppendFrameHead(nil, m), m.Tail()...)
		if !bytes.Equal(whole, split) {
			t.Fatalf("%v: head+tail differs from the whole frame", m.Type())
		}
	}
}

func TestBigMessagesHaveTheirOwnLimit(t *testing.T) {
	bigCommits := func(t Type) int { return LimitFor(t, MaxFrame) }
	// A commit of a many-shard file is larger than an ordinary frame and
	// passes a reader that takes big commits ...
	c := &Commit{Manifest: make([]byte, 3*MaxFrame)}
	frame := AppendFrame(nil, c)
	if _, _, err := ReadFrame(bytes.NewReader(frame), nil, bigCommits); err != nil {
		t.Fatalf("big commit: %v", err)
	}
	// ... but not one that does not: the reader decides, not the header.
	if _, _, err := ReadFrame(bytes.NewReader(frame), nil, Fixed(MaxFrame)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("big commit to a reader of ordinary frames: err = %v, want ErrTooLarge", err)
	}
	// An ordinary message of that size does not pass either.
	p := AppendFrame(nil, &PieceData{Data: make([]byte, 3*MaxFrame)})
	if _, _, err := ReadFrame(bytes.NewReader(p), nil, bigCommits); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("big piece: err = %v, want ErrTooLarge", err)
	}
	// A type the reader refuses fails on its header, before its body is read.
	r := &countingReader{r: bytes.NewReader(frame)}
	onlyPieces := func(t Type) int {
		if t == TypePiece {
			return MaxFrame
		}
		return -1
	}
	if _, _, err := ReadFrame(r, nil, onlyPieces); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("unexpected type: err = %v, want ErrBadRequest", err)
	}
	if r.n != HeaderLen {
		t.Fatalf("read %d bytes of a refused frame, want its %d header bytes only", r.n, HeaderLen)
	}
	// A header announcing a big frame whose bytes never come fails as truncated.
	head := AppendFrame(nil, &Commit{Manifest: make([]byte, BigFrame-100)})[:HeaderLen+10]
	if _, _, err := ReadFrame(bytes.NewReader(head), nil, bigCommits); !errors.Is(err, ErrMalformed) {
		t.Fatalf("truncated big frame: err = %v", err)
	}
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += n
	return n, err
}

func TestFrameLimitsAndVersions(t *testing.T) {
	big := AppendFrame(nil, &PieceData{Data: make([]byte, 2000)})
	if _, _, err := ReadFrame(bytes.NewReader(big), nil, Fixed(1000)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized frame: err = %v, want ErrTooLarge", err)
	}
	bad := append([]byte{}, big...)
	bad[0] = 9
	if _, _, err := ReadFrame(bytes.NewReader(bad), nil, Fixed(MaxFrame)); !errors.Is(err, ErrVersion) {
		t.Fatalf("wrong version: err = %v, want ErrVersion", err)
	}
	if _, _, err := ReadFrame(bytes.NewReader(big[:3]), nil, Fixed(MaxFrame)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("truncated header: err = %v", err)
	}
	if _, _, err := ReadFrame(bytes.NewReader(big[:100]), nil, Fixed(MaxFrame)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("truncated body: err = %v", err)
	}
	if _, err := New(Type(999)); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("unknown type: err = %v", err)
	}
	// A list count that cannot fit is refused before allocating.
	e := Enc{}
	e.U32(1 << 31)
	if err := new(NodeList).Decode(e.B); !errors.Is(err, ErrMalformed) {
		t.Fatalf("huge count: err = %v", err)
	}
}

func TestSignedRecordsAndReceipts(t *testing.T) {
	k := identity.FromSeed(bytes.Repeat([]byte{1}, 32))
	now := time.Unix(1000, 0)
	rec := NodeRecord{Role: RoleMiner, Region: "r", Expires: 2000}
	rec.Sign(k)
	if err := rec.Verify(now); err != nil {
		t.Fatal(err)
	}
	if err := rec.Verify(time.Unix(2000, 0)); err == nil {
		t.Fatal("expired record accepted")
	}
	forged := rec
	forged.Free = 1 << 50
	if err := forged.Verify(now); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("tampered record: err = %v", err)
	}
	other := identity.FromSeed(bytes.Repeat([]byte{2}, 32))
	stolen := rec
	stolen.Peer = other.ID()
	if err := stolen.Verify(now); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("record claimed by another peer: err = %v", err)
	}
	r := Receipt{Shard: testCID(t, "s"), Size: 1, Owner: other.ID(), Stored: 5}
	r.Sign(k)
	if err := r.Verify(); err != nil {
		t.Fatal(err)
	}
	r.Size = 2
	if err := r.Verify(); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("tampered receipt: err = %v", err)
	}
}

func TestErrorCodesSurviveConversion(t *testing.T) {
	err := fmt.Errorf("looking up: %w", Errorf(CodeNotFound, "file %s", "x"))
	we := ToError(err)
	if !errors.Is(we, ErrNotFound) || errors.Is(we, ErrCorrupt) {
		t.Fatalf("code lost: %v", we)
	}
	if ToError(errors.New("boom")).Code != CodeInternal {
		t.Fatal("plain error should become internal")
	}
	if ToError(fmt.Errorf("%w: x", ErrMalformed)).Code != CodeBadRequest {
		t.Fatal("malformed should become bad request")
	}
}

// FuzzDecode feeds arbitrary frames to the decoder: it must never panic, and
// whatever decodes must re-encode to exactly the same bytes (one encoding per
// message, which signatures rely on).
func FuzzDecode(f *testing.F) {
	fuzzFrames(f, samples(f), []byte{1, 0, 13, 0, 0, 0, 4, 0xff, 0xff, 0xff, 0xff})
}

// A Commit announcing millions of empty receipt lists is refused without
// allocating a list header for each.
func TestCommitOfEmptyListsAllocatesLittle(t *testing.T) {
	const body = 8 << 20
	b := Enc{}
	b.Bytes(nil)
	b.String("")
	b.U32(uint32((body - 12) / 4))
	b.B = append(b.B, make([]byte, body-len(b.B))...) // every list empty
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err := new(Commit).Decode(b.B)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("decode: %v, want ErrMalformed", err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > body {
		t.Fatalf("decoding a %d-byte commit allocated %d bytes", body, got)
	}
}
