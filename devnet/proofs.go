package devnet

// The devnet's verifier proves every few seconds (see docs/PROOFS.md). Its
// deadline is generous: eight daemons and a client share this machine's
// cores, and a devnet is not where miners cheat. Sealing uses the default
// layers with a smaller minimum for small shards, so small files seal fast.
// Two missed rounds report a replica for repair, so that a shard whose
// holders die is whole again within three epochs (bench/devnet-repair.sh).
const (
	devnetVerifier = "epoch = \"5s\"\ndeadline_base = \"1s\"\nmisses_to_repair = 2\n"
	devnetProofs   = "proofs.min_seal_blocks = 16384\n" // a dotted key, not a [proofs] table: keys appended later stay top level
)
