package wire

import (
	"errors"
	"testing"
)

func paymentSamples() []Message {
	return []Message{
		&GetWalletBinding{},
		&WalletBinding{Binding: []byte(`{"peer":"x"}`)},
	}
}

func TestPaymentRoundTrip(t *testing.T) {
	checkRoundTrip(t, paymentSamples())
	big := &WalletBinding{Binding: make([]byte, MaxWalletBinding+1)}
	if err := new(WalletBinding).Decode(big.Append(nil)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("oversized binding: %v", err)
	}
	if !errors.Is(ToError(ErrNoWallet), ErrNoWallet) || CodeNoWallet.String() != "no wallet" {
		t.Fatal("payment codes not registered")
	}
	if TypeWalletBinding.String() != "WalletBinding" {
		t.Fatalf("type name %q", TypeWalletBinding.String())
	}
}

// FuzzPaymentDecode is FuzzDecode seeded with the payment messages.
func FuzzPaymentDecode(f *testing.F) { fuzzFrames(f, paymentSamples()) }
