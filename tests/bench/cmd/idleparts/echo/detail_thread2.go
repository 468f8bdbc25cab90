//go:build detail_thread && detail_thread2

package main

// A second OS thread held blocked (idleparts -detail): signal.Notify adds two.
func init() { parts = append(parts, holdThread) }
