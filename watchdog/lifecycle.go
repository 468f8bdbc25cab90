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
// it runs after the drain, once the calls in flight have finished or, at
// write_timeout, been cut off (a cut call's handler may still be running:
// Go can't stop it), with a context that ends after the cleanup timeout
// (5s for all hooks together). Hooks run in
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
func WithShutdown(hook func(ctx context.Context) error) Option {
	return func(s *Server) error {
		if hook == nil {
			return errors.New("WithShutdown(nil): want a cleanup hook")
		}
		s.life.shutdown = append(s.life.shutdown, hook)
		return nil
	}
}

// WithCleanupTimeout bounds the shutdown hooks together (default 5s).
func WithCleanupTimeout(d time.Duration) Option {
	return func(s *Server) error {
		if d <= 0 {
			return fmt.Errorf("cleanup timeout %s: want more than 0", d)
		}
		s.life.cleanupTimeout = d
		return nil
	}
}

const defaultCleanupTimeout = 5 * time.Second

// registered turns what the function package registered into Options, for
// Main.
func registered(set hooks.Set) []Option {
	return hooks.Options(set, WithStart, WithReadiness, WithShutdown,
		func(m hooks.Metrics) Option { return WithMetrics(m) })
}

// lifecycle is a Server's start hooks, readiness checks and shutdown hooks
// (the observers' Shutdown among them), and the function's own series.
type lifecycle struct {
	start          []hooks.Func
	ready          []hooks.Func
	shutdown       []hooks.Func
	cleanupTimeout time.Duration // the bound on the shutdown hooks together
	started        atomic.Bool   // the start hooks have all returned nil
	metrics        ownMetrics    // see ownmetrics.go
}

// untilStarted answers 503 to calls that arrive while the start hooks run,
// which only a caller ignoring /_/ready sends (a local run, say): the
// function's pool or cache isn't there yet. Such a call is logged and counted
// as any other (this layer is inside withCall). Without start hooks the
// chain is unchanged.
//
//go:noinline (a layer: see Server.build)
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
// them; ctx ending (SIGTERM) stops them too. The first error stops the rest.
func (s *Server) runStart(ctx context.Context) error {
	if len(s.life.start) == 0 {
		return nil
	}
	began := time.Now()
	n := len(s.life.start)
	run := runHooks(s.scope.in(ctx), s.life.start, s.cfg.StartTimeout, startGrace, false,
		func(i int, err error) error { return fmt.Errorf("start hook %d of %d: %w", i+1, n, err) })
	switch {
	case run.cut != nil:
		// A hook that returned its context's error was cut off like one
		// that ignores it: say which bound, not "context deadline exceeded".
		return s.startCut(ctx, run.cut, run.running, n, run.err)
	case run.err != nil:
		return run.err
	}
	s.life.started.Store(true)
	s.logger.Info("started", slog.Int("start_hooks", n), slog.Duration("took", time.Since(began)))
	return nil
}

// runShutdown runs the shutdown hooks in order, every one even after one
// fails, within the cleanup timeout for all of them.
func (s *Server) runShutdown() error {
	if len(s.life.shutdown) == 0 {
		return nil
	}
	run := runHooks(s.scope.in(context.Background()), s.life.shutdown, s.life.cleanupTimeout, 0, true,
		func(i int, err error) error { return fmt.Errorf("shutdown hook %d: %w", i+1, err) })
	err := run.err
	if run.cut != nil && !run.returned {
		err = fmt.Errorf("shutdown hooks did not finish within %s", s.life.cleanupTimeout)
	}
	if err != nil {
		s.logger.Error(err.Error())
	}
	return err
}

// hookRun is how a run of hooks ended.
type hookRun struct {
	err      error // the hooks' errors, each named by runHooks' name (joined with all)
	returned bool  // the hooks returned, not cut off by the bound
	// cut is the hooks' context's error if it ended (the bound passed, or
	// the caller's context ended) before they returned, or before one
	// returned an error; nil otherwise.
	cut     error
	running int // the hook running when the run ended, from 1
}

// runHooks runs hs in order on a goroutine of their own, with a context
// that ends after bound or with ctx, and returns once they have returned or
// that context has ended, even if a hook ignores it. With all set every hook
// runs even after one fails; otherwise the first error stops the rest. Once
// the context has ended, it waits up to grace for the running hook to
// return: a hook that honours its context returns soon after, and its error
// says more than "did not finish" (which connection, which step).
func runHooks(ctx context.Context, hs []hooks.Func, bound, grace time.Duration, all bool, name func(i int, err error) error) hookRun {
	hookCtx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	var running atomic.Int64
	running.Store(1)
	done := make(chan error, 1)
	go func() {
		var errs []error
		for i, hook := range hs {
			running.Store(int64(i + 1))
			if err := hook(hookCtx); err != nil {
				if !all {
					done <- name(i, err)
					return
				}
				errs = append(errs, name(i, err))
			}
		}
		done <- errors.Join(errs...)
	}()
	var run hookRun
	select {
	case run.err = <-done:
		run.returned = true
	case <-hookCtx.Done():
		if grace > 0 {
			t := time.NewTimer(grace)
			defer t.Stop()
			select {
			case run.err = <-done:
				run.returned = true
			case <-t.C:
			}
		}
	}
	run.running = int(running.Load())
	if err := hookCtx.Err(); err != nil && (!run.returned || run.err != nil) {
		run.cut = err
	}
	return run
}

// startCut says why the start hooks were cut off: SIGTERM (ctx ended) or
// start_timeout, with what the hook returned, if it returned more than its
// context's error. The error wraps the context's error either way.
func (s *Server) startCut(ctx context.Context, cut error, hook, n int, returned error) error {
	why := fmt.Sprintf("did not finish within start_timeout (%s)", s.cfg.StartTimeout)
	if ctx.Err() != nil {
		why = fmt.Sprintf("interrupted: %v", context.Cause(ctx))
	}
	e := &startCutError{msg: fmt.Sprintf("start hook %d of %d %s", hook, n, why), err: cut}
	if inner := errors.Unwrap(returned); inner != nil && inner != cut {
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
