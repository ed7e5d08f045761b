// Package miner is the storage daemon of ppstore (`miner serve`): it receives
// shards, stores them durably, forwards them along a replication chain while
// still receiving them, serves their pieces with Merkle proofs, and reports
// its free capacity to the region's bootstrap.
//
// It owns the miner's data directory and the StoreShard and GetPiece
// requests. It does not choose where shards go (the indexer does), does not
// check who may read a piece (share codes come in a later issue), and does
// not re-hash pieces it serves: every client checks each piece against the
// shard's Merkle root, and detecting bit rot is the verifier's job.
//
// # Chain replication
//
// A client uploads a shard once, to the first miner of its chain:
//
//	client --StoreShard{Chain: [m2 m3]}, PieceData 0..n-1, EOF--> m1
//	m1     --StoreShard{Chain: [m3]},    PieceData 0..n-1, EOF--> m2
//	m2     --StoreShard{Chain: []},      PieceData 0..n-1, EOF--> m3
//	m3 --StoreResult{m3}--> m2 --StoreResult{m2 m3}--> m1 --StoreResult{m1 m2 m3}--> client
//
// Each miner checks the header (the piece digests must hash to the shard's
// CID), reserves room, then for every piece checks its digest, hands it to
// the next miner and, concurrently, to its own temp file, so the copies
// travel down the chain piece by piece and r replicas cost the client about
// the time of one upload. After the last piece a miner makes its copy durable,
// signs a wire.Receipt, then waits for the rest of the chain. Its StoreResult
// names every miner of the chain it was given exactly once: a receipt, or a
// HopFailure saying why not (a miner that could not be reached fails the
// miners behind it with "not reached"). A miner whose own copy fails (bad
// piece, full disk, upload broken off) aborts the rest of the chain and
// answers with the error instead: nothing partial is kept anywhere.
//
// # On disk
//
//	<data_dir>/
//	  identity.key                  ed25519 key (package identity)
//	  node.json                     written by daemon.Serve while running
//	  db/                           pebble: shard metadata
//	  shards/00 … shards/ff/        one folder per first byte of the root
//	    <hex Merkle root>.shard     the shard's bytes as uploaded, then (once sealed, seal.go)
//	                                the first size bytes of this miner's sealed replica
//	  tmp/<random>                  uploads in progress; emptied at startup
//
// An upload is written to tmp/, fsynced, renamed into shards/, the folder
// fsynced, and only then its record is written to pebble with Sync; the
// receipt is signed after that. A crash at any point leaves either a temp
// file, a shard file without a record, or a complete shard; startup removes
// the first two and drops records whose file is missing or has the wrong
// length. It refuses to start, and deletes nothing, if pebble holds records
// but shards/ is missing or empty, or if most records (more than a few) lack
// their file: that is a folder unmounted or moved, not shards lost.
//
// Pebble keys:
//
//	s/<shard CID bytes>  →  record
//	l/<shard CID bytes>  →  u64 lease end (unix s): the replica awaits a commit (lease.go)
//
// A record is versioned so that sealed replicas (a later issue) can add a
// format. Version 1, integers big-endian, a peer ID as a 4-byte length and
// its multihash bytes:
//
//	+-----+------+-----------+--------+---+----------+-----+------------+---+--------+-----+
//	| ver | size | pieceSize | stored | n | digest 0 | ... | digest n-1 | k | owner0 | ... |
//	+-----+------+-----------+--------+---+----------+-----+------------+---+--------+-----+
//	   1     8         4          8     4      32               32        4   4+len
//
//	ver      1: the shard's bytes are stored as uploaded (unsealed)
//	size     shard length in bytes; the file must have exactly this length
//	stored   unix seconds of the first upload
//	digest i SHA-256 of piece i (their Merkle root is the CID's digest)
//	owner j  peers the shard is held for
package miner
