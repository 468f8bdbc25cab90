package watchdog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/inproc-go/templates/watchdog/internal/testkit"
)

// A handler that ignores its context gets the caller a 504 at the deadline;
// its late writes go nowhere (and race nothing, under -race), and it counts
// as overdue until it returns.
func TestExecTimeout504(t *testing.T) {
	cfg := testConfig(t)
	cfg.ExecTimeout = 200 * time.Millisecond
	release := make(chan struct{})
	lateErr := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release // ignores r.Context()
		w.Header().Set("X-Late", "yes")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, err := io.WriteString(w, "late answer")
		w.(http.Flusher).Flush()
		lateErr <- errors.Join(err, http.NewResponseController(w).Flush())
	})
	ts := startServer(t, cfg, h)
	var once bool
	t.Cleanup(func() {
		if !once {
			close(release)
		}
	})

	start := time.Now()
	res, body := ts.get("/", CallIDHeader, "call-504")
	elapsed := time.Since(start)
	if res.StatusCode != http.StatusGatewayTimeout {
		t.Fatalf("status %d, want 504", res.StatusCode)
	}
	if elapsed < 190*time.Millisecond || elapsed > 2*time.Second {
		t.Errorf("504 after %v, want about 200ms", elapsed)
	}
	if got := res.Header.Get("X-OpenFaaS-Internal"); got != "of-watchdog" {
		t.Errorf("X-OpenFaaS-Internal = %q, want of-watchdog", got)
	}
	if got := res.Header.Get(CallIDHeader); got != "call-504" {
		t.Errorf("504 call id = %q", got)
	}
	if want := "the function did not answer within 200ms (exec_timeout)\n"; body != want {
		t.Errorf("504 body = %q, want %q", body, want)
	}
	if res.Header.Get("X-Late") != "" {
		t.Error("the late handler's header reached the caller")
	}
	if v := ts.metric("watchdog_overdue_handlers"); v != 1 {
		t.Errorf("watchdog_overdue_handlers while the handler runs on = %v, want 1", v)
	}
	// The handler runs on in the call's own goroutine: it is still in
	// flight, and the call is counted when it returns.
	if v := ts.metric("http_requests_in_flight"); v != 1 {
		t.Errorf("in flight while the overdue handler runs = %v, want 1", v)
	}
	if !res.Close {
		t.Error("the 504 did not say Connection: close (the handler still holds the connection)")
	}
	warn := ts.logs.withMsg(t, "exec_timeout: no answer from the handler in time; answered 504, handler still running")
	if len(warn) != 1 || warn[0]["call_id"] != "call-504" || warn[0]["level"] != "WARN" {
		t.Errorf("exec_timeout warning: %v", warn)
	}

	once = true
	close(release)
	select {
	case err := <-lateErr:
		if !errors.Is(err, errAbandoned) {
			t.Errorf("late write: %v, want errAbandoned", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("handler did not return")
	}
	testkit.WaitFor(t, 2*time.Second, "watchdog_overdue_handlers 0", func() bool {
		return ts.metric("watchdog_overdue_handlers") == 0
	})
	// The connection is still good for the next call.
	if code, _ := ts.status("GET", "/_/health"); code != 200 {
		t.Errorf("health after the late handler = %d", code)
	}
	if v := ts.metric(`http_requests_total{code="504",method="get"}`); v != 1 {
		t.Errorf("504s counted once the handler returned: %v, want 1", v)
	}
	if v := ts.metric("http_requests_in_flight"); v != 0 {
		t.Errorf("in flight after the handler returned = %v, want 0", v)
	}
}

// A handler that watches its context and, at the deadline, returns without
// writing or writes an answer of its own gets the caller the watchdog's 504,
// not an empty 200 nor a cut answer (an EOF), whichever side notices the
// deadline first: an answer can't begin once the deadline has passed.
func TestExecTimeoutHandlerHonoursContext(t *testing.T) {
	handlers := map[string]http.Handler{
		"returns": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Handler", "1")
			<-r.Context().Done()
		}),
		"answers": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Handler", "1")
			<-r.Context().Done()
			http.Error(w, "gave up", http.StatusServiceUnavailable)
		}),
		"JSON returns ctx.Err()": JSON(func(ctx context.Context, _ struct{}) (struct{}, error) {
			<-ctx.Done()
			return struct{}{}, ctx.Err()
		}),
	}
	for name, h := range handlers {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.ExecTimeout = 20 * time.Millisecond
			ts := startServer(t, cfg, h)
			for i := range 20 { // the two sides race; try it a few times
				res, body := ts.get("/")
				if res.StatusCode != http.StatusGatewayTimeout || res.Header.Get("X-Handler") != "" || !strings.Contains(body, "(exec_timeout)") {
					t.Fatalf("call %d = %d %q %v, want the watchdog's 504", i, res.StatusCode, body, res.Header)
				}
			}
			testkit.WaitFor(t, 2*time.Second, "overdue back to 0", func() bool { return ts.srv.timeout.overdue.Load() == 0 })
		})
	}
}

