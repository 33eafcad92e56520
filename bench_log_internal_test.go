package tractor

import (
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/rs/zerolog"
)

// BenchmarkLog measures one warning, written as JSON and dropped, and one
// debug line at the default level, which writes nothing: through the
// runtime's slog logger, beside zerolog, the engine it replaced, doing
// the same.
func BenchmarkLog(b *testing.B) {
	id := ActorID{Name: "worker", UID: "0123456789abcdef"}
	peer := ActorID{Name: "peer", UID: "fedcba9876543210"}
	err := errors.New("connection reset")
	zl := zerolog.New(io.Discard).Level(zerolog.WarnLevel).With().Timestamp().
		Str("actor", id.Name).Str("uid", id.UID).Logger()
	cfg := defaultConfig()
	cfg.logLevel = slog.LevelWarn
	cfg.logHandler = newOutputHandler(io.Discard, false)
	a := &Actor{id: id, cfg: cfg}

	b.Run("warn/baseline=zerolog", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			zl.Warn().Err(err).Stringer("peer", &peer).Msg("connection to peer failed")
		}
	})
	b.Run("warn/tractor=slog", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			a.logger().Warn("connection to peer failed", slog.Any("err", err), slog.String("peer", peer.String()))
		}
	})
	zdebug := func() *zerolog.Event {
		if zerolog.WarnLevel > zerolog.DebugLevel {
			return nil
		}
		return zl.Debug()
	}
	b.Run("debug-off/baseline=zerolog", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			zdebug().Stringer("by", &peer).Str("reason", "ctx").Msg("actor cancel requested")
		}
	})
	b.Run("debug-off/tractor=slog", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if l := a.debug(); l != nil {
				l.Debug("actor cancel requested", slog.String("by", peer.String()), slog.String("reason", "ctx"))
			}
		}
	})
}
