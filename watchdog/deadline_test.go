package watchdog

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"
)

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
// context (see handlerctx.go).
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
