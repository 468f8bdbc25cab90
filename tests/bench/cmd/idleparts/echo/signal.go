//go:build signal

package main

import (
	"os"
	"os/signal"
	"syscall"
)

// As the watchdog: SIGTERM and SIGINT caught for the drain (here the first
// just exits).
func init() {
	parts = append(parts, func() {
		c := make(chan os.Signal, 2)
		signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
		go func() { <-c; os.Exit(0) }()
	})
}
