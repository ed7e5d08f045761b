// Package shard implements ppstore's two-level sharding: how a file is cut
// into shards and pieces, how each of them is named, and the manifest that
// ties them together.
//
// # Shards and pieces
//
// A file is cut into first-level shards of Manifest.ShardSize bytes (4 MiB by
// default), the unit of placement, replication and proofs. Each shard is cut
// into second-level pieces of Manifest.PieceSize bytes (256 KiB by default),
// the unit of transfer and hash checking. Only the last shard of a file and
// the last piece of a shard may be short; a shard always has at least one
// piece, and an empty file has no shards at all.
//
//	file    |<------------------------- Size ------------------------->|
//	        +-------------------+-------------------+------------------+
//	        |      shard 0      |      shard 1      |  shard 2 (short) |
//	        +-------------------+-------------------+------------------+
//	        |<--- ShardSize --->|
//
//	shard 1 +------+------+-----+--------+
//	        |  p0  |  p1  | ... | p(n-1) |   n = ShardSize / PieceSize
//	        +------+------+-----+--------+
//	        |<---->| PieceSize
//
// # Identifiers
//
// Every identifier is a CIDv1 whose multihash is sha2-256:
//
//	piece     codec raw (0x55)          digest SHA256(piece bytes)
//	shard     codec ShardCodec          digest Merkle root of its pieces
//	file      codec ManifestCodec       digest SHA256(encoded manifest)
//
// So anyone holding a file's CID can check every byte received for it: the
// CID pins the manifest, the manifest pins each shard's Merkle root, and the
// root pins every piece.
//
// # Merkle tree
//
// The tree over a shard's n ≥ 1 pieces has the shape of RFC 6962: a list of
// n > 1 entries is split at k, the largest power of two strictly less than
// n, into a complete left subtree and a possibly ragged right one. With
// d_i = SHA256(piece i):
//
//	leaf_i = SHA256(0x00 || d_i)
//	node   = SHA256(0x01 || left || right)
//
//	n = 5                root
//	                   /      \
//	               n0123       leaf_4
//	              /     \
//	          n01         n23
//	         /   \       /   \
//	    leaf_0 leaf_1 leaf_2 leaf_3
//
// The proof for piece i lists the sibling hashes on the path from leaf_i up
// to the root, lowest first: for piece 2 above it is [leaf_3, n01, leaf_4].
// It has at most ceil(log2 n) entries. A proof binds i's position but not
// always n, so a verifier takes n from the manifest, not from the prover.
//
// # Manifest encoding
//
// The manifest is the file's only metadata. Its encoding is fixed width and
// deterministic, so a manifest has exactly one encoding and one CID. All
// integers are unsigned and big-endian:
//
//	+--------+-----+-------+------+-----------+-----------+-------+--------+-----+----------+
//	| "PPMF" | ver | flags | size | shardSize | pieceSize | count | root 0 | ... | root c-1 |
//	+--------+-----+-------+------+-----------+-----------+-------+--------+-----+----------+
//	    4       1      4      8         4           4         8       32            32
//
//	ver        1
//	flags      bit 0: FlagEncrypted; all other bits are zero
//	size       file size in bytes
//	count      number of shards: ceil(size / shardSize), 0 for an empty file
//	root i     Merkle root of shard i
//
// A decoder accepts nothing else: no trailing bytes, no unknown flags, no
// shard count that disagrees with size and shardSize.
package shard
