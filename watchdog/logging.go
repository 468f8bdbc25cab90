package watchdog

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
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

// bufferedOutput batches log lines and writes them from a timer's goroutine
// logFlushInterval after the first line of a batch, or at once when
// logFlushSize bytes wait: one write per call cost upstream 15-25% of its
// throughput, and writing under the lock would stall every call behind a
// slow log reader (a full pipe to the container runtime). The timer is armed
// only while lines wait, so an idle function is never woken (a ticker woke
// it about 40 times a second, measured). Writers wait only when
// logMaxPending bytes are queued: back-pressure, never a lost line.
type bufferedOutput struct {
	out      io.Writer
	interval time.Duration
	flusher  *time.Timer // runs Flush on a goroutine of its own

	mu        sync.Mutex
	room      *sync.Cond // a flush took the pending lines
	pending   []byte
	scheduled bool // the flusher is armed for the pending lines
	kicked    bool // the flusher is armed to run now

	flushMu sync.Mutex // one writer to out at a time
	writing []byte     // owned by the holder of flushMu
}

const (
	logFlushInterval = 100 * time.Millisecond
	logFlushSize     = 64 << 10
	logMaxPending    = 1 << 20
)

func newBufferedOutput(w io.Writer, interval time.Duration) *bufferedOutput {
	b := &bufferedOutput{out: w, interval: interval}
	b.room = sync.NewCond(&b.mu)
	// Made disarmed; Write arms it for the first line of each batch.
	b.flusher = time.AfterFunc(time.Hour, func() { _ = b.Flush() })
	b.flusher.Stop()
	return b
}

// Write queues p, one whole log record, and never touches out.
func (b *bufferedOutput) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for len(b.pending) > 0 && len(b.pending)+len(p) > logMaxPending {
		b.room.Wait()
	}
	b.pending = append(b.pending, p...)
	switch {
	case len(b.pending) >= logFlushSize && !b.kicked:
		b.scheduled, b.kicked = true, true
		b.flusher.Reset(0)
	case !b.scheduled:
		b.scheduled = true
		b.flusher.Reset(b.interval)
	}
	return len(p), nil
}

// Flush writes everything queued so far to out.
func (b *bufferedOutput) Flush() error {
	b.flushMu.Lock()
	defer b.flushMu.Unlock()
	b.mu.Lock()
	b.pending, b.writing = b.writing[:0], b.pending
	b.scheduled, b.kicked = false, false
	b.room.Broadcast()
	b.mu.Unlock()
	if len(b.writing) == 0 {
		return nil
	}
	_, err := b.out.Write(b.writing)
	return err
}

// flushLogs writes the queued log lines before the process exits at once,
// waiting at most a second for a log reader that has stopped reading.
func (s *Server) flushLogs() {
	if s.logOut == nil {
		return
	}
	done := make(chan struct{})
	go func() { _ = s.logOut.Flush(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Second):
	}
}

// isProbe reports a Kubernetes probe by its User-Agent, read from the map
// directly: the key is canonical, so Header.Get's canonicalisation is waste.
func isProbe(r *http.Request) bool {
	ua := r.Header["User-Agent"]
	return len(ua) > 0 && strings.HasPrefix(ua[0], "kube-probe")
}

// withAccessLog writes one line per call: method, path (never the query,
// which may hold secrets), status, bytes, duration, why the answer was
// aborted if it was (see abort.go), call id and, if the call has them,
// trace and span ids. Kubernetes probes are not logged. line,
// when not nil, writes the line itself over the watchdog's own logger (see
// accessLine).
func withAccessLog(logger *slog.Logger, line *accessLine, next http.Handler) http.Handler {
	// The record is built here and handed to the handler under the call-id
	// one, with the id added once: cheaper than LogAttrs by a clock read and
	// a copy of the record (measured ~25%).
	h := logger.Handler()
	if ch, ok := h.(callIDHandler); ok {
		h = ch.Handler
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := recorderOf(w)
		next.ServeHTTP(rec, r)
		ctx := r.Context()
		if !h.Enabled(ctx, slog.LevelInfo) || isProbe(r) {
			return
		}
		end := rec.finished()
		f := accessFields{
			end:      end,
			method:   r.Method,
			path:     r.URL.Path,
			status:   callStatus(rec, r),
			bytes:    rec.bytes,
			duration: end.Sub(rec.start),
			aborted:  rec.aborted,
			callID:   loggableCallID(CallID(ctx)),
		}
		f.traceID, f.spanID = callFrom(ctx).logIDs()
		if line != nil && line.write(&f) {
			return
		}
		_ = h.Handle(ctx, f.record())
	})
}

// record is f as the slog record the access log's handler gets.
func (f *accessFields) record() slog.Record {
	record := slog.NewRecord(f.end, slog.LevelInfo, "call", 0)
	record.AddAttrs(
		slog.String("method", f.method),
		slog.String("path", f.path),
		slog.Int("status", f.status),
		slog.Int64("bytes", f.bytes),
		slog.Duration("duration", f.duration),
	)
	if f.aborted != 0 {
		record.AddAttrs(slog.String("aborted", f.aborted.String()))
	}
	// The ids in one more AddAttrs, which grows the record's overflow
	// once whether or not the trace ids come along.
	id := slog.String("call_id", f.callID)
	if f.traceID != "" {
		record.AddAttrs(id, slog.String("trace_id", f.traceID), slog.String("span_id", f.spanID))
	} else {
		record.AddAttrs(id)
	}
	return record
}
