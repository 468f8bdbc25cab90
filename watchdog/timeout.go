package watchdog

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// TimeoutHeader lets a caller ask for a shorter deadline than exec_timeout,
// as of-watchdog's http mode allows.
const TimeoutHeader = "X-Timeout"

// statusClientClosed is logged and counted when the caller went away before
// an answer (nginx's convention); nothing reaches the caller.
const statusClientClosed = 499

// execTimeout runs each call under exec_timeout (or a shorter X-Timeout).
// A handler that has not begun its answer by the deadline is answered 504 at
// the deadline; Go can't stop it, so it runs on, its late writes dropped,
// and overdue counts such handlers until they return.
type execTimeout struct {
	limit   time.Duration
	overdue atomic.Int64
	queue   *deadlineQueue // the deadlines of limit itself
	// callIsContext lets a call be its handler's context (see serve): only
	// when no observer or authenticator, code of the user's, sees the call's
	// context outside the handler, as it then ends with the handler's.
	callIsContext bool
}

// timedCall is what exec_timeout keeps for a call: the guard around the
// handler's writer, the handler's context, whose deadline is the call's, and
// the call's place in the deadline queue. It lives in the call, so a call
// under exec_timeout allocates none of it.
type timedCall struct {
	guard      guardedWriter
	ctx        deadlineContext
	r          *http.Request // as serve got it, for the 504
	limit      time.Duration
	prev, next *timedCall // in t.queue, while queued
	queued     bool
	isContext  atomic.Bool // the call is the handler's context; see handlerctx.go
}

func newExecTimeout(limit time.Duration) *execTimeout {
	t := &execTimeout{limit: limit}
	t.queue = newDeadlineQueue(t.expire)
	return t
}

func (t *execTimeout) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit, err := t.deadlineFor(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if limit == 0 {
			next.ServeHTTP(w, r)
			return
		}
		t.serve(w, r, next, limit)
	})
}

func (t *execTimeout) deadlineFor(r *http.Request) (time.Duration, error) {
	var v string
	if vs := r.Header[TimeoutHeader]; len(vs) > 0 { // canonical already: no Header.Get
		v = vs[0]
	}
	if v == "" {
		return t.limit, nil
	}
	d, err := parseDuration(v)
	if err != nil || d <= 0 || len(v) > 32 {
		return 0, fmt.Errorf("%s=%q: want a positive Go duration (e.g. 1.5s) or seconds", TimeoutHeader, truncate(v, 32))
	}
	if t.limit > 0 && d > t.limit {
		return t.limit, nil
	}
	return d, nil
}

// serve runs the handler on the connection's own goroutine under its
// deadline, counted from the call's arrival. If the deadline comes before
// the handler has begun its answer, a timer answers in its place, so the
// caller gets its 504 at the deadline: under exec_timeout itself the one
// timer of t.queue, under a shorter X-Timeout a timer of the call's own.
//
// A goroutine per call, as http.TimeoutHandler uses, cost a third of the
// throughput here (measured with wrk, one core); this costs a place in a
// queue. The price: an overdue handler keeps its connection (the 504 says
// "Connection: close"), its max_inflight slot and its place in
// http_requests_in_flight until it returns, and its access-log line and
// metrics are written then.
func (t *execTimeout) serve(w http.ResponseWriter, r *http.Request, next http.Handler, limit time.Duration) {
	var tc *timedCall
	var arrived time.Time
	c := callFrom(r.Context())
	if c != nil {
		tc, arrived = &c.timed, c.rec.start // no allocation
	} else {
		tc, arrived = new(timedCall), time.Now()
	}
	gw, ctx := &tc.guard, &tc.ctx
	gw.w = w
	tc.r, tc.limit = r, limit
	handlerReq := r
	if t.callIsContext && c != nil && r.Context() == context.Context(c) {
		// Nothing wrapped the call's context: the call becomes the
		// handler's context itself, and r needs no second copy for it.
		ctx.init(c.Context, arrived.Add(limit))
		tc.isContext.Store(true)
	} else {
		ctx.init(r.Context(), arrived.Add(limit))
		handlerReq = r.WithContext(ctx)
	}
	wait := time.Until(ctx.deadline)
	if wait <= 0 {
		ctx.cancel(context.DeadlineExceeded) // as context.WithDeadline would be
	}
	var timer *time.Timer
	if limit == t.limit {
		t.queue.add(tc)
	} else {
		timer = time.AfterFunc(wait, func() { t.expire(tc) })
	}
	defer func() {
		// Runs on panics too. Taking gw's lock waits out an expire that is
		// writing, so nothing touches w once the handler has returned.
		if timer != nil {
			timer.Stop()
		} else {
			t.queue.remove(tc)
		}
		ctx.release()
		if gw.release() {
			t.overdue.Add(-1)
		}
	}()
	next.ServeHTTP(gw, handlerReq)
	// A handler that gave up at its deadline without writing anything gets
	// the same 504 as one still running, whichever came first.
	if !gw.finish(ctx.Err() == context.DeadlineExceeded) {
		t.answerTimeout(w, r, limit, false)
	}
}

