package indexer

import (
	"testing"
	"time"

	"github.com/ppstore/ppstore/wire"
)

// BenchmarkCommitLargeFile commits a 6,000-shard file with 3 receipts per
// shard (the commit of TestLocateLargeFile): the time its client waits.
func BenchmarkCommitLargeFile(b *testing.B) {
	miners := testKeys(0, 5)
	ownerKey := testKey(1000)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		s := openTestStore(b, b.TempDir())
		noteMiners(b, s, miners...)
		m := testManifest(b, 6000)
		c := &wire.Commit{Manifest: m.Encode(), Name: "big", Receipts: signedReceipts(m, ownerKey.ID(), rotating(miners, 3))}
		b.StartTimer()
		if _, err := s.Commit(ownerKey.ID(), c, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
}