// Trailers set after the answer began reach the caller under exec_timeout
// as they do without it.
func TestExecTimeoutTrailers(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Checksum")
		_, _ = io.WriteString(w, "body")
		w.Header().Set("X-Checksum", "abc")
		w.Header().Set(http.TrailerPrefix+"X-Late", "late")
	})
	for _, exec := range []time.Duration{0, 5 * time.Second} {
		cfg := testConfig(t)
		cfg.ExecTimeout = exec
		ts := startServer(t, cfg, h)
		res, body := ts.get("/")
		if got := res.Trailer; body != "body" || got.Get("X-Checksum") != "abc" || got.Get("X-Late") != "late" {
			t.Errorf("exec_timeout=%s: body %q, trailers %v, want X-Checksum: abc and X-Late: late", exec, body, got)
		}
	}
}

// Contexts the handler derives from its own see the deadline as they would
// under context.WithDeadline: Done and DeadlineExceeded at the deadline,
// while the caller gets its 504 at the deadline too.
func TestExecTimeoutDerivedContexts(t *testing.T) {
	const exec = 200 * time.Millisecond
	type seen struct {
		name     string
		err      error
		cause    error
		deadline bool
		after    time.Duration // from the call's arrival
	}
	derive := []struct {
		name string
		make func(context.Context) (context.Context, context.CancelFunc)
	}{
		{"WithCancel", context.WithCancel},
		{"WithTimeout longer", func(ctx context.Context) (context.Context, context.CancelFunc) {
			return context.WithTimeout(ctx, time.Hour)
		}},
		{"WithValue", func(ctx context.Context) (context.Context, context.CancelFunc) {
			return context.WithValue(ctx, callKey{}, nil), func() {}
		}},
		{"own", func(ctx context.Context) (context.Context, context.CancelFunc) { return ctx, func() {} }},
	}
	cfg := testConfig(t)
	cfg.ExecTimeout = exec
	got := make(chan seen, len(derive))
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		var wg sync.WaitGroup
		for _, d := range derive {
			ctx, cancel := d.make(r.Context())
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer cancel()
				<-ctx.Done()
				_, ok := ctx.Deadline()
				got <- seen{d.name, ctx.Err(), context.Cause(ctx), ok, time.Since(start)}
			}()
		}
		wg.Wait()
	})
	ts := startServer(t, cfg, h)
	start := time.Now()
	res, _ := ts.get("/")
	if took := time.Since(start); res.StatusCode != http.StatusGatewayTimeout || took < exec || took > exec+time.Second {
		t.Errorf("status %d after %s, want 504 at exec_timeout (%s)", res.StatusCode, took, exec)
	}
	for range derive {
		var s seen
		select {
		case s = <-got:
		case <-time.After(5 * time.Second):
			t.Fatal("a derived context was not done 5s after the deadline")
		}
		if s.err != context.DeadlineExceeded || s.cause != context.DeadlineExceeded || !s.deadline {
			t.Errorf("%s: Err() = %v, Cause = %v, has deadline %t; want DeadlineExceeded, DeadlineExceeded, true", s.name, s.err, s.cause, s.deadline)
		}
		if s.after < exec-10*time.Millisecond || s.after > exec+time.Second {
			t.Errorf("%s: Done after %s, want at exec_timeout (%s)", s.name, s.after, exec)
		}
	}
}

// Under exec_timeout the handler writes through a guard; an answer of headers
// alone, or a status alone, must still reach the caller.
func TestExecTimeoutHeadersOnlyAnswer(t *testing.T) {
	cfg := testConfig(t)
	cfg.ExecTimeout = 5 * time.Second
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Only", "headers")
		if r.URL.Path == "/status" {
			w.WriteHeader(http.StatusAccepted)
		}
	})
	ts := startServer(t, cfg, h)
	if res, body := ts.get("/"); res.StatusCode != 200 || res.Header.Get("X-Only") != "headers" || body != "" {
		t.Errorf("headers only = %d %v %q", res.StatusCode, res.Header, body)
	}
	if res, _ := ts.get("/status"); res.StatusCode != http.StatusAccepted || res.Header.Get("X-Only") != "headers" {
		t.Errorf("status only = %d %v", res.StatusCode, res.Header)
	}
}

