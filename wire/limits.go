package wire

// Limits on message fields that a daemon enforces and a client checks before
// it sends anything. They live here, beside the messages they bound, so that
// the enforcing daemon and the checking client share one number.
const (
	// MaxReplicas is the most replicas per shard one Place or one Commit may
	// ask for (the indexer refuses more).
	MaxReplicas = 16

	// MaxNameLen is the longest file name a Commit may carry, in bytes; the
	// name must also be valid UTF-8 (the indexer refuses anything else).
	MaxNameLen = 1024

	// MaxChain is the longest chain of further miners a StoreShard may name
	// (the miner refuses longer ones). An upload reaches the first miner and
	// this many more, so a shard gets at most MaxChain+1 replicas per upload.
	MaxChain = 8
)
