package miner

import (
	"bytes"
	"testing"
)

// The miner keeps several kinds of records in one pebble database, each
// under its own key prefix and scanned with [prefix, end) bounds. Two kinds
// sharing a prefix read each other's records as their own (a private mark
// taken for a proof epoch stopped the miner at start), so every prefix is
// distinct, none starts another, and each end bound closes exactly its
// prefix's range.
func TestRecordPrefixesAreDisjoint(t *testing.T) {
	kinds := []struct {
		name        string
		prefix, end []byte
	}{
		{"shard record", keyPrefix, keyEnd},
		{"lease", leasePrefix, leaseEnd},
		{"private mark", markPrefix, markEnd},
		{"proven epoch", provenPrefix, provenEnd},
		{"seal state", sealPrefix, sealEnd},
		{"tree", treePrefix, nil},
	}
	for i, a := range kinds {
		if a.end != nil {
			last := a.prefix[len(a.prefix)-1]
			want := append(bytes.Clone(a.prefix[:len(a.prefix)-1]), last+1)
			if !bytes.Equal(a.end, want) {
				t.Errorf("%s: end bound %q does not close prefix %q (want %q)", a.name, a.end, a.prefix, want)
			}
		}
		for _, b := range kinds[i+1:] {
			if bytes.HasPrefix(a.prefix, b.prefix) || bytes.HasPrefix(b.prefix, a.prefix) {
				t.Errorf("%s records (%q) and %s records (%q) share a key range", a.name, a.prefix, b.name, b.prefix)
			}
		}
	}
}