func TestXTimeout(t *testing.T) {
	deadlineHandler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, ok := r.Context().Deadline()
		if !ok {
			io.WriteString(w, "none")
			return
		}
		fmt.Fprint(w, time.Until(d).Round(10*time.Millisecond))
	})
	tests := []struct {
		name     string
		exec     time.Duration
		xTimeout string
		code     int
		want     time.Duration // the deadline's distance, or -1 for none
	}{
		{"no header", 2 * time.Second, "", 200, 2 * time.Second},
		{"shorter duration", 2 * time.Second, "300ms", 200, 300 * time.Millisecond},
		{"shorter seconds", 2 * time.Second, "1", 200, time.Second},
		{"longer is capped", 2 * time.Second, "10s", 200, 2 * time.Second},
		{"longer seconds capped", 2 * time.Second, "3600", 200, 2 * time.Second},
		{"no exec deadline", 0, "", 200, -1},
		{"no exec deadline, header sets one", 0, "500ms", 200, 500 * time.Millisecond},
		{"malformed", 2 * time.Second, "banana", 400, 0},
		{"fractional seconds", 2 * time.Second, "1.5", 400, 0},
		{"zero", 2 * time.Second, "0", 400, 0},
		{"negative", 2 * time.Second, "-1s", 400, 0},
		{"too long", 2 * time.Second, "1" + strings.Repeat("0", 40) + "ns", 400, 0},
	}
	cfg := testConfig(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cfg
			c.ExecTimeout = tt.exec
			c.LockFile = t.TempDir() + "/.lock"
			ts := startServer(t, c, deadlineHandler)
			var hdr []string
			if tt.xTimeout != "" {
				hdr = []string{"X-Timeout", tt.xTimeout}
			}
			res, body := ts.get("/", hdr...)
			if res.StatusCode != tt.code {
				t.Fatalf("X-Timeout %q = %d %q, want %d", tt.xTimeout, res.StatusCode, body, tt.code)
			}
			switch {
			case tt.code == 400:
				if !strings.HasPrefix(body, `X-Timeout="`) || !strings.Contains(body, "want a positive Go duration") {
					t.Errorf("400 body %q", body)
				}
				if len(body) > 150 {
					t.Errorf("400 body echoes too much of the header: %d bytes", len(body))
				}
			case tt.want < 0:
				if body != "none" {
					t.Errorf("handler saw a deadline %s away, want none", body)
				}
			default:
				got, err := time.ParseDuration(body)
				if err != nil || got > tt.want || got < tt.want-200*time.Millisecond {
					t.Errorf("handler's deadline %s away, want about %s", body, tt.want)
				}
			}
		})
	}
}

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
		withCall(&scope{logger: slog.New(slog.DiscardHandler)}, 0, nil, handler(tc.h)).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		if rec.Code != http.StatusOK || rec.Body.String() != tc.want {
			t.Errorf("%s: %d %q, want 200 %q", tc.name, rec.Code, rec.Body, tc.want)
		}
	}
	if outerErr != nil {
		t.Errorf("wrapped: the call's context, outside the wrapper, ended with %v once the handler returned; want nil", outerErr)
	}
}

