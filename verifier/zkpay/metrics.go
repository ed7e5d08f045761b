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
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.payments, m.units, m.owed, m.balance} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
