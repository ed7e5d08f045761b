package zkpay

import (
	"fmt"
	"log/slog"
)

// pebbleLogger sends the ledger's pebble messages to the payer's log: its
// routine chatter at debug level, its errors as errors.
type pebbleLogger struct{ log *slog.Logger }

func (l pebbleLogger) Infof(format string, args ...any) {
	l.log.Debug("pebble (payments): " + fmt.Sprintf(format, args...))
}

func (l pebbleLogger) Errorf(format string, args ...any) {
	l.log.Error("pebble (payments): " + fmt.Sprintf(format, args...))
}

func (l pebbleLogger) Fatalf(format string, args ...any) {
	msg := "pebble (payments): " + fmt.Sprintf(format, args...)
	l.log.Error(msg)
	panic(msg)
}