// The queue expires each call at its own deadline, never before and not
// much after, in deadline order whatever the order they were added in, and
// never one that was removed: here the earliest, so the timer armed for it
// fires with nothing due and must be armed again for the next.
func TestDeadlineQueue(t *testing.T) {
	type expiry struct {
		name string
		at   time.Time
	}
	expired := make(chan expiry, 4)
	names := map[*timedCall]string{}
	q := newDeadlineQueue(func(c *timedCall) { expired <- expiry{names[c], time.Now()} })
	now := time.Now()
	calls := map[string]*timedCall{}
	for _, c := range []struct {
		name  string
		after time.Duration
	}{{"700ms", 700 * time.Millisecond}, {"100ms", 100 * time.Millisecond}, {"400ms", 400 * time.Millisecond}} {
		calls[c.name] = new(timedCall)
		calls[c.name].ctx.deadline = now.Add(c.after)
		names[calls[c.name]] = c.name
	}
	// names is read by expire's goroutines from here on, never written.
	q.add(calls["700ms"])
	q.add(calls["100ms"])
	q.add(calls["400ms"])
	q.remove(calls["100ms"])
	// Lateness is the timer's and the scheduler's; 200ms is far more than
	// either on a loaded machine, and far less than the 300ms between the
	// deadlines.
	const late = 200 * time.Millisecond
	for _, want := range []string{"400ms", "700ms"} {
		select {
		case e := <-expired:
			if e.name != want {
				t.Fatalf("%s expired, want %s next", e.name, want)
			}
			if d := calls[want].ctx.deadline; e.at.Before(d) || e.at.After(d.Add(late)) {
				t.Errorf("%s expired %s after its deadline, want from 0 to %s", want, e.at.Sub(d), late)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s never expired", want)
		}
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.head != nil || q.tail != nil || !q.armedFor.IsZero() {
		t.Errorf("queue after the last expiry: head %p, tail %p, armed for %v; want empty and stopped", q.head, q.tail, q.armedFor)
	}
}

// An idle function is never woken: once the last queued call has returned,
// the queue's timer is stopped rather than left to fire with nothing due,
// and it stays armed while any call is queued. The deadlines are hours off,
// so no timer fires during the test; whether the timer is armed is read
// from the timer itself (Stop reports whether it was).
func TestDeadlineQueueStopsWhenEmpty(t *testing.T) {
	for _, tc := range []struct {
		name      string
		steps     string // "+a" adds call a, "-a" removes it; a is due first
		wantArmed bool
	}{
		{"one call returned", "+a -a", false},
		{"the earlier of two returned", "+a +b -a", true},
		{"the later of two returned", "+a +b -b", true},
		{"both returned, earlier first", "+a +b -a -b", false},
		{"both returned, later first", "+a +b -b -a", false},
		{"a call after the queue emptied", "+a -a +b", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := newDeadlineQueue(func(c *timedCall) { t.Errorf("call with deadline %v expired", c.ctx.deadline) })
			now := time.Now()
			calls := map[byte]*timedCall{'a': new(timedCall), 'b': new(timedCall)}
			calls['a'].ctx.deadline = now.Add(time.Hour)
			calls['b'].ctx.deadline = now.Add(2 * time.Hour)
			for _, step := range strings.Fields(tc.steps) {
				if step[0] == '+' {
					q.add(calls[step[1]])
				} else {
					q.remove(calls[step[1]])
				}
			}
			q.mu.Lock()
			defer q.mu.Unlock()
			if armed := q.timer.Stop(); armed != tc.wantArmed {
				t.Errorf("after %q the timer is armed: %v, want %v", tc.steps, armed, tc.wantArmed)
			}
			if q.armedFor.IsZero() == tc.wantArmed {
				t.Errorf("after %q armedFor = %v, want it zero only when the timer is stopped", tc.steps, q.armedFor)
			}
		})
	}
}

// Through the whole chain: once calls under exec_timeout have returned, the
// watchdog has left no deadline timer armed to wake the idle process.
func TestExecTimeoutNoTimerAfterCalls(t *testing.T) {
	cfg := testConfig(t)
	cfg.ExecTimeout = time.Hour
	s, err := New(echo, WithConfig(cfg), withOwnLogger(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	call := echoCaller(t, s.fnServer.Handler)
	for range 3 {
		call()
	}
	q := s.timeout.queue
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.timer.Stop() {
		t.Errorf("after 3 calls returned, the exec_timeout timer is still armed (for %v); want it stopped", q.armedFor)
	}
}

// Calls under exec_timeout share one timer; each still gets its 504 at its
// own deadline, counted from its own arrival, with a call that came and
// went between them and one with a shorter X-Timeout (a timer of its own).
func TestExecTimeoutSharedTimer(t *testing.T) {
	const exec = 300 * time.Millisecond
	cfg := testConfig(t)
	cfg.ExecTimeout = exec
	entered := make(chan string, 4)
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/quick" {
			return
		}
		entered <- r.URL.Path
		<-release // ignores its context
	})
	ts := startServer(t, cfg, h)
	t.Cleanup(func() { close(release) }) // before the server's drain, which waits for the handlers
	type started struct {
		at    time.Time
		limit time.Duration
		res   <-chan result
	}
	hang := func(path string, limit time.Duration, header ...string) started {
		s := started{time.Now(), limit, ts.asyncGet(path, header...)}
		if got := <-entered; got != path {
			t.Fatalf("%s entered the handler, want %s", got, path)
		}
		return s
	}
	a := hang("/a", exec)
	if res, _ := ts.get("/quick"); res.StatusCode != http.StatusOK {
		t.Fatalf("quick call = %d, want 200", res.StatusCode)
	}
	b := hang("/b", exec)
	c := hang("/c", 100*time.Millisecond, TimeoutHeader, "100ms")
	for name, s := range map[string]started{"a": a, "b": b, "c": c} {
		r := wait(t, s.res)
		took := time.Since(s.at)
		if r.code != http.StatusGatewayTimeout {
			t.Errorf("%s: %d, want 504", name, r.code)
		}
		if took < s.limit || took > s.limit+2*time.Second {
			t.Errorf("%s: 504 after %s, want at its deadline (%s)", name, took, s.limit)
		}
	}
}

