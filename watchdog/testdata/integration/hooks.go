package main

import (
	"context"
	"errors"
	"log/slog"
	"os"

	"github.com/inproc-go/templates/watchdog"
)

// Lifecycle hooks registered from init, as a function package would, with
// main.go untouched. integration_start chooses what the start hook does:
//
//	fail   return an error
//	hang   block, ignoring its context
//	(else) nothing
//
// With integration_hooks=1 two shutdown hooks log "shutdown hook 1" and
// "shutdown hook 2" through slog's default logger (the watchdog's, set by
// Main), so a test can see where they ran in the drain.
func init() {
	switch os.Getenv("integration_start") {
	case "fail":
		watchdog.OnStart(func(ctx context.Context) error {
			return errors.New("integration: opening the pool: connection refused")
		})
	case "hang":
		watchdog.OnStart(func(ctx context.Context) error { select {} })
	}
	if os.Getenv("integration_hooks") == "1" {
		watchdog.OnStart(func(ctx context.Context) error {
			slog.InfoContext(ctx, "start hook")
			return nil
		})
		for _, msg := range []string{"shutdown hook 1", "shutdown hook 2"} {
			watchdog.OnShutdown(func(ctx context.Context) error {
				slog.InfoContext(ctx, msg)
				return nil
			})
		}
	}
}
