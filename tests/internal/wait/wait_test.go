package wait

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestHealthy: only a 200 ends the wait well; a timeout names the last
// answer; gone and ctx end it early. The timeouts bound each case's wait,
// nothing measures speed.
func TestHealthy(t *testing.T) {
	errGone := errors.New("exited with code 3")
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close() // a port nothing listens on: every ask is refused

	for _, tc := range []struct {
		name     string
		statuses []int // the server's answers in turn, the last one repeated; nil: no server
		timeout  time.Duration
		goneAt   int64 // gone returns errGone from this call on; 0: never
		noGone   bool  // Healthy gets a nil gone
		cancel   bool  // ctx cancelled before the wait
		want     error // nil, ErrTimeout, errGone or context.Canceled
		wantMsg  string
		wantAsks int64 // asks the server saw, when a server runs
	}{
		{name: "200 at once", statuses: []int{200}, timeout: time.Minute, wantAsks: 1},
		{name: "503, 404, then 200", statuses: []int{503, 404, 200}, timeout: time.Minute, wantAsks: 3},
		{name: "204 is not 200, no gone", statuses: []int{204}, timeout: 50 * time.Millisecond, noGone: true, want: ErrTimeout, wantMsg: "no 200 within 50ms (last: status 204 No Content)"},
		{name: "refused", timeout: 50 * time.Millisecond, want: ErrTimeout, wantMsg: "connection refused"},
		{name: "gone", statuses: []int{503}, timeout: time.Minute, goneAt: 2, want: errGone, wantAsks: 2},
		{name: "gone not asked after a 200", statuses: []int{200}, timeout: time.Minute, goneAt: 1, wantAsks: 1},
		{name: "ctx cancelled", statuses: []int{503}, timeout: time.Minute, cancel: true, want: context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var asks atomic.Int64
			url := closed.URL + "/_/health"
			if tc.statuses != nil {
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.Method != http.MethodGet || r.URL.Path != "/_/health" {
						t.Errorf("asked %s %s, want GET /_/health", r.Method, r.URL.Path)
					}
					n := min(int(asks.Add(1)), len(tc.statuses))
					w.WriteHeader(tc.statuses[n-1])
				}))
				defer srv.Close()
				url = srv.URL + "/_/health"
			}
			ctx, cancel := context.WithCancel(context.Background())
			if tc.cancel {
				cancel()
			}
			defer cancel()
			var gones atomic.Int64
			gone := func() error {
				if n := gones.Add(1); tc.goneAt != 0 && n >= tc.goneAt {
					return errGone
				}
				return nil
			}
			if tc.noGone {
				gone = nil
			}
			err := Healthy(ctx, &http.Client{Timeout: time.Second}, url, tc.timeout, time.Millisecond, gone)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("Healthy: %v, want %v", err, tc.want)
			}
			if tc.wantMsg != "" && !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error %q does not say %q", err, tc.wantMsg)
			}
			if tc.statuses != nil && tc.wantAsks != 0 && asks.Load() != tc.wantAsks {
				t.Errorf("%d asks, want %d", asks.Load(), tc.wantAsks)
			}
		})
	}
}
