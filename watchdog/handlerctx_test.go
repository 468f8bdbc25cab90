package watchdog

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// deadlineReport answers how the handler's context looks: whether it is the
// call itself, whether it has a deadline and whether it carries the value
// of a wrapping observer.
var deadlineReport = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	_, hasDeadline := ctx.Deadline()
	_, wrapped := ctx.Value(wrappedKey{}).(bool)
	fmt.Fprintf(w, "call %t, deadline %t, wrapped %t", callFrom(ctx) == ctx, hasDeadline, wrapped)
})

type wrappedKey struct{}

// contextObserver returns Start's request context as it is, or (wrap)
// wrapped with a value, and hands End's context's Err to a channel.
type contextObserver struct {
	wrap  bool
	ended chan error
}

func (o contextObserver) Start(r *http.Request) context.Context {
	if o.wrap {
		return context.WithValue(r.Context(), wrappedKey{}, true)
	}
	return r.Context()
}
func (o contextObserver) End(ctx context.Context, _ CallResult) { o.ended <- ctx.Err() }
func (contextObserver) Shutdown(context.Context) error          { return nil }

// With nothing around the call but the watchdog's own layers, the call
// itself is the handler's context under exec_timeout, with the deadline.
// With an observer it is not, wrapped or not: a wrapping one's values must
// reach the handler, and no observer's End may see the call's context end
// with the handler's (Err is the request's, nil for a call answered).
func TestCallIsHandlerContext(t *testing.T) {
	for _, tc := range []struct {
		name     string
		observer *contextObserver
		want     string
	}{
		{"no observer", nil, "call true, deadline true, wrapped false"},
		{"observer", &contextObserver{false, make(chan error, 1)}, "call false, deadline true, wrapped false"},
		{"wrapping observer", &contextObserver{true, make(chan error, 1)}, "call false, deadline true, wrapped true"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var opts []Option
			if tc.observer != nil {
				opts = append(opts, WithCallObserver(func(Config, *slog.Logger) (CallObserver, error) { return *tc.observer, nil }))
			}
			ts := startServer(t, testConfig(t), deadlineReport, opts...)
			if res, body := ts.get("/"); res.StatusCode != http.StatusOK || body != tc.want {
				t.Errorf("%d %q, want 200 %q", res.StatusCode, body, tc.want)
			}
			if tc.observer == nil {
				return
			}
			select {
			case err := <-tc.observer.ended:
				if err != nil {
					t.Errorf("End's context: Err() = %v, want nil", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("End not called within 5s")
			}
		})
	}
}

// The call is the handler's context only while it is the request's context
// when exec_timeout gets it: a layer that wrapped it keeps seeing the call
// as the request's context, not ended with the handler's.
func TestCallIsHandlerContextOnlyUnwrapped(t *testing.T) {
	timeout := newExecTimeout(5 * time.Second)
	timeout.callIsContext = true
	var outerErr error // the call's Err, as the wrapping layer sees it once the handler returned
	wrap := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), wrappedKey{}, true)))
			outerErr = r.Context().Err()
		})
	}
	for _, tc := range []struct {
		name string
		h    http.Handler
		want string
	}{
		{"unwrapped", timeout.middleware(deadlineReport), "call true, deadline true, wrapped false"},
		{"wrapped", wrap(timeout.middleware(deadlineReport)), "call false, deadline true, wrapped true"},
	} {
		rec := httptest.NewRecorder()
		withCall(&scope{logger: slog.New(slog.DiscardHandler)}, 0, func(time.Time) {}, tc.h).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		if rec.Code != http.StatusOK || rec.Body.String() != tc.want {
			t.Errorf("%s: %d %q, want 200 %q", tc.name, rec.Code, rec.Body, tc.want)
		}
	}
	if outerErr != nil {
		t.Errorf("wrapped: the call's context, outside the wrapper, ended with %v once the handler returned; want nil", outerErr)
	}
}
