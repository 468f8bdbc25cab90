//go:build slog

package main

import (
	"log/slog"
	"os"
)

// As the watchdog by default (log_format text): a text slog handler, set as
// the default, and its "serving" line.
func init() {
	parts = append(parts, func() {
		l := slog.New(slog.NewTextHandler(os.Stderr, nil))
		slog.SetDefault(l)
		l.Info("serving", "port", os.Getenv("port"))
	})
}
