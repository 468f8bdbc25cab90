//go:build slog

package main

import (
	"log/slog"
	"os"
)

// As the watchdog: a JSON slog handler and its "serving" line.
func init() {
	parts = append(parts, func() {
		slog.New(slog.NewJSONHandler(os.Stderr, nil)).Info("serving", "port", os.Getenv("port"))
	})
}
