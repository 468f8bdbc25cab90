package watchdog

import (
	"context"
	"log/slog"
)

// What code running under a Server reads through this package rather than
// from the process: the logger Logger(ctx) returns and the secrets folder
// Secret(ctx, name) reads. A call's context carries it, and so do the
// contexts the Server gives its start hooks, readiness checks and shutdown
// hooks. So each Server's settings win for the code it runs, and two Servers
// in one process (parallel tests with watchdogtest) never see each other's;
// outside them, Logger and Secret fall back to the process (slog.Default,
// the secret_mount_path variable).

// scope is a Server's answer to Logger and Secret.
type scope struct {
	logger  *slog.Logger // the Server's, which adds call ids
	secrets Secrets      // secret_mount_path of the Server's configuration
}

type scopeKey struct{}

// in is ctx carrying sc, for a hook or a check.
func (sc *scope) in(ctx context.Context) context.Context {
	return context.WithValue(ctx, scopeKey{}, sc)
}

// scopeFrom is the scope of the Server running the code whose context is
// ctx, or nil outside one (a nil ctx included).
func scopeFrom(ctx context.Context) *scope {
	if ctx == nil {
		return nil
	}
	if c := callFrom(ctx); c != nil {
		return c.scope
	}
	sc, _ := ctx.Value(scopeKey{}).(*scope)
	return sc
}
