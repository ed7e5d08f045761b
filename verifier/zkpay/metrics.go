package zkpay

import "github.com/prometheus/client_golang/prometheus"

// Results of a payment attempt, the label of ppstore_verifier_payments_total.
const (
	resultPaid        = "paid"          // the operator accepted the transfer
	resultOutOfFunds  = "out_of_funds"  // the verifier's account cannot cover it; passes stay owed
	resultNoWallet    = "no_wallet"     // the miner has no (valid) wallet binding; passes stay owed
	resultUnreachable = "unreachable"   // the miner could not be asked for its binding
	resultOperator    = "operator_down" // the zkstore operator did not answer; retried next settlement
	resultRefused     = "refused"       // the operator refused the transfer; passes owed again
)

// metrics are the payer's Prometheus metrics.
type metrics struct {
	payments *prometheus.CounterVec
	units    prometheus.Counter
	owed     prometheus.Gauge
	balance  prometheus.Gauge
	bindings *prometheus.CounterVec
	pruned   prometheus.Counter
	stale    prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		payments: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ppstore_verifier_payments_total",
			Help: "Payments to miners for passed proofs, by result (paid, out_of_funds, no_wallet, unreachable, operator_down, refused)."}, []string{"result"}),
		units: prometheus.NewCounter(prometheus.CounterOpts{Name: "ppstore_verifier_paid_units_total",
			Help: "zkStore units paid to miners in transfers the operator accepted."}),
		owed: prometheus.NewGauge(prometheus.GaugeOpts{Name: "ppstore_verifier_owed_passes",
			Help: "Passed proofs recorded and not yet paid."}),
		balance: prometheus.NewGauge(prometheus.GaugeOpts{Name: "ppstore_verifier_payer_balance",
			Help: "The verifier's paying account's pending balance at the last settlement, in zkStore units."}),
		bindings: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ppstore_verifier_wallet_bindings_total",
			Help: "Miners asked for their wallet binding at a settlement, by result (verified, rebound: paid into a new account from now on, fallback: unreachable or invalid, paid into the last verified account)."}, []string{"result"}),
		pruned: prometheus.NewCounter(prometheus.CounterOpts{Name: "ppstore_verifier_paid_records_pruned_total",
			Help: "Paid-pass records deleted from the payment ledger because their epoch fell out of the kept window."}),
		stale: prometheus.NewCounter(prometheus.CounterOpts{Name: "ppstore_verifier_stale_passes_total",
			Help: "Passes handed over for an epoch whose paid records were pruned, not recorded (a round is paid when it is first handed over)."}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.payments, m.units, m.owed, m.balance, m.bindings, m.pruned, m.stale} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
