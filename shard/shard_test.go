package shard

import (
	"crypto/sha256"
	"errors"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
)

func TestParams(t *testing.T) {
	if got := (Params{}).WithDefaults(); got != (Params{DefaultShardSize, DefaultPieceSize}) {
		t.Errorf("WithDefaults() = %+v", got)
	}
	if got := (Params{ShardSize: 64}).WithDefaults(); got != (Params{64, DefaultPieceSize}) {
		t.Errorf("WithDefaults() = %+v", got)
	}
	for _, c := range []struct {
		p    Params
		ok   bool
		what string // part of the error message
	}{
		{Params{}, true, ""},
		{Params{ShardSize: 1, PieceSize: 1}, true, ""},
		{Params{ShardSize: 1024, PieceSize: 1}, true, ""},
		{Params{ShardSize: MaxShardSize, PieceSize: MaxPieceSize}, true, ""},
		{Params{ShardSize: MaxShardSize + MaxPieceSize, PieceSize: MaxPieceSize}, false, "more than 67108864"},
		{Params{ShardSize: 3 * DefaultPieceSize}, true, ""},
		{Params{ShardSize: 1025, PieceSize: 1}, false, "more than 1024"},
		{Params{PieceSize: MaxPieceSize + 1}, false, "piece size"},
		{Params{PieceSize: -1}, false, "piece size"},
		{Params{ShardSize: -DefaultPieceSize}, false, "multiple"},
		{Params{ShardSize: DefaultPieceSize + 1}, false, "multiple"},
		{Params{ShardSize: 100, PieceSize: 200}, false, "multiple"},
	} {
		err := c.p.Validate()
		if c.ok != (err == nil) {
			t.Errorf("%+v: Validate() = %v, want ok=%v", c.p, err, c.ok)
			continue
		}
		if err != nil && (!errors.Is(err, ErrBadParams) || !strings.Contains(err.Error(), c.what)) {
			t.Errorf("%+v: Validate() = %v, want ErrBadParams mentioning %q", c.p, err, c.what)
		}
	}
}

func TestDigestString(t *testing.T) {
	d := PieceDigest([]byte("abc"))
	if got, want := d.String(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"; got != want {
		t.Errorf("String() = %s, want %s", got, want)
	}
}

func TestCIDs(t *testing.T) {
	d := PieceDigest([]byte("hello"))
	for _, c := range []struct {
		name  string
		c     cid.Cid
		codec uint64
	}{
		{"piece", PieceCID(d), cid.Raw},
		{"shard", ShardCID(d), ShardCodec},
		{"manifest", newCID(ManifestCodec, d), ManifestCodec},
	} {
		if c.c.Version() != 1 || c.c.Type() != c.codec {
			t.Errorf("%s: cid %s has version %d codec %#x", c.name, c.c, c.c.Version(), c.c.Type())
		}
		got, err := DigestOf(c.c, c.codec)
		if err != nil || got != d {
			t.Errorf("%s: DigestOf = %s, %v; want %s", c.name, got, err, d)
		}
		// The CID survives its string form.
		parsed, err := cid.Decode(c.c.String())
		if err != nil || !parsed.Equals(c.c) {
			t.Errorf("%s: cid.Decode(%s) = %s, %v", c.name, c.c, parsed, err)
		}
	}
	// The raw piece CID is the standard one any IPFS tool computes.
	want, _ := cid.Prefix{Version: 1, Codec: cid.Raw, MhType: multihash.SHA2_256, MhLength: -1}.Sum([]byte("hello"))
	if !PieceCID(d).Equals(want) {
		t.Errorf("PieceCID = %s, want %s", PieceCID(d), want)
	}
	enc := []byte("not really a manifest")
	if got, _ := DigestOf(ManifestCIDOf(enc), ManifestCodec); got != sha256.Sum256(enc) {
		t.Errorf("ManifestCIDOf digest = %s", got)
	}
}

func TestDigestOfRejects(t *testing.T) {
	d := PieceDigest([]byte("x"))
	mh512, _ := multihash.Sum([]byte("x"), multihash.SHA2_512, -1)
	mhShort, _ := multihash.Sum([]byte("x"), multihash.SHA2_256, 20)
	mh256, _ := multihash.Sum([]byte("x"), multihash.SHA2_256, -1)
	for name, c := range map[string]struct {
		c     cid.Cid
		codec uint64
	}{
		"undef":       {cid.Undef, ShardCodec},
		"wrong codec": {PieceCID(d), ShardCodec},
		"v0":          {cid.NewCidV0(mh256), cid.DagProtobuf},
		"sha2-512":    {cid.NewCidV1(ShardCodec, mh512), ShardCodec},
		"truncated":   {cid.NewCidV1(ShardCodec, mhShort), ShardCodec},
	} {
		if _, err := DigestOf(c.c, c.codec); !errors.Is(err, ErrBadParams) {
			t.Errorf("%s: DigestOf(%s) err = %v, want ErrBadParams", name, c.c, err)
		}
	}
}
