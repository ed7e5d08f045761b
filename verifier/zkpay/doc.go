// Package zkpay pays miners for their passed proofs of spacetime through the
// region's zkStore: it is the verifier's verifier.RoundPayer when the
// verifier's config has payment.zkstore on (cmd/verifier sets it).
//
// It owns the verifier's paying account (wallet.key and wallet.binding
// beside the verifier's identity, funded by the region's faucet in a devnet
// or by any transfer), the ledger of what is owed and paid (pebble, in
// DATA_DIR/payments) and the settlement of each miner's passes into one
// signed transfer per miner per settlement. It does not own the verdicts
// (package verifier), the rollup (package zkstore's operator) or the miners'
// keys: a miner's account is the one its wallet binding names, which the
// miner serves (wire.GetWalletBinding) and zkpay verifies.
//
// Ledger keys (values in brackets):
//
//	'o' epoch u64 | peer len u8 | peer | shard CID   a pass owed          []
//	'd' epoch u64 | peer len u8 | peer | shard CID   a pass paid          [nonce u64]
//	't' nonce u64                                    a transfer not yet confirmed [outstanding]
//	'a' peer                                         a miner's verified account key [32 bytes]
//	's'                                              the last epoch settled [u64]
//	'r'                                              the last epoch handed over [u64]
//
// A settlement moves a miner's owed passes to paid in the same synced write
// that records the signed transfer paying them, then submits it; the
// transfer is forgotten only once the operator holds the account's nonce
// past it. After a crash the outstanding transfer is resubmitted as it was
// signed (same nonce), so the operator applies it at most once, and a pass
// recorded as paid is never recorded as owed again: no round is paid twice.
// A round judged but never handed over (the verifier killed in between) is
// read back from the verifier's round record when the next round comes.
package zkpay
