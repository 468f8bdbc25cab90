package watchdog

import (
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
)

// internalHeader marks answers the platform made rather than the function;
// the Pro queue-worker retries them. The value matches of-watchdog's limiter.
const (
	internalHeader = "X-OpenFaaS-Internal"
	limiterSource  = "faas-middleware"
)

// limiter turns calls beyond max into an immediate 429.
type limiter struct {
	max      int64
	inflight atomic.Int64
}

// full reports whether a new call would be refused; /_/ready answers 429 then.
func (l *limiter) full() bool {
	return l.max > 0 && l.inflight.Load() >= l.max
}

//go:noinline (a layer: see Server.build)
func (l *limiter) middleware(next http.Handler) http.Handler {
	if l.max <= 0 {
		return next
	}
	body := fmt.Sprintf("Concurrent request limit exceeded. Max concurrent requests: %d\n", l.max)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Released in a defer, whatever the handler does: a panic must not
		// keep its slot, or the function would end up answering only 429.
		defer l.inflight.Add(-1)
		if l.inflight.Add(1) > l.max {
			w.Header().Set("Content-Type", "text/plain")
			w.Header().Set(internalHeader, limiterSource)
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte(body))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// withBodyLimit answers 413 to a body declared larger than max and stops a
// handler from reading more than max from an undeclared one (chunked): its
// reads fail with an *http.MaxBytesError past max. A declared length within
// max needs no guard, as net/http's body ends at Content-Length.
//
//go:noinline (a layer: see Server.build)
func withBodyLimit(max int64, next http.Handler) http.Handler {
	if max <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.ContentLength > max:
			http.Error(w, fmt.Sprintf("request body of %d bytes is over the limit of %d bytes (max_body_bytes)", r.ContentLength, max), http.StatusRequestEntityTooLarge)
			return
		case r.ContentLength < 0:
			r.Body = http.MaxBytesReader(w, r.Body, max)
		}
		next.ServeHTTP(w, r)
	})
}

// IsBodyTooLarge reports whether err came from reading a body over max_body_bytes.
func IsBodyTooLarge(err error) bool {
	var tooLarge *http.MaxBytesError
	return errors.As(err, &tooLarge)
}
