package watchdog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/inproc-go/templates/watchdog/internal/hooks"
)

// A function's lifecycle: start-up work before the first call, its own
// readiness, and cleanup after the drain.
//
// A function package registers its hooks from an init function:
//
//	func init() {
//		watchdog.OnStart(openPool)
//		watchdog.OnReady(pool.Ping)
//		watchdog.OnShutdown(closePool)
//	}
//
// Why registration from init: faas-cli owns the template's main.go and a
// user's folder only overlays the function package. main.go can't name a
// function.Start that a classic folder (only Handle) lacks, since that
// folder would no longer build, and http.HandlerFunc(function.Handle) has no
// methods for optional interfaces to find. The function package's init runs
// before main, so what it registers is there when Main looks, as with
// database/sql drivers. Only Main reads these registrations (watchdogtest
// too, so a function's tests run its hooks); New and Serve take the same
// hooks as Options (WithStart, WithReadiness, WithShutdown) and see no
// package state.

// OnStart registers a start hook for Main: it runs before the lock file is
// written and before /_/health and /_/ready answer 200, within start_timeout
// (10s by default) for all start hooks together. Its context ends at that
// bound, or at SIGTERM. An error, or the bound passing, stops the process
// with exit code 1 and the reason: the platform restarts it rather than
// route calls to a half-started function. Hooks run in registration order;
// call OnStart from the function package's init function.
func OnStart(hook func(ctx context.Context) error) { hooks.Add(hooks.Start, hook) }

// OnReady registers a readiness check for Main: while it returns an error,
// /_/ready answers 503 with the error's text, and 200 once it returns nil.
// Checks run on each probe with the probe's context, after the drain and
// max_inflight (429) checks and before ready_path; keep them quick. Call
// OnReady from the function package's init function.
func OnReady(check func(ctx context.Context) error) { hooks.Add(hooks.Ready, check) }

// OnShutdown registers a cleanup hook for Main (close pools, flush buffers):
// it runs after the drain, once no call is in flight, with a context that
// ends after the cleanup timeout (5s for all hooks together). Hooks run in
// registration order, even after one fails; a failure makes the exit code 1.
// Call OnShutdown from the function package's init function.
func OnShutdown(hook func(ctx context.Context) error) { hooks.Add(hooks.Shutdown, hook) }

// WithStart adds a start hook to a Server, as OnStart does for Main: Serve
// runs it before the server reports healthy and returns its error, or one
// saying start_timeout passed, without ever writing the lock file.
func WithStart(hook func(ctx context.Context) error) Option {
	return func(s *Server) error {
		if hook == nil {
			return errors.New("WithStart(nil): want a start hook")
		}
		s.life.start = append(s.life.start, hook)
		return nil
	}
}

// WithReadiness adds a readiness check to a Server, as OnReady does for Main.
func WithReadiness(check func(ctx context.Context) error) Option {
	return func(s *Server) error {
		if check == nil {
			return errors.New("WithReadiness(nil): want a readiness check")
		}
		s.life.ready = append(s.life.ready, check)
		return nil
	}
}

// WithShutdown adds a cleanup hook to a Server, as OnShutdown does for Main.
// (It was named OnShutdown before OnShutdown became the registration.)
func WithShutdown(hook func(ctx context.Context) error) Option {
	return func(s *Server) error {
		if hook == nil {
			return errors.New("WithShutdown(nil): want a cleanup hook")
		}
		s.hooks = append(s.hooks, hook)
		return nil
	}
}

// registered turns what the function package registered into Options, for
// Main.
func registered(set hooks.Set) []Option {
	var opts []Option
	for _, f := range set.Start {
		opts = append(opts, WithStart(f))
	}
	for _, f := range set.Ready {
		opts = append(opts, WithReadiness(f))
	}
	for _, f := range set.Shutdown {
		opts = append(opts, WithShutdown(f))
	}
	for _, m := range set.Metrics {
		opts = append(opts, WithMetrics(m))
	}
	return opts
}

