// Package logging writes structured JSON logs in the shape Cloud Logging
// understands (severity, message, trace), and carries a request-scoped logger
// in the context. Secrets never go into log attributes.
package logging

import (
	"context"
	"io"
	"log/slog"
	"os"
)

// New returns a JSON logger for w using Cloud Logging field names.
func New(w io.Writer, level slog.Leveler) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.MessageKey:
				a.Key = "message"
			case slog.LevelKey:
				a.Key = "severity"
				if l, ok := a.Value.Any().(slog.Level); ok {
					a.Value = slog.StringValue(severity(l))
				}
			case slog.TimeKey:
				a.Key = "time"
			}
			return a
		},
	}))
}

func severity(l slog.Level) string {
	switch {
	case l >= slog.LevelError:
		return "ERROR"
	case l >= slog.LevelWarn:
		return "WARNING"
	case l >= slog.LevelInfo:
		return "INFO"
	default:
		return "DEBUG"
	}
}

// level is the process log level: info until the configuration sets
// LOG_LEVEL (shared/config).
var level slog.LevelVar

// SetLevel sets the level of every logger Default returned or returns.
func SetLevel(l slog.Level) { level.Set(l) }

// Default is the process logger: JSON on stderr, at the process level.
func Default() *slog.Logger { return New(os.Stderr, &level) }

type ctxKey struct{}

// With returns ctx carrying l.
func With(ctx context.Context, l *slog.Logger) context.Context {
	return context.WithValue(ctx, ctxKey{}, l)
}

// From returns the request logger in ctx, or slog.Default().
func From(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(ctxKey{}).(*slog.Logger); ok {
		return l
	}
	return slog.Default()
}
