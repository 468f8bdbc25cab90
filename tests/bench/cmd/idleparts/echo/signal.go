//go:build signal

package main

import (
	"os"
	"os/signal"
	"syscall"
)

// As the watchdog: SIGTERM caught for the drain (here it just exits).
func init() {
	parts = append(parts, func() {
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGTERM)
		go func() { <-c; os.Exit(0) }()
	})
}
