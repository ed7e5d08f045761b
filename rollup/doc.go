// Package rollup owns the state and the proof of a region's zkStore payment
// rollup: the account Merkle tree, signed transfers, the batch data that goes
// on the sidechain, the Groth16 circuit that proves a batch, its keys and
// VerifyBatch, which the sidechain calls. It runs no daemon and opens no
// connection: the zkstore daemon queues, batches and submits; the sidechain
// decides which root is current.
//
// # Accounts and leaves
//
// An account sits at an index i < 2^Depth of a 4-ary Merkle tree (Depth even:
// Depth/2 levels). Its leaf is
//
//	leaf = C(C(pk.X, pk.Y), i + balance·2^32 + nonce·2^96)
//
// where C is the Poseidon2 2-to-1 compression of gnark-crypto over BN254's
// scalar field (width 2, 6 full and 50 partial rounds, feed-forward of the
// right input), pk the account's EdDSA key on BN254's twisted Edwards curve,
// balance and nonce 64-bit integers. An empty slot's leaf is 0; an inner node
// is C4(c0, c1, c2, c3) = P4(c)[3] + c3, the same construction at width 4 (8
// full and 56 partial rounds). The leaf binds index, key, balance and nonce,
// so a prover cannot show one balance in the circuit and another in the tree;
// the circuit range-checks every packed field, so the packing has one
// reading. A Merkle path holds the three siblings of each level, in child
// order.
//
// # Transfers
//
// A transfer moves amount from account From to account To, which must hold the
// key ToKey (or be empty: the transfer then opens it with that key). Its
// packed form is
//
//	packed = from + to·2^32 + amount·2^64 + nonce·2^128
//
// and the sender signs the message (regionTag, packed, C(to.X, to.Y)), three
// field elements, with gnark-crypto's EdDSA whose hash is
// H(R, A, M) = H8(R.X, R.Y, A.X, A.Y, M…): one Poseidon2 permutation of width
// 8 (8 full, 57 partial rounds) over the inputs, zeros and their count, with
// a feed-forward of the first. The region tag binds a transfer to one region,
// so it cannot be replayed in another.
//
// # Batch data (what the sidechain stores)
//
//	+---------+-------+------------+-------+--------------------------------+
//	| version | depth | region tag | count | count × transfer               |
//	| 1 byte  | 1 byte| 32 bytes   | u16 BE| from u32, to u32, amount u64,  |
//	|         |       |            |       | nonce u64, to key 32 bytes     |
//	+---------+-------+------------+-------+--------------------------------+
//
// Its commitment, the circuit's third public input, is c_n where
// c_0 = C4(regionTag, depth, version, 0) binds the header and
// c_k = C4(c_{k-1}, packed_k, C(to_k.X, to_k.Y), 0) each transfer. Anyone holding the batch data can
// therefore replay the state; the proof shows that the data it was made for is
// the data on the chain.
package rollup
