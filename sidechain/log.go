package sidechain

import (
	"context"
	"log/slog"

	cmtlog "github.com/cometbft/cometbft/libs/log"
)

// cometLogger feeds CometBFT's log lines into a slog.Logger. CometBFT logs
// a great deal at Info (every vote and block part); those lines go out at
// slog's Debug, its Debug lines below that, and its errors at Warn (a peer
// dropping is an error to CometBFT), so a node's own Info lines stay
// readable.
type cometLogger struct {
	l *slog.Logger
}

func newCometLogger(l *slog.Logger) cmtlog.Logger {
	return cometLogger{l: l.With("engine", "cometbft")}
}

func (c cometLogger) Debug(msg string, kv ...any) {
	c.l.Log(context.Background(), slog.LevelDebug-4, msg, kv...)
}
func (c cometLogger) Info(msg string, kv ...any) {
	c.l.Log(context.Background(), slog.LevelDebug, msg, kv...)
}
func (c cometLogger) Error(msg string, kv ...any) {
	c.l.Log(context.Background(), slog.LevelWarn, msg, kv...)
}
func (c cometLogger) With(kv ...any) cmtlog.Logger {
	return cometLogger{l: c.l.With(kv...)}
}
