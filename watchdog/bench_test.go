package watchdog

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
	"unsafe"
)

// echo is the function under the benchmark: it copies the body back.
var echo = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	_, _ = io.Copy(w, r.Body)
})

// chainFor is the function chain as Server routes it (metrics, call id,
// access log, limiter, recover, exec timeout, body limit) around echo, with
// the watchdog's own JSON logger, batched as in production, into io.Discard.
func chainFor(tb testing.TB, exec time.Duration) http.Handler {
	return chainWith(tb, exec, withOwnLogger(io.Discard))
}

// chainWith is chainFor with the logger opt gives.
func chainWith(tb testing.TB, exec time.Duration, opt Option) http.Handler {
	cfg := testConfig(tb)
	cfg.ExecTimeout = exec
	cfg.MaxInflight = 1000
	cfg.MaxBodyBytes = 1 << 20
	cfg.LogFormat = "json"
	s, err := New(echo, WithConfig(cfg), opt)
	if err != nil {
		tb.Fatal(err)
	}
	return s.fnServer.Handler
}

// withOwnLogger gives the Server the logger New makes when WithLogger is
// left out, in its configured format, over out instead of stderr. It must
// come after WithConfig.
func withOwnLogger(out io.Writer) Option {
	return func(s *Server) error {
		s.logOut = newBufferedOutput(out, logFlushInterval)
		s.logger = newLogger(s.logOut, s.cfg.LogFormat)
		return nil
	}
}

// echoCaller calls h with one POST, over and over, as net/http would: a
// cancellable request context and no X-Call-Id, so each call makes its id.
// header holds name, value pairs the request carries besides.
func echoCaller(tb testing.TB, h http.Handler, header ...string) func() {
	payload := []byte(`{"hello":"world"}`)
	body := bytes.NewReader(payload)
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	req := httptest.NewRequestWithContext(ctx, "POST", "/", io.NopCloser(body))
	req.ContentLength = int64(len(payload))
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return func() {
		body.Reset(payload)
		req.Header.Del(CallIDHeader)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || rec.Body.Len() != len(payload) {
			tb.Fatalf("%d %q", rec.Code, rec.Body)
		}
	}
}

// BenchmarkChain measures what the watchdog adds to a call: the same echo
// handler bare and behind the whole chain. The difference in ns/op and
// allocs/op is the SDK's overhead per call.
func BenchmarkChain(b *testing.B) {
	for _, bench := range []struct {
		name    string
		handler func(testing.TB) http.Handler
	}{
		{"bare", func(testing.TB) http.Handler { return echo }},
		{"chain", func(tb testing.TB) http.Handler { return chainFor(tb, 10*time.Second) }},
		{"chain-no-exec-timeout", func(tb testing.TB) http.Handler { return chainFor(tb, 0) }},
		{"chain-traceparent", func(tb testing.TB) http.Handler { return chainFor(tb, 10*time.Second) }},
		// A logger of the user's: the access log goes through its handler.
		{"chain-withlogger", func(tb testing.TB) http.Handler {
			return chainWith(tb, 10*time.Second, WithLogger(slog.New(slog.NewJSONHandler(io.Discard, nil))))
		}},
	} {
		b.Run(bench.name, func(b *testing.B) {
			var header []string
			if bench.name == "chain-traceparent" {
				header = traceHeaders
			}
			call := echoCaller(b, bench.handler(b), header...)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				call()
			}
		})
	}
}

// TestChainAllocations keeps the chain's allocations per call from creeping
// up: one over the bare handler's (the call, see call.go), with exec_timeout
// and without. Counts, not timings, so the machine's load doesn't matter.
func TestChainAllocations(t *testing.T) {
	if raceDetector {
		t.Skip("allocation counts differ under -race; scripts/test.sh runs this test without it")
	}
	bare := testing.AllocsPerRun(200, echoCaller(t, echo))
	for _, tc := range []struct {
		exec time.Duration
		max  float64
	}{{10 * time.Second, 1}, {0, 1}} {
		got := testing.AllocsPerRun(200, echoCaller(t, chainFor(t, tc.exec))) - bare
		if got > tc.max {
			t.Errorf("exec_timeout=%s: the chain allocates %.0f times per call over the bare handler, want at most %.0f", tc.exec, got, tc.max)
		}
		// A traceparent costs no allocation: its ids are slices of the header.
		got = testing.AllocsPerRun(200, echoCaller(t, chainFor(t, tc.exec), traceHeaders...)) - bare
		if got > tc.max {
			t.Errorf("exec_timeout=%s, with a traceparent: the chain allocates %.0f times per call over the bare handler, want at most %.0f", tc.exec, got, tc.max)
		}
	}
}

// TestCallSize keeps the call, the one allocation the watchdog makes for
// every call, within its size class: a field added to it moves every call
// to the next class up. On 64-bit platforms; pointers are smaller elsewhere.
func TestCallSize(t *testing.T) {
	const sizeClass = 768
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("sized for 64-bit platforms")
	}
	if got := unsafe.Sizeof(call{}); got > sizeClass {
		t.Errorf("call is %d bytes, over the %d-byte size class", got, sizeClass)
	}
}

// traceHeaders are a caller's W3C trace context, for the chain's figures.
var traceHeaders = []string{"Traceparent", validTP, "Tracestate", "congo=t61rcWkgMzE"}
