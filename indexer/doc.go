// Package indexer is the indexer daemon of a region: it knows where every
// first-level shard of every committed file lives, and it picks the miners
// that new shards go to.
//
// It owns:
//
//   - the index (Store, pebble at <data_dir>/db): per file its manifest and a
//     roaring bitmap of shard × miner, the table that numbers miners, and the
//     per-owner listing behind `ppstore ls`;
//   - placement (Placer): r distinct live miners with free space per shard,
//     spread over the region, from the miner records pulled from the bootstrap;
//   - the wire handlers Place, Commit, Locate, ListFiles and Ping.
//
// It does not own: miner records (the bootstrap holds them; package discover
// fetches them and checks their signatures), shard bytes (miners), proofs of
// replication or spacetime (the verifier checks them; a replica is recorded
// "stored" at commit and "proven" when the region's verifier reports its
// PoRep, and a repair's replica replaces the failing one on the verifier's
// report: proven.go), payments, or the manifest format (package shard).
//
// # Trust
//
// A commit is accepted only if every shard has at least one receipt, and every
// receipt is signed by the miner it names, names the shard and the size the
// manifest gives for that position, and was issued to the committing peer.
// One bad receipt rejects the whole commit and nothing is written.
//
// # On-disk layout
//
// All keys live in one pebble keyspace, told apart by a one-letter prefix.
// Integers are big-endian; peer is the binary peer ID (34 bytes today, but
// always length-prefixed where another field follows); cid is the binary
// CIDv1 of a file (its manifest CID).
//
//	key                                    value
//	-------------------------------------  -------------------------------------------------
//	"s/version"                            u32 layout version (2; 1 is migrated on open)
//	"s/stats"                              u64 files | u64 shards | u64 shard records
//	"m/" peer                              u32 miner index
//	"n/" u32 index                         u8 len | peer | last known address (rest, UTF-8)
//	"f/" cid                               u64 created (unix s) | u32 shard count | manifest
//	"b/" cid                               roaring64 bitmap (portable serialization)
//	"o/" u8 len | peer | cid               u64 created (unix s) | u64 size | name (rest)
//	"w/" u8 len | cid | peer               (empty): the owners listing a file
//	"h/" shard cid                         u32 references | u32 n | u32 miner index × n | u64 proven epoch × n
//	"x/" u32 miner index | shard cid       (empty): a replica to delete at that miner
//	"q/" cid                               roaring64 bitmap: the file's proven replicas (bits as in "b/"), empty if all
//	"r/" u8 len | shard cid | cid          u32 position × k: where a shard sits in a file
//
// "h/" and "x/" serve dedup, leases and removal (lifecycle.go, leases.go;
// docs/LEASES.md): a shard's holders whatever file they were put for, the
// references that keep it, and the deletions not yet confirmed by miners.
//
// Miner indices are dense, assigned on first sight (in a miner record or a
// receipt) and never reused, so a bitmap stays valid across restarts. A bit of
// the file bitmap is
//
//	bit = shardIndex << 24 | minerIndex        (minerIndex < 1<<24 = MaxMiners)
//
// so iterating the bitmap yields the replicas grouped by shard, in shard
// order. A shard record is one set bit (one replica). The split is 24 bits
// and not 32 so that the bits of 256 consecutive shards share one 32-bit
// roaring bitmap (one 16-bit container per shard while the region has fewer
// than 65,536 miners): decoding a 256-shard file then allocates one
// container object per shard instead of a whole bitmap per shard, which is
// what keeps Locate's p99 under a millisecond (see TestLocateP99). The whole miner table is cached in
// memory; Locate reads exactly three keys ("f/", "b/" and "q/").
//
// Every commit is one pebble batch written with pebble.Sync before the answer
// is sent, so an acknowledged commit survives a crash. Address updates from
// miner records are written without sync: losing one only costs a stale
// address until the next refresh.
package indexer
