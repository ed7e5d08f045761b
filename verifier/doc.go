// Package verifier is the region's verifier daemon: it checks each
// miner's proof of replication after sealing, challenges every proven
// replica at every epoch (proof of spacetime), records pass or miss per
// replica, keeps each judged round for `verifier check`, repairs replicas
// that miss too many rounds (miner to miner, then tells the indexer) and
// emits a payment event for each pass.
//
// It owns the replica records and the round schedule. It does not own the
// proofs' construction (package proofs), the shards' placement (the
// indexer) or payment (a Payer, connected by the zkStore issue).
//
// # Randomness
//
// Each epoch's seed comes from a Beacon. Until the sidechain exists it is a
// HashChain made at the first start: a random secret x_L, x_{i-1} =
// SHA256(x_i), the anchor x_0 logged at every start (publish it); epoch e's
// seed is x_e, checked by SHA256^e(x_e) = x_0. A miner cannot compute x_e
// before the verifier reveals it in round e.
//
// # Rounds
//
// Epoch e runs from genesis + (e-1)·Epoch. In each, the verifier sends
// every miner one PoStChallenge (epoch, seed, deadline, its shards; 4096 at
// most per stream), and the miner answers with PoStParts. The deadline is
// DeadlineBase + n·DeadlinePerReplica after sending. Each replica gets a
// Verdict; MissesToRepair misses in a row mark it repairing.
//
// # On disk
//
//	<data_dir>/identity.key
//	<data_dir>/db/                  pebble:
//	    m/chain                       hash chain secret(32) ‖ length(8) ‖ genesis unix ns(8)
//	    m/epoch                       last epoch judged (8)
//	    r/<len(2)‖miner><shard CID>   ReplicaState (see store.go)
//	    p/<len(2)‖shard CID><miner>   failing miner: a repair to <miner> under way (index.go)
//	<data_dir>/rounds/<epoch>.round   RoundRecord of each of the last KeepEpochs rounds
//
// # The indexer
//
// A replica is recorded only after the region's indexer accepted it as a
// committed holder's (wire.ReplicaProven); a repair's replica replaces the
// failing one at the indexer (wire.ReplicaReplace), then here (index.go,
// docs/REPAIR.md). Miners sign their responses (wire.SignPoSt); a response
// that does not verify is judged unsigned.
package verifier
