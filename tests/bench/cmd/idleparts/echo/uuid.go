//go:build uuid

package main

import "github.com/google/uuid"

// As the watchdog: call ids from google/uuid with its pool of randomness.
func init() {
	parts = append(parts, func() {
		uuid.EnableRandPool()
		_ = uuid.NewString()
	})
}
