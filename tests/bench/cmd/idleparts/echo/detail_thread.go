//go:build detail_thread

package main

import "runtime"

// What an OS thread held blocked costs (idleparts -detail), as os/signal's
// loop holds one in the runtime.
func init() { parts = append(parts, holdThread) }

func holdThread() { go func() { runtime.LockOSThread(); select {} }() }
