package wire

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

func paymentSamples() []Message {
	return []Message{
		&GetWalletBinding{},
		&WalletBinding{Binding: []byte(`{"peer":"x"}`)},
	}
}

func TestPaymentRoundTrip(t *testing.T) {
	for _, m := range paymentSamples() {
		frame := AppendFrame(nil, m)
		hd, body, err := ReadFrame(bytes.NewReader(frame), nil, Fixed(MaxFrame))
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(hd, body)
		if err != nil {
			t.Fatalf("%v: %v", m.Type(), err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Fatalf("%v: got %+v, want %+v", m.Type(), got, m)
		}
		if len(body) > 0 {
			if err := got.Decode(body[:len(body)-1]); !errors.Is(err, ErrMalformed) {
				t.Fatalf("%v truncated: %v", m.Type(), err)
			}
		}
		if err := got.Decode(append(body, 0)); !errors.Is(err, ErrMalformed) {
			t.Fatalf("%v with a trailing byte: %v", m.Type(), err)
		}
	}
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

// FuzzPaymentDecode: payment bodies never panic and re-encode to the same bytes.
func FuzzPaymentDecode(f *testing.F) {
	for _, m := range paymentSamples() {
		f.Add(uint16(m.Type()), m.Append(nil))
	}
	f.Fuzz(func(t *testing.T, typ uint16, body []byte) {
		m := newPayment(Type(typ))
		if m == nil {
			return
		}
		if err := m.Decode(body); err != nil {
			return
		}
		if got := m.Append(nil); !bytes.Equal(got, body) {
			t.Fatalf("%v: re-encoded %x, want %x", m.Type(), got, body)
		}
	})
}
