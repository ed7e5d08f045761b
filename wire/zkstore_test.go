package wire

import (
	"errors"
	"testing"
)

func zkSamples() []Message {
	return []Message{
		&SubmitTransfer{Region: "devnet", From: 1, To: 2, Amount: 3, Nonce: 4, ToKey: [32]byte{5}, Signature: [64]byte{6, 63: 7}},
		&TransferAccepted{Seq: 9, PendingRoot: [32]byte{1}},
		&GetAccount{Region: "devnet", ByKey: true, Key: [32]byte{2}},
		&AccountState{Found: true, Index: 3, Key: [32]byte{4}, Balance: 5, Nonce: 6, ProvenFound: true, ProvenBalance: 7,
			ProvenNonce: 8, ProvenRoot: [32]byte{9}, ProvenBatch: 10, Path: [][32]byte{{1}, {2}}, NextFree: 11},
		&GetZkStatus{},
		&ZkStatus{Region: "r", Depth: 20, BatchSize: 32, Pending: 1, Batches: 2, LastBatch: 2, LastSize: 32, LastProofMs: 9000,
			LastState: BatchAccepted, PendingRoot: [32]byte{1}, ProvenRoot: [32]byte{2}, ProvenBatch: 2, ChainHeight: 77},
		&GetHistory{Region: "r", Index: 4, Limit: 10},
		&History{Entries: []HistoryEntry{{Seq: 1, Batch: 0, From: 2, To: 3, Amount: 4, Nonce: 5}}},
	}
}

func TestZkStoreRoundTrip(t *testing.T) {
	checkRoundTrip(t, zkSamples())
	if ToError(ErrBadNonce).Code != CodeBadNonce || CodeWrongRegion.String() != "wrong region" {
		t.Fatal("zkStore codes not registered")
	}
	// A path longer than any tree is refused.
	// (48 siblings: three per level of a 4-ary tree of 2^32 leaves.)
	long := &AccountState{Path: make([][32]byte, 49)}
	if err := new(AccountState).Decode(long.Append(nil)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("49-sibling path: %v", err)
	}
	longest := &AccountState{Path: make([][32]byte, 48)}
	if err := new(AccountState).Decode(longest.Append(nil)); err != nil {
		t.Fatalf("48-sibling path: %v", err)
	}
}

// FuzzZkStoreDecode is FuzzDecode seeded with the zkStore messages.
func FuzzZkStoreDecode(f *testing.F) { fuzzFrames(f, zkSamples()) }
