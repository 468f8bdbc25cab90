package watchdog

import (
	"context"
	"io"
	"log/slog"
)

// maxLoggedCallID bounds how much of a caller-chosen call id reaches the logs.
const maxLoggedCallID = 128

// Logger returns the watchdog's logger for the call whose context is ctx:
// every record it writes carries the call's id as "call_id" and, when the
// call has them, "trace_id" and "span_id": those of the span an observer
// started (SetCallSpan), else the caller's from a valid traceparent (see
// CallSpan). In a start hook, readiness check or shutdown hook it returns
// the watchdog's logger too, without a call id, so the hook's lines are in
// the watchdog's log and log_format; outside all of these (a goroutine on a
// context of its own) it returns slog.Default().
//
// In-process there is no per-call stdout prefix (no process boundary to add
// one), so log through this logger to tie lines to a call.
func Logger(ctx context.Context) *slog.Logger {
	c := callFrom(ctx)
	if c == nil {
		if sc := scopeFrom(ctx); sc != nil {
			return sc.logger
		}
		return slog.Default()
	}
	// Bind the id here, since Info and friends don't pass ctx on; below the
	// call-id handler, so InfoContext doesn't add it a second time.
	h := c.scope.logger.Handler()
	if ch, ok := h.(callIDHandler); ok {
		h = ch.Handler
	}
	attrs := []slog.Attr{slog.String("call_id", loggableCallID(c.id))}
	if traceID, spanID := c.logIDs(); traceID != "" {
		attrs = append(attrs, slog.String("trace_id", traceID), slog.String("span_id", spanID))
	}
	return slog.New(h.WithAttrs(attrs))
}

// callIDHandler is a slog.Handler that adds the call id (and trace ids)
// found in the record's context, so one shared logger serves every call
// without a per-call With.
type callIDHandler struct{ slog.Handler }

func (h callIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if c := callFrom(ctx); c != nil && c.id != "" {
		r.AddAttrs(slog.String("call_id", loggableCallID(c.id)))
		if traceID, spanID := c.logIDs(); traceID != "" {
			r.AddAttrs(slog.String("trace_id", traceID), slog.String("span_id", spanID))
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h callIDHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return callIDHandler{h.Handler.WithAttrs(attrs)}
}

func (h callIDHandler) WithGroup(name string) slog.Handler {
	return callIDHandler{h.Handler.WithGroup(name)}
}

func loggableCallID(id string) string {
	if len(id) <= maxLoggedCallID {
		return id
	}
	return id[:maxLoggedCallID] + "...(truncated)"
}

// newLogger builds the watchdog's logger over out in the chosen format.
func newLogger(out io.Writer, format string) *slog.Logger {
	opts := &slog.HandlerOptions{}
	var h slog.Handler = newStackText(out, opts)
	if format == "json" {
		h = slog.NewJSONHandler(out, opts)
	}
	return slog.New(callIDHandler{h})
}
