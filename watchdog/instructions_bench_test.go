package watchdog

import (
	"net/http"
	"testing"
	"time"
)

// BenchmarkInstructions is BenchmarkChain as tests/instructions counts its
// instructions under callgrind: each case makes b.N calls to warm up (the
// runtime fills its type-assertion caches at random moments over the first
// thousands of calls), then b.N measured calls between instructionsStart and
// instructionsStop, where callgrind zeroes and dumps its counts
// (--zero-before and --dump-before), so a dump holds exactly b.N calls and
// nothing else. Timed as a benchmark, ns/op is the measured calls' alone.
func BenchmarkInstructions(b *testing.B) {
	for _, bench := range []struct {
		name    string
		handler func(testing.TB) http.Handler
	}{
		{"bare", func(testing.TB) http.Handler { return echo }},
		{"chain", func(tb testing.TB) http.Handler { return chainFor(tb, 10*time.Second) }},
		{"chain-no-exec-timeout", func(tb testing.TB) http.Handler { return chainFor(tb, 0) }},
	} {
		b.Run(bench.name, func(b *testing.B) {
			call := echoCaller(b, bench.handler(b))
			for range b.N {
				call()
			}
			b.ReportAllocs()
			b.ResetTimer()
			instructionsStart()
			for range b.N {
				call()
			}
			instructionsStop()
		})
	}
}

// instructionsStart and instructionsStop mark the measured calls for
// callgrind. They do nothing and are never inlined, so each run of
// BenchmarkInstructions enters each once, by a call callgrind sees.
//
//go:noinline
func instructionsStart() {}

//go:noinline
func instructionsStop() {}