// expire runs at the deadline: it cancels the handler's context, answered
// or not, and answers for a handler that has not begun its answer, holding
// gw's lock so the handler can't write meanwhile. The context first: once
// the 504 is out, the caller may hang up, and the handler's context must
// say DeadlineExceeded, not Canceled.
func (t *execTimeout) expire(tc *timedCall) {
	tc.ctx.cancel(context.DeadlineExceeded)
	gw := &tc.guard
	gw.mu.Lock()
	defer gw.mu.Unlock()
	if gw.started || gw.returned {
		return
	}
	gw.abandoned, gw.overdue = true, true
	t.overdue.Add(1)
	t.answerTimeout(gw.w, tc.r, tc.limit, true)
}

// answerTimeout answers in place of a handler that did not answer in time.
func (t *execTimeout) answerTimeout(w http.ResponseWriter, r *http.Request, limit time.Duration, stillRunning bool) {
	if requestErr(r.Context()) != nil {
		w.WriteHeader(statusClientClosed)
		return
	}
	body := fmt.Sprintf("the function did not answer within %s (exec_timeout)\n", limit)
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set(internalHeader, "of-watchdog")
	// A length, so the caller has the whole answer at once rather than at
	// the end of a chunked body, which only the handler's return would end.
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if stillRunning {
		Logger(r.Context()).Warn("exec_timeout: no answer from the handler in time; answered 504, handler still running",
			slog.Duration("limit", limit), slog.Int64("overdue_handlers", t.overdue.Load()))
		// The handler still holds this connection: don't invite the caller
		// to send its next call down it.
		h.Set("Connection", "close")
	} else {
		Logger(r.Context()).Warn("exec_timeout: the handler returned at its deadline without answering; answered 504",
			slog.Duration("limit", limit))
	}
	w.WriteHeader(http.StatusGatewayTimeout)
	_, _ = io.WriteString(w, body)
	_ = http.NewResponseController(w).Flush()
}

// guardedWriter is the handler's ResponseWriter under a deadline: once the
// watchdog has answered in its place, writes are dropped under the lock, so
// a late handler can't race the watchdog's answer.
type guardedWriter struct {
	w  http.ResponseWriter
	mu sync.Mutex
	// header is the handler's own map, copied to w's when the answer
	// begins, so the watchdog's 504 never shares a map with a late handler.
	header    http.Header
	started   bool // the handler has begun its answer
	abandoned bool // the watchdog answered instead; drop everything
	overdue   bool // abandoned while the handler still ran
	returned  bool // the handler has returned
}

var errAbandoned = errors.New("watchdog: the call timed out and was answered already")

// release records the handler's return and reports whether it was overdue.
func (g *guardedWriter) release() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.returned = true
	return g.overdue
}

// finish runs once the handler has returned without panicking and reports
// whether it answered. One that wrote nothing has its headers moved over for
// net/http's implicit 200, unless its deadline had passed: then it did not
// answer, and its headers are dropped for the watchdog's 504.
func (g *guardedWriter) finish(deadlinePassed bool) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.returned = true
	if g.started || g.abandoned {
		return true
	}
	if deadlinePassed {
		g.abandoned = true
		return false
	}
	g.begin() // headers of an answer without a body
	return true
}

