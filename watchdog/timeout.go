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
// At the deadline the handler's context is cancelled, and its answer ends
// whether or not the handler returns: one not begun is answered 504, one
// begun is cut (see abort.go): its connection is closed without the
// answer's end. Go can't stop the handler, so it runs on, its later writes
// failing, and overdue counts such handlers until they return.
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
// deadline, counted from the call's arrival. At the deadline a timer ends
// the answer in the handler's place (see expire), so the caller gets its
// 504, or the end of a cut answer, at the deadline: under exec_timeout
// itself the one timer of t.queue, under a shorter X-Timeout a timer of the
// call's own.
//
// A goroutine per call, as http.TimeoutHandler uses, cost a third of the
// throughput here (measured with wrk, one core); this costs a place in a
// queue. The price: an overdue handler keeps its max_inflight slot and its
// place in http_requests_in_flight until it returns, and its access-log line
// and metrics are written then; after a 504 it keeps its connection too (the
// 504 says "Connection: close").
func (t *execTimeout) serve(w http.ResponseWriter, r *http.Request, next http.Handler, limit time.Duration) {
	var tc *timedCall
	var arrived time.Time
	c := callFrom(r.Context())
	if c != nil {
		tc, arrived = &c.timed, c.rec.start // no allocation
		// Flushes grant write_timeout up to the deadline, with the room the
		// default write_timeout leaves for the 504 written at it.
		c.rec.writeLimit = arrived.Add(limit + timeoutHeadroom).UnixNano()
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
		overdue, cut := gw.release()
		if overdue {
			t.overdue.Add(-1)
		}
		if cut {
			abortAnswer(r.Context(), abortedExecTimeout)
		}
	}()
	next.ServeHTTP(gw, handlerReq)
	// A handler that returns once its deadline has passed gets what one
	// still running gets, whichever side noticed the deadline first: a 504
	// if it wrote nothing, its answer cut if it had begun one.
	if !gw.finish(ctx.Err() == context.DeadlineExceeded) {
		t.answerTimeout(w, r, limit, false)
	}
}

// expire runs at the deadline: it cancels the handler's context and, for
// a handler still running, answers 504 in its place or cuts the answer it
// began, holding gw's lock so the handler can't write meanwhile. The
// context first: once the answer is over, the caller may hang up, and the
// handler's context must say DeadlineExceeded, not Canceled.
func (t *execTimeout) expire(tc *timedCall) {
	tc.ctx.cancel(context.DeadlineExceeded)
	gw := &tc.guard
	gw.mu.Lock()
	defer gw.mu.Unlock()
	if gw.returned || gw.closed != 0 {
		return
	}
	gw.overdue = true
	t.overdue.Add(1)
	if gw.started {
		gw.closed = closedByCut
		t.cut(tc)
		return
	}
	gw.closed = closedBy504
	t.answerTimeout(gw.w, tc.r, tc.limit, true)
}

// connKey is where the function server's ConnContext (withConn) keeps each
// call's connection, so that the deadline can close it under a handler
// that is still running.
type connKey struct{}

// withConn is http.Server.ConnContext for the function server.
func withConn(ctx context.Context, conn net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, conn)
}

