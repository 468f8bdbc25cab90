package watchdog

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"
)

// CallObserver is told of every call on the function route (not /_/health
// or /_/ready) as it arrives and once it is over, with the status the
// caller got: what a tracer needs to put a span around each call without
// the watchdog linking one. Package otelwatchdog has the OpenTelemetry one.
type CallObserver interface {
	// Start runs as the call arrives, once it has its call id, ahead of
	// max_inflight, jwt_auth, exec_timeout and panic recovery, so End sees
	// their answers. The context it returns must be r.Context() or derived
	// from it: the rest of the chain and the handler get it, so CallID and
	// Logger still find the call. An observer that starts a span names it
	// with SetCallSpan, so the call's log lines carry its ids.
	Start(r *http.Request) context.Context
	// End runs once the call is over, panics included, with the context
	// Start returned. A handler still running after its 504 ends when it
	// returns, as its metrics and access-log line do.
	End(ctx context.Context, result CallResult)
	// Shutdown runs after the drain, after the shutdown hooks, within the
	// same cleanup timeout; an error counts as a shutdown hook's.
	Shutdown(ctx context.Context) error
}

// CallResult is how a call ended, as the metrics and access log record it.
type CallResult struct {
	// Status is the status sent: the watchdog's own 429, 413, 504 and a
	// panic's 500 included; 499 when the caller left before any answer.
	Status int
	// Bytes is the body bytes written.
	Bytes int64
	// End is when the call was done: the clock reading the metrics and the
	// access log use.
	End time.Time
	// Aborted reports that the connection was dropped instead of the answer
	// being finished: a panic, or the deadline passing, after the answer had
	// begun, or http.ErrAbortHandler.
	Aborted bool
}

// WithCallObserver has New build a CallObserver once the configuration is
// known (as WithAuth does an Authenticator) and tell it of every call.
// Observers given by several options nest in order, the first outermost.
// A constructor's error is returned by New. An observer that is also
// Metrics (a count of spans it could not send, say) has its series served
// on the metrics endpoint, checked as WithMetrics' are.
func WithCallObserver(newObserver func(Config, *slog.Logger) (CallObserver, error)) Option {
	return func(s *Server) error {
		if newObserver == nil {
			return errors.New("WithCallObserver(nil): want a CallObserver constructor")
		}
		s.newObservers = append(s.newObservers, newObserver)
		return nil
	}
}

// buildObservers runs the constructors and queues each observer's Shutdown
// after the shutdown hooks given so far, so spans a hook makes are flushed.
func (s *Server) buildObservers() error {
	for _, newObserver := range s.newObservers {
		o, err := newObserver(s.cfg, s.logger)
		if err != nil {
			return err
		}
		if o == nil {
			return errors.New("WithCallObserver: the constructor returned no observer and no error")
		}
		if m, ok := o.(Metrics); ok {
			if err := s.life.metrics.add(m); err != nil {
				return err
			}
		}
		s.observers = append(s.observers, o)
		s.life.shutdown = append(s.life.shutdown, o.Shutdown)
	}
	return nil
}

// observe wraps next in the observers, the first outermost.
func observe(observers []CallObserver, next callHandler) callHandler {
	for i := len(observers) - 1; i >= 0; i-- {
		next = withObserver(observers[i], next)
	}
	return next
}

//go:noinline (a layer: see Server.build)
func withObserver(o CallObserver, next callHandler) callHandler {
	return func(rec *recorder, r *http.Request) {
		if ctx := o.Start(r); ctx != r.Context() {
			r = r.WithContext(ctx)
		}
		returned := false
		defer func() {
			// Deferred, so a call whose panic drops the connection ends too.
			end, _ := rec.finished()
			o.End(r.Context(), CallResult{Status: callStatus(rec, r), Bytes: rec.bytes, End: end, Aborted: !returned || rec.aborted != 0})
		}()
		next(rec, r)
		returned = true
	}
}