// lifecycle is a Server's start hooks and readiness checks, and the
// function's own series.
type lifecycle struct {
	start   []hooks.Func
	ready   []hooks.Func
	started atomic.Bool // the start hooks have all returned nil
	metrics ownMetrics  // see ownmetrics.go
}

// untilStarted answers 503 to calls that arrive while the start hooks run,
// which only a caller ignoring /_/ready sends (a local run, say): the
// function's pool or cache isn't there yet. Without start hooks the chain is
// unchanged.
func (s *Server) untilStarted(next http.Handler) http.Handler {
	if len(s.life.start) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.life.started.Load() {
			w.Header().Set("Retry-After", "1")
			http.Error(w, "function starting: its start hooks are still running", http.StatusServiceUnavailable)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// startGrace is how long a start hook cut off at its bound may take to
// return its own error before the cut is reported without it.
const startGrace = 500 * time.Millisecond

// runStart runs the start hooks in order, within start_timeout for all of
// them, even if a hook ignores its context; ctx ending (SIGTERM) stops them
// too. The first error stops the rest.
func (s *Server) runStart(ctx context.Context) error {
	if len(s.life.start) == 0 {
		return nil
	}
	began := time.Now()
	hookCtx, cancel := context.WithTimeout(s.scope.in(ctx), s.cfg.StartTimeout)
	defer cancel()
	n := len(s.life.start)
	var running atomic.Int64 // which hook, from 1, for the error
	running.Store(1)
	done := make(chan error, 1)
	go func() {
		for i, hook := range s.life.start {
			running.Store(int64(i + 1))
			if err := hook(hookCtx); err != nil {
				done <- fmt.Errorf("start hook %d of %d: %w", i+1, n, err)
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err == nil {
			break
		}
		if hookCtx.Err() == nil {
			return err
		}
		// A hook that returned its context's error was cut off like one
		// that ignores it: say which bound, not "context deadline exceeded".
		return s.startCut(ctx, hookCtx, running.Load(), n, err)
	case <-hookCtx.Done():
		// A hook that honours its context returns soon after; its error
		// says more than "did not finish" (which connection, which step).
		grace := time.NewTimer(startGrace)
		defer grace.Stop()
		select {
		case err := <-done:
			if err == nil {
				break
			}
			return s.startCut(ctx, hookCtx, running.Load(), n, err)
		case <-grace.C:
			return s.startCut(ctx, hookCtx, running.Load(), n, nil)
		}
	}
	s.life.started.Store(true)
	s.logger.Info("started", slog.Int("start_hooks", n), slog.Duration("took", time.Since(began)))
	return nil
}

// startCut says why the start hooks were cut off: SIGTERM (ctx ended) or
// start_timeout, with what the hook returned, if it returned more than its
// context's error. The error wraps the context's error either way.
func (s *Server) startCut(ctx, hookCtx context.Context, hook int64, n int, returned error) error {
	why := fmt.Sprintf("did not finish within start_timeout (%s)", s.cfg.StartTimeout)
	if ctx.Err() != nil {
		why = fmt.Sprintf("interrupted: %v", context.Cause(ctx))
	}
	e := &startCutError{msg: fmt.Sprintf("start hook %d of %d %s", hook, n, why), err: hookCtx.Err()}
	if inner := errors.Unwrap(returned); inner != nil && inner != hookCtx.Err() {
		e.msg += ": " + inner.Error()
		e.err = inner
	}
	return e
}

type startCutError struct {
	msg string
	err error
}

func (e *startCutError) Error() string { return e.msg }
func (e *startCutError) Unwrap() error { return e.err }

// functionReady runs the function's readiness checks; the first error is the reason
// /_/ready gives for its 503.
func (h *health) functionReady(ctx context.Context) error {
	if len(h.checks) > 0 {
		ctx = h.scope.in(ctx)
	}
	for _, check := range h.checks {
		if err := check(ctx); err != nil {
			return err
		}
	}
	return nil
}
