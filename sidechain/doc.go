// Package sidechain is the chain all regions settle on: a CometBFT
// (github.com/cometbft/cometbft v1.0.1) network of proof-of-authority
// validators, fixed in genesis, running this package's ABCI application.
//
// It owns:
//   - App, the rollup module: each region's current account-tree root and
//     batch verifying key, a batch accepted only if it starts from the
//     current root and its proof verifies (in CheckTx against the current
//     state, and again in FinalizeBlock), state committed to pebble with an
//     app hash over the region roots;
//   - Node, a validator (CometBFT and the App in one process), used
//     embedded by the devnet and by cmd/sidechain in production;
//   - Client, which submits batches and reads roots as a light client,
//     checking each root against a header signed by the validators.
//
// It does not own the proofs (package rollup builds and verifies them; the
// App takes the verifier as a VerifyFunc) nor the public-chain bridge
// (deposits and withdrawals through a Manager contract: a later module of
// this application, see docs/SIDECHAIN.md).
//
// A batch transaction (see Batch.AppendTx):
//
//	+---------+------+------------+--------+-----------+----------+
//	| version | kind | region_len | region | prev_root | new_root |
//	| u8 = 1  | u8=1 | u8         |        | 32 bytes  | 32 bytes |
//	+---------+------+------------+--------+-----------+----------+
//	| tx_data_len u32 BE | tx_data | proof_len u32 BE | proof      |
//	+--------------------+---------+------------------+------------+
//
// The app hash (see RegionRoot.AppendLeaf) is the RFC 6962 Merkle root
// over one leaf per region, sorted by name:
//
//	name_len u8 | name | root [32] | SHA-256(vk) [32] | batches u64 | height u64
package sidechain
