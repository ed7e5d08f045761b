// Package proofs implements ppstore's proofs of storage: sealing a shard
// into a replica unique to (miner, shard, replica number), the proof of
// replication (PoRep) that a committed replica is that sealing, and the
// proof of spacetime (PoSt) that a miner still holds its replicas at each
// epoch. It owns the construction, its parameters and the proofs'
// encodings; it does not own the network, the schedule of rounds, who is
// asked what, or payment (package verifier and the miner do).
//
// # Sealing
//
// A replica is the shard's data, padded with zeros to whole 16-byte blocks,
// encoded in L layers (Params.Layers: at least Rounds, more for small shards
// so that every replica costs at least MinSealBlocks steps). Layer ℓ is one
// chain over all blocks, odd layers upwards, even layers downwards:
//
//	L_ℓ[i] = π(L_{ℓ-1}[i] ⊕ s_ℓ[i] ⊕ L_ℓ[i∓1])      L_0 = data, L_ℓ[-1] = L_ℓ[n] = 0
//
// s_ℓ is AES-128-CTR keyed by the ReplicaID (SHA-256 of the miner's peer ID,
// commD and the replica number), and π is the sloth permutation on the low
// 127 bits of a block (a square root in F_p, p = 2^127 - 1: 125 dependent
// squarings; Lenstra–Wesolowski 2015). Sealing is one sequential chain of L
// × n sloth steps. Unsealing needs no chain: L_{ℓ-1}[i] = π⁻¹(L_ℓ[i]) ⊕
// s_ℓ[i] ⊕ L_ℓ[i∓1], one squaring per block and layer, and any range of the
// data unseals from the replica blocks around it (Window: ⌈L/2⌉ blocks
// before, ⌊L/2⌋ after). So a miner keeps only the replica and serves pieces
// from it.
//
// # Commitments
//
// commD is the shard's Merkle root over its pieces (package shard). commR is
// the root of a complete binary tree over the replica's 256-byte leaves
// (padded with zero digests to a power of two), leaf SHA256(0x00 ‖ bytes),
// node SHA256(0x01 ‖ left ‖ right). A Tree keeps the levels from CacheLevel
// up (1/128 of the replica's size in digests); lower nodes are rehashed from
// 8 KiB of replica when a proof needs them.
//
// # Proofs
//
// PoRep (once, after sealing, on a seed the verifier draws after commR is
// sent): for each of K challenged pieces, the replica leaves covering the
// piece's unsealing window with a range proof under commR, and the piece's
// path under commD. The verifier unseals the window itself and hashes the
// piece. PoSt (every epoch, on the round's seed): per replica, C leaves of
// the replica tree with their paths under commR; one response answers all
// the replicas a miner was asked about. The encodings (PoRepProof.Append,
// PoStResponse.Append) are drawn in their doc comments; docs/PROOFS.md gives
// the parameters and the argument against each attack.
package proofs