// cut ends, at its deadline, an answer a handler still running has begun:
// its HTTP/1 connection is closed now, without the answer's end, so the
// caller need not wait for the handler. Over HTTP/2, whose connection other
// calls share, or without a connection to close (a chain served without
// withConn), the answer ends when the handler returns (see abort.go).
func (t *execTimeout) cut(tc *timedCall) {
	r := tc.r
	if conn, ok := r.Context().Value(connKey{}).(net.Conn); ok && r.ProtoMajor == 1 {
		_ = conn.Close()
	}
	Logger(r.Context()).Warn("exec_timeout: the deadline passed after the answer began; cut it (connection closed), handler still running",
		slog.Duration("limit", tc.limit), slog.Int64("overdue_handlers", t.overdue.Load()))
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
// watchdog has answered in its place or cut its answer, writes fail under
// the lock, so a late handler can't race the watchdog.
type guardedWriter struct {
	w  http.ResponseWriter
	mu sync.Mutex
	// header is the handler's own map, copied to w's when the answer
	// begins, so the watchdog's 504 never shares a map with a late handler.
	header   http.Header
	started  bool     // the handler has begun its answer
	closed   closedBy // the answer is no longer the handler's, and why
	overdue  bool     // closed while the handler still ran
	returned bool     // the handler has returned
}

// closedBy says why a handler may no longer write: 0 while it may.
type closedBy uint8

const (
	closedBy504 closedBy = 1 + iota // the watchdog answered 504 in its place
	closedByCut                     // its deadline cut the answer it began
)

// err is what the handler's writes fail with.
func (c closedBy) err() error {
	if c == closedBy504 {
		return errAbandoned
	}
	return errCut
}

var (
	errAbandoned = fmt.Errorf("watchdog: the call's deadline (exec_timeout or X-Timeout) passed before its answer began, and the watchdog answered 504: %w", context.DeadlineExceeded)
	errCut       = fmt.Errorf("watchdog: the call's deadline (exec_timeout or X-Timeout) passed after its answer began, and the answer was cut: %w", context.DeadlineExceeded)
)

// release records the handler's return and reports whether it was overdue
// and whether its answer was cut.
func (g *guardedWriter) release() (overdue, cut bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.returned = true
	return g.overdue, g.closed == closedByCut
}

// finish runs once the handler has returned without panicking and reports
// whether it answered. One that wrote nothing has its headers moved over for
// net/http's implicit 200, unless its deadline had passed: then it did not
// answer, and its headers are dropped for the watchdog's 504. An answer
// begun is cut if the deadline had passed.
func (g *guardedWriter) finish(deadlinePassed bool) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.returned = true
	switch {
	case g.closed != 0:
	case deadlinePassed && g.started:
		g.closed = closedByCut
	case deadlinePassed:
		g.closed = closedBy504
		return false
	default:
		g.begin() // the headers of an answer without a body, if none began
	}
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
	if g.closed != 0 {
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
	if g.closed != 0 {
		return 0, g.closed.err()
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
	if g.closed != 0 {
		return g.closed.err()
	}
	g.begin()
	return http.NewResponseController(g.w).Flush()
}

func (g *guardedWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed != 0 {
		return nil, nil, g.closed.err()
	}
	g.begin()
	return http.NewResponseController(g.w).Hijack()
}

// The deadlines and full duplex pass through under the lock, refused once
// the watchdog has answered or cut the answer: the connection is no longer
// the handler's. A
// deadline set before then holds for the watchdog's 504 too, which is
// written on the same connection.

func (g *guardedWriter) SetReadDeadline(deadline time.Time) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed != 0 {
		return g.closed.err()
	}
	return http.NewResponseController(g.w).SetReadDeadline(deadline)
}

func (g *guardedWriter) SetWriteDeadline(deadline time.Time) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed != 0 {
		return g.closed.err()
	}
	return http.NewResponseController(g.w).SetWriteDeadline(deadline)
}

func (g *guardedWriter) EnableFullDuplex() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed != 0 {
		return g.closed.err()
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
			jp, fromJSON := v.(jsonPanic)
			if fromJSON {
				v = jp.v
			}
			Logger(r.Context()).Error("handler panicked", slog.Any("panic", v), slog.Any("stack", panicStack(debug.Stack())))
			if rec, ok := w.(*recorder); ok && rec.status != 0 {
				// The answer has begun: it is aborted, so the caller can't
				// take it for a whole one (see abort.go).
				abortAnswer(r.Context(), abortedPanic)
				return
			}
			msg := "the function panicked; its logs have the details under call id " + CallID(r.Context())
			if fromJSON {
				writeProblem(w, http.StatusInternalServerError, errors.New(msg)) // the shape of the JSON handler's other errors
				return
			}
			http.Error(w, msg, http.StatusInternalServerError)
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