// handlerContext makes the handler's context under exec_timeout in one of
// its two forms, with the deadlineContext behind it: the deadlineContext
// itself, or (asCall) the call it answers for when the call is the handler's
// context (see call.current in exectimeout.go).
func handlerContext(asCall bool, parent context.Context, deadline time.Time) (*deadlineContext, context.Context) {
	if !asCall {
		d := new(deadlineContext)
		d.init(parent, deadline)
		return d, d
	}
	c := &call{Context: parent}
	c.timed.ctx.init(parent, deadline)
	c.timed.isContext.Store(true)
	return &c.timed.ctx, c
}

// How the handler's context ended stays how it ended, whatever happens to
// the request's context afterwards: net/http cancels that one once the
// caller has its 504 and hangs up, and Cause must not report it. A call
// that is the handler's context still finds itself, and the layers outside
// the handler still learn how the request ended (requestErr).
func TestDeadlineContextKeepsItsCause(t *testing.T) {
	for _, tc := range []struct {
		name     string
		askFirst bool // the handler asked for Done before the deadline
		derive   bool // and reads a context derived from its own
	}{
		{"never asked", false, false},
		{"asked", true, false},
		{"derived", true, true},
	} {
		for _, asCall := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/call %t", tc.name, asCall), func(t *testing.T) {
				parent, hangUp := context.WithCancel(context.Background())
				defer hangUp()
				d, own := handlerContext(asCall, parent, time.Now())
				ctx := own
				if tc.derive {
					var cancel context.CancelFunc
					ctx, cancel = context.WithCancel(own)
					defer cancel()
				}
				if tc.askFirst {
					ctx.Done()
				}
				d.cancel(context.DeadlineExceeded) // expire, at the deadline
				if err := requestErr(own); asCall && err != nil {
					t.Errorf("at the deadline, requestErr = %v; want nil, the caller is still there", err)
				}
				hangUp() // the caller leaves after its 504
				<-ctx.Done()
				if err, cause := ctx.Err(), context.Cause(ctx); err != context.DeadlineExceeded || cause != context.DeadlineExceeded {
					t.Errorf("Err() = %v, Cause = %v; want DeadlineExceeded for both", err, cause)
				}
				if _, ok := ctx.Deadline(); !ok {
					t.Error("Deadline() reports none")
				}
				d.release()
				if err := own.Err(); err != context.DeadlineExceeded {
					t.Errorf("after release, Err() = %v; want it to stay DeadlineExceeded", err)
				}
				if c, ok := own.(*call); ok {
					if err := requestErr(own); err != context.Canceled {
						t.Errorf("once the caller left, requestErr = %v; want Canceled", err)
					}
					if callFrom(ctx) != c {
						t.Error("the handler's context does not find the call")
					}
				}
			})
		}
	}
}

// A caller who leaves before the deadline ends the handler's context with
// Canceled, asked for or not.
func TestDeadlineContextCallerLeft(t *testing.T) {
	for _, askFirst := range []bool{false, true} {
		for _, asCall := range []bool{false, true} {
			parent, hangUp := context.WithCancel(context.Background())
			d, ctx := handlerContext(asCall, parent, time.Now().Add(time.Hour))
			if askFirst {
				ctx.Done()
			}
			hangUp()
			<-ctx.Done()
			if err, cause := ctx.Err(), context.Cause(ctx); err != context.Canceled || cause != context.Canceled {
				t.Errorf("asked first %t, call %t: Err() = %v, Cause = %v; want Canceled for both", askFirst, asCall, err, cause)
			}
			d.release()
		}
	}
}
