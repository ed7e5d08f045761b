package zkpay

import (
	"bytes"
	"testing"
	"time"

	"github.com/ppstore/ppstore/rollup"
	"github.com/ppstore/ppstore/wallet"
	dto "github.com/prometheus/client_model/go"
)

func bindingResult(h *harness, p *Payer, r string) float64 {
	var m dto.Metric
	if err := p.metrics.bindings.WithLabelValues(r).Write(&m); err != nil {
		h.t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// ledgerAccountOf is the account the ledger names for m.
func ledgerAccountOf(h *harness, p *Payer, m *miner) rollup.PublicKey {
	h.t.Helper()
	acct, ok, err := p.ledgerAccount(m.id.ID())
	if err != nil || !ok {
		h.t.Fatalf("the ledger has no account for miner %s: %v", m.id.ID().Short(), err)
	}
	return acct
}

// A miner that binds a new wallet is paid into its new account from the
// next settlement on; the ledger follows, and the change is logged with
// both accounts.
func TestRebindPaysTheNewAccount(t *testing.T) {
	h := newHarness(t)
	a := h.add(honest)
	p := h.payer()
	h.fund(p.Address(), 1000)
	if err := p.PayRound(h.ctx(), 1, passes(t, 1, a, 1, 2)); err != nil {
		t.Fatal(err)
	}
	old := a.rebind(t)
	if err := p.PayRound(h.ctx(), 2, passes(t, 2, a, 1)); err != nil {
		t.Fatal(err)
	}
	if err := p.PayRound(h.ctx(), 3, passes(t, 3, a, 1)); err != nil {
		t.Fatal(err)
	}
	if got, _ := h.pending(old); got != 20 {
		t.Fatalf("the old account holds %d, want 20 (round 1 only)", got)
	}
	if got, _ := h.pending(a.key); got != 20 {
		t.Fatalf("the new account holds %d, want 20 (rounds 2 and 3)", got)
	}
	if got := ledgerAccountOf(h, p, a); got != a.key.Public() {
		t.Fatalf("the ledger names account %s, want the new %s", got, a.key.Public())
	}
	if r, v := bindingResult(h, p, bindingRebound), bindingResult(h, p, bindingVerified); r != 1 || v != 2 {
		t.Fatalf("counted %v rebound and %v verified bindings, want 1 and 2", r, v)
	}
	if l := h.logs.lines("level=INFO", "old_account="+old.Public().String(), "new_account="+a.key.Public().String()); len(l) != 1 {
		t.Fatalf("%d log lines with both accounts at info level, want 1", len(l))
	}
}

// A miner out of reach, or one that hangs, is paid into the account of its
// last verified binding; the others are paid as usual, and the settlement
// waits for the hanging miner no longer than the binding timeout.
func TestUnreachableOrSlowMinerIsPaidToItsLastAccount(t *testing.T) {
	h := newHarness(t)
	gone, slow, ok := h.add(honest), h.add(honest), h.add(honest)
	p := h.payerWith(func(c *Config) { c.BindingTimeout = time.Second })
	h.fund(p.Address(), 1000)
	round := func(epoch uint64) error {
		all := append(passes(t, epoch, gone, 1), passes(t, epoch, slow, 2)...)
		return p.PayRound(h.ctx(), epoch, append(all, passes(t, epoch, ok, 3)...))
	}
	if err := round(1); err != nil {
		t.Fatal(err)
	}
	gone.stop()
	release := make(chan struct{})
	t.Cleanup(func() { close(release) }) // before the miner's node closes
	slow.serve(func(*miner) []byte {
		select {
		case <-release:
		case <-time.After(time.Minute):
		}
		return nil
	})
	start := time.Now()
	if err := round(2); err != nil {
		t.Fatalf("settlement with one miner gone and one hanging: %v", err)
	}
	if took := time.Since(start); took >= p.cfg.Timeout {
		t.Fatalf("the settlement took %v: the hanging miner held it past its timeout %v", took, p.cfg.Timeout)
	}
	for name, m := range map[string]*miner{"gone": gone, "slow": slow, "ok": ok} {
		if got, _ := h.pending(m.key); got != 20 {
			t.Errorf("miner %s holds %d, want 20", name, got)
		}
	}
	if f := bindingResult(h, p, bindingFallback); f != 2 {
		t.Fatalf("counted %v fallbacks to the ledger's account, want 2", f)
	}
	if l := h.logs.lines("level=WARN", "account="+gone.key.Public().String()); len(l) != 1 {
		t.Fatalf("%d warnings name the gone miner's account, want 1", len(l))
	}
}

// A binding that does not verify or names another peer never replaces the
// ledger's: the miner is paid into the account of its last verified
// binding, whatever it serves now.
func TestForgedBindingDoesNotReplaceTheLedgers(t *testing.T) {
	h := newHarness(t)
	a, b := h.add(honest), h.add(honest)
	p := h.payer()
	h.fund(p.Address(), 1000)
	if err := p.PayRound(h.ctx(), 1, passes(t, 1, a, 1)); err != nil {
		t.Fatal(err)
	}
	// Another identity's wallet, claimed for a.
	other := newMiner(t, honest)
	claimed := other.binding
	claimed.Peer = a.id.ID()
	badAccountSig, badPeerSig := a.binding, a.binding
	badAccountSig.AccountSig[0] ^= 1
	badPeerSig.PeerSig = bytes.Clone(a.binding.PeerSig)
	badPeerSig.PeerSig[0] ^= 1
	served := map[string][]byte{
		"another peer's binding":            b.binding.Marshal(),
		"another wallet claimed for a":      claimed.Marshal(),
		"a's binding, account sig broken":   badAccountSig.Marshal(),
		"a's binding, peer sig broken":      badPeerSig.Marshal(),
		"not a binding":                     []byte("{\"peer\": 7}"),
		"no wallet (CodeNoWallet) any more": nil,
	}
	want := a.key.Public()
	epoch := uint64(1)
	for name, bind := range served {
		if _, err := wallet.ParseBinding(bind); err == nil && name != "another peer's binding" {
			t.Fatalf("%s: the test's forged binding verifies", name)
		}
		a.serve(func(*miner) []byte { return bind })
		epoch++
		if err := p.PayRound(h.ctx(), epoch, passes(t, epoch, a, 1)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := ledgerAccountOf(h, p, a); got != want {
			t.Fatalf("%s replaced the ledger's account %s with %s", name, want, got)
		}
	}
	if got, _ := h.pending(a.key); got != 10*epoch {
		t.Fatalf("a holds %d, want %d (every round into its verified account)", got, 10*epoch)
	}
	if f, r := bindingResult(h, p, bindingFallback), bindingResult(h, p, bindingRebound); f != float64(len(served)) || r != 0 {
		t.Fatalf("counted %v fallbacks and %v rebinds, want %d and 0", f, r, len(served))
	}
}
