// Package rollup owns the state and the proof of a region's zkStore payment
// rollup: the account Merkle tree, signed transfers, the batch data that goes
// on the sidechain, the Groth16 circuit that proves a batch, its keys and
// VerifyBatch, which the sidechain calls. It runs no daemon and opens no
// connection: the zkstore daemon queues, batches and submits; the sidechain
// decides which root is current.
//
// # Accounts and leaves
//
// An account sits at an index i < 2^Depth of a binary Merkle tree. Its leaf is
//
//	leaf = C(C(pk.X, pk.Y), i + balance·2^32 + nonce·2^96)
//
// where C is the Poseidon2 2-to-1 compression of gnark-crypto over BN254's
// scalar field (width 2, 6 full and 50 partial rounds, feed-forward of the
// right input), pk the account's EdDSA key on BN254's twisted Edwards curve,
// balance and nonce 64-bit integers. An empty slot's leaf is 0; an inner node
// is C(left, right). The leaf binds index, key, balance and nonce, so a prover
// cannot show one balance in the circuit and another in the tree.
//
// # Transfers
//
// A transfer moves amount from account From to account To, which must hold the
// key ToKey (or be empty: the transfer then opens it with that key). Its
// packed form and hashes are
//
//	packed = from + to·2^32 + amount·2^64 + nonce·2^128
//	t      = C(packed, C(to.X, to.Y))          transfer hash
//	m      = C(regionTag, t)                   the message the sender signs
//
// and the signature is gnark-crypto's EdDSA with the Poseidon2
// Merkle–Damgård hash (H(R.X, R.Y, A.X, A.Y, m)). The region tag binds a
// transfer to one region, so it cannot be replayed in another.
//
// # Batch data (what the sidechain stores)
//
//	+---------+-------+------------+-------+--------------------------------+
//	| version | depth | region tag | count | count × transfer               |
//	| 1 byte  | 1 byte| 32 bytes   | u16 BE| from u32, to u32, amount u64,  |
//	|         |       |            |       | nonce u64, to key 32 bytes     |
//	+---------+-------+------------+-------+--------------------------------+
//
// Its commitment, the circuit's third public input, is c_n where c_0 is the
// region tag and c_k = C(c_{k-1}, t_k). Anyone holding the batch data can
// therefore replay the state; the proof shows that the data it was made for is
// the data on the chain.
package rollup
