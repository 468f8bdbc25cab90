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
)

// echo is the function under the benchmark: it copies the body back.
var echo = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	_, _ = io.Copy(w, r.Body)
})

// BenchmarkChain measures what the watchdog adds to a call: the same echo
// handler bare, and behind the whole function chain (metrics, call id, access
// log, limiter, recover, exec timeout, body limit) as Server routes it, with a
// JSON access log into io.Discard. The difference in ns/op and allocs/op is
// the SDK's overhead per call.
func BenchmarkChain(b *testing.B) {
	payload := []byte(`{"hello":"world"}`)
	chain := func(b *testing.B, exec time.Duration) http.Handler {
		cfg := testConfig(b)
		cfg.ExecTimeout = exec
		cfg.MaxInflight = 1000
		cfg.MaxBodyBytes = 1 << 20
		logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
		s, err := New(echo, WithConfig(cfg), WithLogger(logger))
		if err != nil {
			b.Fatal(err)
		}
		return s.fnServer.Handler
	}
	for _, bench := range []struct {
		name    string
		handler func(*testing.B) http.Handler
	}{
		{"bare", func(*testing.B) http.Handler { return echo }},
		{"chain", func(b *testing.B) http.Handler { return chain(b, 10*time.Second) }},
		{"chain-no-exec-timeout", func(b *testing.B) http.Handler { return chain(b, 0) }},
	} {
		b.Run(bench.name, func(b *testing.B) {
			h := bench.handler(b)
			body := bytes.NewReader(payload)
			// net/http gives each request a cancellable context; so does this.
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req := httptest.NewRequestWithContext(ctx, "POST", "/", io.NopCloser(body))
			req.ContentLength = int64(len(payload))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				body.Reset(payload)
				req.Header.Del(CallIDHeader) // a new id each call, as without a gateway
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK || rec.Body.Len() != len(payload) {
					b.Fatalf("%d %q", rec.Code, rec.Body)
				}
			}
		})
	}
}
