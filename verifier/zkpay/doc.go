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
//	'a' peer                                         a miner's last verified account key [32 bytes]
//	's'                                              the last epoch settled [u64]
//	'r'                                              the last epoch handed over [u64]; it never moves back
//	'p'                                              the pruning floor [u64]: 'd' records of epochs below it may be gone
//
// A settlement moves a miner's owed passes to paid in the same synced write
// that records the signed transfer paying them, then submits it; the
// transfer is forgotten only once the operator holds the account's nonce
// past it. After a crash the outstanding transfer is resubmitted as it was
// signed (same nonce), so the operator applies it at most once, and a pass
// recorded as paid is never recorded as owed again: no round is paid twice.
// A round judged but never handed over (the verifier killed in between) is
// read back from the verifier's round record when the next round comes.
//
// # Miners' accounts
//
// At each settlement every miner owed something is asked for its wallet
// binding once, all miners at once, each call bounded by
// Config.BindingTimeout (a quarter of the settlement's timeout by default),
// so a slow or silent miner delays the settlement by that much at most. A
// binding whose two signatures verify and which names the miner is used;
// when it names a new account (the miner re-bound its wallet) the ledger's
// 'a' entry is replaced and the change logged at Info with both accounts.
// A miner out of reach, saying it has no wallet, or serving a binding that
// does not verify or names another peer is paid into the account of the
// last binding of it that verified (logged at Warn): such an answer never
// replaces a verified one, and a miner's pay is neither lost nor delayed
// because it was briefly unreachable. A miner with no verified binding ever
// is not paid (ErrNoWallet, or unreachable) and its passes stay owed. A
// transfer signed before a re-binding is resubmitted as signed, into the
// old account.
//
// # Pruning
//
// A 'd' record exists only so that a pass handed over again is not recorded
// as owed again. The payer reads a round again only for epochs after 'r'
// (catchUp), and the verifier hands over each epoch once, in order, so a
// 'd' record of an epoch at or before 'r' is never needed in normal
// operation. The ledger keeps them for Config.KeepPaidEpochs epochs anyway
// (default DefaultKeepPaidEpochs, 64: the verifier's default keep_epochs,
// so the payments of every round record the verifier keeps can be looked
// up; never fewer than payment.settle_every, so a settlement's records
// outlive it): after each settlement the records of epochs before
// r-KeepPaidEpochs+1 are deleted (one DeleteRange, whole epochs, at most
// about 50,000 records a settlement: a long unpruned ledger shrinks over a
// few settlements), and the floor 'p' is raised to the first epoch kept,
// both in one synced write. The floor is what makes pruning safe whatever
// is handed over: a pass of an epoch below it is not recorded at all
// (counted in ppstore_verifier_stale_passes_total), so a pass whose 'd'
// record is gone can never be owed, and paid, again. The floor never goes
// down, not even when KeepPaidEpochs is raised, and stays at or below 'r'
// (KeepPaidEpochs ≥ 1), so every epoch catchUp can read is above it.
// Pruning an outstanding transfer's 'd' records is harmless: the 't'
// record holds its passes, and a transfer the operator refused makes them
// owed again from there (the operator applies it at most once, whatever the
// ledger holds). A pass owed for long (a miner without a wallet, the
// account out of funds) and paid after its epoch fell below the floor has
// its 'd' record pruned at the settlement that pays it.
package zkpay
