package sidechain

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/cockroachdb/pebble"
	"github.com/cometbft/cometbft/crypto/merkle"
	"github.com/ppstore/ppstore/internal/pebbledb"
)

// RegionRoot is what the chain holds for one region: its current account
// tree root, a digest of its verifying key, how many batches the chain has
// accepted for it, and the height of the block that accepted the last one
// (0 while the root is the genesis root).
type RegionRoot struct {
	Region  string
	Root    [32]byte
	VKHash  [32]byte // SHA-256 of the verifying key bytes in genesis
	Batches uint64
	Height  int64
}

// leafLen is the size of an encoded leaf without the region name.
const leafLen = 1 + 32 + 32 + 8 + 8

// AppendLeaf appends r's leaf of the app hash tree:
//
//	name_len u8 | name | root [32] | vk_hash [32] | batches u64 BE | height u64 BE
//
// The app hash is the RFC 6962 Merkle root (CometBFT's crypto/merkle:
// leaf SHA-256(0x00‖leaf), node SHA-256(0x01‖l‖r)) over the leaves of all
// regions sorted by name, so one region's leaf is proven against the app
// hash by a path of log2(regions) hashes.
func (r *RegionRoot) AppendLeaf(dst []byte) []byte {
	dst = append(dst, byte(len(r.Region)))
	dst = append(dst, r.Region...)
	dst = append(dst, r.Root[:]...)
	dst = append(dst, r.VKHash[:]...)
	dst = binary.BigEndian.AppendUint64(dst, r.Batches)
	return binary.BigEndian.AppendUint64(dst, uint64(r.Height))
}

// DecodeLeaf parses a leaf written by AppendLeaf; errors wrap ErrMalformed.
func DecodeLeaf(b []byte) (RegionRoot, error) {
	var r RegionRoot
	if len(b) < 1 || len(b) != leafLen+int(b[0]) {
		return r, errorf(CodeMalformed, "region leaf of %d bytes", len(b))
	}
	n := int(b[0])
	r.Region = string(b[1 : 1+n])
	b = b[1+n:]
	copy(r.Root[:], b[:32])
	copy(r.VKHash[:], b[32:64])
	r.Batches = binary.BigEndian.Uint64(b[64:72])
	h := binary.BigEndian.Uint64(b[72:80])
	if h > 1<<62 {
		return r, errorf(CodeMalformed, "region leaf height %d", h)
	}
	r.Height = int64(h)
	if err := ValidRegionName(r.Region); err != nil {
		return r, err
	}
	return r, nil
}

// region is one region's state: its public root and its verifying key.
type region struct {
	RegionRoot
	vk []byte
}

// state is the rollup module's state: every region by name.
type state map[string]*region

// clone copies the map; regions are replaced, never changed in place.
func (s state) clone() state {
	c := make(state, len(s))
	for k, v := range s {
		c[k] = v
	}
	return c
}

// leaves returns the sorted region names and their leaves.
func (s state) leaves() ([]string, [][]byte) {
	names := make([]string, 0, len(s))
	for n := range s {
		names = append(names, n)
	}
	slices.Sort(names)
	leaves := make([][]byte, len(names))
	for i, n := range names {
		leaves[i] = s[n].AppendLeaf(nil)
	}
	return names, leaves
}

// appHash is the Merkle root over the sorted region leaves (see AppendLeaf).
func (s state) appHash() []byte {
	_, leaves := s.leaves()
	return merkle.HashFromByteSlices(leaves)
}

// proof returns region name's leaf and its Merkle proof against appHash.
func (s state) proof(name string) ([]byte, *merkle.Proof, bool) {
	names, leaves := s.leaves()
	i, ok := slices.BinarySearch(names, name)
	if !ok {
		return nil, nil, false
	}
	_, proofs := merkle.ProofsFromByteSlices(leaves)
	return leaves[i], proofs[i], true
}

// Pebble layout of the application's database:
//
//	"r/" + name → leaf (AppendLeaf) | vk
//	"m/last"     → height u64 BE | app hash
//
// Commit writes every changed region and m/last in one synced batch, so the
// stored state is always the state after some whole block.
var keyLast = []byte("m/last")

func regionKey(name string) []byte { return append([]byte("r/"), name...) }

func encodeRegion(r *region) []byte {
	return append(r.AppendLeaf(nil), r.vk...)
}

func decodeRegion(b []byte) (*region, error) {
	if len(b) < 1 || len(b) < leafLen+int(b[0]) {
		return nil, fmt.Errorf("sidechain: stored region of %d bytes is corrupt", len(b))
	}
	n := leafLen + int(b[0])
	rr, err := DecodeLeaf(b[:n])
	if err != nil {
		return nil, fmt.Errorf("sidechain: stored region is corrupt: %w", err)
	}
	r := &region{RegionRoot: rr, vk: slices.Clone(b[n:])}
	if sha256.Sum256(r.vk) != r.VKHash {
		return nil, fmt.Errorf("sidechain: stored verifying key of region %s does not match its hash; restore the data directory from a backup or resync the node", rr.Region)
	}
	return r, nil
}

// loadState reads the committed state; height 0 means none yet.
func loadState(db *pebbledb.DB) (s state, height int64, appHash []byte, err error) {
	s = state{}
	v, closer, err := db.Get(keyLast)
	if errors.Is(err, pebble.ErrNotFound) {
		return s, 0, nil, nil
	}
	if err != nil {
		return nil, 0, nil, err
	}
	if len(v) < 8 {
		closer.Close()
		return nil, 0, nil, fmt.Errorf("sidechain: stored last block record of %d bytes is corrupt", len(v))
	}
	height = int64(binary.BigEndian.Uint64(v))
	appHash = slices.Clone(v[8:])
	closer.Close()
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: []byte("r/"), UpperBound: []byte("r0")})
	if err != nil {
		return nil, 0, nil, err
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		r, err := decodeRegion(it.Value())
		if err != nil {
			return nil, 0, nil, err
		}
		s[r.Region] = r
	}
	if err := it.Error(); err != nil {
		return nil, 0, nil, err
	}
	if got := s.appHash(); string(got) != string(appHash) {
		return nil, 0, nil, fmt.Errorf("sidechain: stored regions hash to %x but the stored app hash at height %d is %x; the database is corrupt, resync the node", got, height, appHash)
	}
	return s, height, appHash, nil
}

// saveState writes the regions of s that differ from old, and the last
// block record, in one synced batch.
func saveState(db *pebbledb.DB, old, s state, height int64, appHash []byte) error {
	b := db.NewBatch()
	defer b.Close()
	for name, r := range s {
		if old[name] == r {
			continue
		}
		if err := b.Set(regionKey(name), encodeRegion(r), nil); err != nil {
			return err
		}
	}
	last := binary.BigEndian.AppendUint64(nil, uint64(height))
	if err := b.Set(keyLast, append(last, appHash...), nil); err != nil {
		return err
	}
	return db.Commit(b, pebble.Sync)
}