// Header is the handler's alone; the watchdog's answer never uses it.
func (g *guardedWriter) Header() http.Header {
	if g.header == nil {
		g.header = make(http.Header)
	}
	return g.header
}

// begin marks the answer as started, moving the handler's headers over.
// The caller holds mu.
func (g *guardedWriter) begin() {
	if g.started {
		return
	}
	g.started = true
	dst := g.w.Header()
	for k, v := range g.header {
		dst[k] = v
	}
}

func (g *guardedWriter) WriteHeader(code int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.abandoned {
		return
	}
	if informational(code) && !g.started {
		g.informational(code)
		return
	}
	g.begin()
	g.w.WriteHeader(code)
}

// informational sends a 1xx with the handler's headers as they are now, as
// net/http does, without beginning the answer: the handler still owes its
// final status, and the watchdog may still answer 504. The headers are taken
// back out of w's map afterwards, so a 504 never carries them. The caller
// holds mu.
func (g *guardedWriter) informational(code int) {
	dst := g.w.Header()
	var before http.Header // dst's own values of the keys the handler set
	for k, v := range g.header {
		if old, ok := dst[k]; ok {
			if before == nil {
				before = make(http.Header)
			}
			before[k] = old
		}
		dst[k] = v
	}
	g.w.WriteHeader(code)
	for k := range g.header {
		if old, ok := before[k]; ok {
			dst[k] = old
		} else {
			delete(dst, k)
		}
	}
}

func (g *guardedWriter) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.abandoned {
		return 0, errAbandoned
	}
	g.begin()
	return g.w.Write(p)
}

// ReadFrom copies through Write, chunk by chunk under the lock, with a pooled
// buffer (see recorder.ReadFrom).
func (g *guardedWriter) ReadFrom(src io.Reader) (int64, error) { return copyPooled(g, src) }

func (g *guardedWriter) Flush() {
	_ = g.FlushError()
}

func (g *guardedWriter) FlushError() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.abandoned {
		return errAbandoned
	}
	g.begin()
	return http.NewResponseController(g.w).Flush()
}

func (g *guardedWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.abandoned {
		return nil, nil, errAbandoned
	}
	g.begin()
	return http.NewResponseController(g.w).Hijack()
}

// The deadlines and full duplex pass through under the lock, refused once
// the watchdog has answered: the connection is no longer the handler's. A
// deadline set before then holds for the watchdog's 504 too, which is
// written on the same connection.

func (g *guardedWriter) SetReadDeadline(deadline time.Time) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.abandoned {
		return errAbandoned
	}
	return http.NewResponseController(g.w).SetReadDeadline(deadline)
}

func (g *guardedWriter) SetWriteDeadline(deadline time.Time) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.abandoned {
		return errAbandoned
	}
	return http.NewResponseController(g.w).SetWriteDeadline(deadline)
}

func (g *guardedWriter) EnableFullDuplex() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.abandoned {
		return errAbandoned
	}
	return http.NewResponseController(g.w).EnableFullDuplex()
}

// Unwrap is deliberately absent: everything that reaches w must go through
// the lock, so each http.ResponseController feature has its own method above
// (TestGuardedWriterCoversResponseController fails when Go adds one). The
// deprecated http.CloseNotifier is not passed on; r.Context() says the same.

// withRecover answers 500 to a panicking call if nothing was sent yet, logs
// the stack with the call id, and keeps the process alive. The limiter slot
// and in-flight gauge are released by their own defers on the way out.
func withRecover(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(http.ErrAbortHandler) // the handler asked net/http to drop the connection
			}
			Logger(r.Context()).Error("handler panicked", slog.Any("panic", v), slog.Any("stack", panicStack(debug.Stack())))
			if rec, ok := w.(*recorder); ok && rec.status != 0 {
				// The answer has begun: drop the connection, as net/http
				// would, so the caller can't take it for a whole one.
				panic(http.ErrAbortHandler)
			}
			http.Error(w, "the function panicked; its logs have the details under call id "+CallID(r.Context()), http.StatusInternalServerError)
		}()
		next.ServeHTTP(w, r)
	})
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
