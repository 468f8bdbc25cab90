// exec_timeout: each call's deadline, and what a handler sees of it.
//
// A call's deadline is its arrival plus exec_timeout, or plus the caller's
// X-Timeout when that is shorter (a bad X-Timeout is answered 400). With
// exec_timeout=0 and no X-Timeout a call has no deadline and none of this
// applies.
//
// What the handler sees:
//   - r.Context() reports the deadline (Deadline), and at the deadline its
//     Done is closed and Err and context.Cause return
//     context.DeadlineExceeded; if the caller goes away first, Err returns
//     context.Canceled. Contexts derived from it end with it.
//   - An answer not begun by the deadline is answered 504 by the watchdog,
//     with a text body naming the limit and "Connection: close" while the
//     handler still runs. A handler that returns after its deadline without
//     having written is answered 504 too, and so is one that begins its
//     answer after the deadline (woken by Done, say): its writes fail as
//     below. A caller already gone gets
//     nothing; the call is logged and counted as 499.
//   - After that 504 nothing the handler writes reaches the caller: Write,
//     Hijack and http.ResponseController's Flush, deadlines and full duplex
//     return an error that wraps context.DeadlineExceeded, and WriteHeader
//     is ignored.
//   - An answer begun (a stream, say) is cut at the deadline: its HTTP/1
//     connection is closed without the answer's end (no last chunk, or
//     fewer bytes than Content-Length), so the caller's client reports an
//     error rather than a whole answer; the handler's later writes fail as
//     above. Over HTTP/2 the answer ends, as cut, when the handler returns.
//     A cut answer is logged and counted as aborted (see abort.go).
//
// Go can't stop a handler: an overdue one runs on until it returns,
// holding its max_inflight slot and its place in http_requests_in_flight,
// and watchdog_overdue_handlers counts it meanwhile; its access-log line
// and metrics are written when it returns.

package watchdog

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// TimeoutHeader lets a caller ask for a shorter deadline than exec_timeout,
// as of-watchdog's http mode allows.
const TimeoutHeader = "X-Timeout"

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
	isContext  atomic.Bool // the call is the handler's context; see call.current
}

func newExecTimeout(limit time.Duration) *execTimeout {
	t := &execTimeout{limit: limit}
	t.queue = newDeadlineQueue(t.expire)
	return t
}

//go:noinline (a layer: see Server.build)
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
// The handler is not moved to a goroutine of its own, as
// http.TimeoutHandler does: a call costs a place in a queue instead. The
// price: an overdue handler keeps its max_inflight slot and its place in
// http_requests_in_flight until it returns, and its access-log line and
// metrics are written then; after a 504 it keeps its connection too (the
// 504 says "Connection: close").
func (t *execTimeout) serve(w http.ResponseWriter, r *http.Request, next http.Handler, limit time.Duration) {
	c := callFrom(r.Context()) // serve runs inside withCall
	tc := &c.timed
	// Flushes grant write_timeout up to the deadline, with the room the
	// default write_timeout leaves for the 504 written at it.
	deadline := c.rec.start.Add(limit)
	c.rec.writeLimit = deadline.UnixNano() + int64(timeoutHeadroom)
	gw, ctx := &tc.guard, &tc.ctx
	gw.w, gw.deadline = w, &ctx.deadline // set by ctx.init below
	tc.r, tc.limit = r, limit
	handlerReq := r
	if t.callIsContext && r.Context() == context.Context(c) {
		// Nothing wrapped the call's context: the call becomes the
		// handler's context itself, and r needs no second copy for it.
		ctx.init(c.Context, deadline)
		tc.isContext.Store(true)
	} else {
		ctx.init(r.Context(), deadline)
		handlerReq = r.WithContext(ctx)
	}
	var timer *time.Timer
	if limit == t.limit {
		t.queue.add(tc) // a deadline already passed fires at once
	} else {
		wait := time.Until(deadline)
		if wait <= 0 {
			ctx.cancel(context.DeadlineExceeded) // as context.WithDeadline would be
		}
		timer = time.AfterFunc(wait, func() { t.expire(tc) })
	}
	returned := false
	// Runs on panics too: the handler is done with w either way.
	defer func() { t.end(w, tc, timer, returned) }()
	next.ServeHTTP(gw, handlerReq)
	returned = true
}

// end runs once the handler is done, returned or panicking. It takes the
// call off its timer first, then decides under gw's lock, which waits out
// an expire that is writing, so nothing touches w once the handler is done
// but end itself. A handler that returned after its deadline gets what one
// still running gets, whichever side noticed the deadline first: a 504 if
// it wrote nothing, its answer cut if it had begun one.
func (t *execTimeout) end(w http.ResponseWriter, tc *timedCall, timer *time.Timer, returned bool) {
	if timer != nil {
		timer.Stop()
	} else {
		t.queue.remove(tc)
	}
	gw := &tc.guard
	deadlinePassed := tc.ctx.release() == context.DeadlineExceeded && returned
	answered, overdue, cut := gw.end(returned, deadlinePassed)
	if overdue {
		t.overdue.Add(-1)
	}
	if cut {
		abortAnswer(tc.r.Context(), abortedExecTimeout)
	}
	if !answered {
		t.answerTimeout(w, tc.r, tc.limit, false)
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

// Under exec_timeout the call itself can be the handler's context, the
// deadline context (c.timed.ctx) answering for it, so the handler gets the
// request withCall made rather than a second copy for its deadline (see
// execTimeout.serve for when). From then on the call's Deadline, Done, Err
// and, through Value, Cause are the handler's deadline's, for the layers
// outside the handler too; they ask requestErr how the caller's request
// ended. Before then, and in a call whose handler has a context of its own,
// they are the request's.

// current is the context the call answers for: the handler's deadline
// context once the call is the handler's context, else the request's.
func (c *call) current() context.Context {
	if c.timed.isContext.Load() {
		return &c.timed.ctx
	}
	return c.Context
}

func (c *call) Deadline() (time.Time, bool) { return c.current().Deadline() }
func (c *call) Done() <-chan struct{}       { return c.current().Done() }
func (c *call) Err() error                  { return c.current().Err() }

// requestErr is how the request whose context is ctx ended, nil while it
// goes on: ctx's own Err, but for a call, which may be the handler's
// deadline context by now, the Err of the request's context it was made on.
func requestErr(ctx context.Context) error {
	if c, ok := ctx.(*call); ok {
		return c.Context.Err()
	}
	return ctx.Err()
}

// deadlineContext is the handler's context under exec_timeout, in place of
// context.WithDeadline: it reports its deadline and is cancelled by the
// timer that answers the 504 (expire), so a call pays for one timer, not
// two. Only once the handler asks for Done (or the deadline passes) does it
// make a real one of its own, context.WithDeadline over the parent's values:
// derived contexts (context.WithCancel and the like) then register with it,
// and see Done, Err and Cause report DeadlineExceeded at the deadline. It
// lives in the call, so a handler that never asks costs no allocation; one
// that does pays for a second timer.
type deadlineContext struct {
	parent   context.Context
	deadline time.Time

	mu    sync.Mutex
	err   error
	inner atomic.Pointer[innerContext] // set once, under mu
}

// innerContext is the context a deadlineContext makes when it must: over
// the parent's values but not its cancellation, which it follows itself,
// so the cause it reports is its own (Cause would otherwise find the
// request's context and report how that one ended).
type innerContext struct {
	ctx    context.Context
	cancel context.CancelFunc
	stop   func() bool // stops following the parent
}

func (d *deadlineContext) init(parent context.Context, deadline time.Time) {
	d.parent, d.deadline = parent, deadline
}

// Deadline is the earlier of the call's deadline and its parent's.
func (d *deadlineContext) Deadline() (time.Time, bool) {
	if p, ok := d.parent.Deadline(); ok && p.Before(d.deadline) {
		return p, true
	}
	return d.deadline, true
}

func (d *deadlineContext) Value(key any) any {
	if in := d.inner.Load(); in != nil {
		return in.ctx.Value(key)
	}
	return d.parent.Value(key)
}

func (d *deadlineContext) Done() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.innerLocked().ctx.Done()
}

// innerLocked makes the inner context on first use; the caller holds mu.
func (d *deadlineContext) innerLocked() *innerContext {
	if in := d.inner.Load(); in != nil {
		return in
	}
	ctx, cancel := context.WithDeadline(context.WithoutCancel(d.parent), d.deadline)
	in := &innerContext{ctx: ctx, cancel: cancel}
	if d.err == nil {
		d.err = d.parent.Err()
	}
	if d.err != nil {
		d.endInner(in, d.err)
	} else {
		in.stop = context.AfterFunc(d.parent, func() { d.cancel(d.parent.Err()) })
	}
	d.inner.Store(in)
	return in
}

// Err is DeadlineExceeded once the deadline has passed (the inner context's
// timer may see it before expire runs), else the parent's error if it has
// one (the caller left; nobody may have asked for Done, so nothing else
// would notice).
func (d *deadlineContext) Err() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.errLocked()
}

// errLocked is Err; the caller holds mu.
func (d *deadlineContext) errLocked() error {
	if d.err == nil {
		if in := d.inner.Load(); in != nil {
			d.err = in.ctx.Err()
		}
	}
	if d.err == nil {
		if err := d.parent.Err(); err != nil {
			d.cancelLocked(err)
		}
	}
	return d.err
}

// cancel ends the context with err. At the deadline the inner context is
// made if nobody asked for Done yet, so that Cause reports the deadline.
func (d *deadlineContext) cancel(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err == context.DeadlineExceeded && d.err == nil {
		d.innerLocked()
	}
	d.cancelLocked(err)
}

// cancelLocked ends the context with err, unless it has ended already: the
// first end wins, the inner context's own deadline included.
func (d *deadlineContext) cancelLocked(err error) {
	in := d.inner.Load()
	if d.err == nil && in != nil {
		d.err = in.ctx.Err()
	}
	if d.err == nil {
		d.err = err
	}
	if in != nil {
		d.endInner(in, d.err)
	}
}

// endInner ends the inner context as err says. At the deadline its own
// timer ends it with DeadlineExceeded (a CancelFunc would say Canceled):
// expire runs once the deadline has passed, so that is a wait for a timer
// already due.
func (d *deadlineContext) endInner(in *innerContext, err error) {
	if err == context.DeadlineExceeded {
		<-in.ctx.Done()
		return
	}
	in.cancel()
}

// release runs once the handler is done: as the cancel of
// context.WithDeadline, it cancels what the handler left running on ctx
// and stops following the parent. It returns what Err returned just
// before: DeadlineExceeded if the deadline had passed by then.
func (d *deadlineContext) release() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	err := d.errLocked()
	if in := d.inner.Load(); in != nil && in.stop != nil {
		in.stop()
	}
	d.cancelLocked(context.Canceled)
	return err
}

func (d *deadlineContext) String() string {
	return "watchdog exec_timeout deadline " + d.deadline.String()
}

// deadlineQueue is one timer for all the calls under exec_timeout: their
// deadlines are each call's arrival plus the same limit, so they fall due
// in about the order the calls came, and one timer armed for the earliest
// serves them all, in place of a timer per call. The queue is kept sorted:
// a call is linked in from the tail, past the few that arrived after it but
// got here first (jwt_auth sits in between). A call that returns is unlinked
// and the timer left as it is while other calls wait; when it fires with
// nothing due, it is armed for the new head. The last call to leave stops
// it, so an idle function has no timer to wake it.
type deadlineQueue struct {
	expire func(*timedCall) // run on a goroutine of its own for each call due

	mu         sync.Mutex
	head, tail *timedCall
	timer      *time.Timer
	armedFor   time.Time // zero while the timer is stopped
}

func newDeadlineQueue(expire func(*timedCall)) *deadlineQueue {
	q := &deadlineQueue{expire: expire}
	// Made stopped; add arms it for the first call.
	q.timer = time.AfterFunc(time.Hour, q.fire)
	q.timer.Stop()
	return q
}

func (q *deadlineQueue) add(c *timedCall) {
	q.mu.Lock()
	defer q.mu.Unlock()
	p := q.tail
	for p != nil && p.ctx.deadline.After(c.ctx.deadline) {
		p = p.prev
	}
	c.prev = p
	if p == nil {
		c.next, q.head = q.head, c
	} else {
		c.next, p.next = p.next, c
	}
	if c.next == nil {
		q.tail = c
	} else {
		c.next.prev = c
	}
	c.queued = true
	if q.armedFor.IsZero() || c.ctx.deadline.Before(q.armedFor) {
		q.arm(c.ctx.deadline, time.Until(c.ctx.deadline))
	}
}

func (q *deadlineQueue) remove(c *timedCall) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !c.queued {
		return // taken by fire
	}
	if c.prev == nil {
		q.head = c.next
	} else {
		c.prev.next = c.next
	}
	if c.next == nil {
		q.tail = c.prev
	} else {
		c.next.prev = c.prev
	}
	c.prev, c.next, c.queued = nil, nil, false
	if q.head == nil && !q.armedFor.IsZero() {
		q.timer.Stop()
		q.armedFor = time.Time{}
	}
}

// arm sets the timer for deadline, wait from now; the caller holds mu.
func (q *deadlineQueue) arm(deadline time.Time, wait time.Duration) {
	q.armedFor = deadline
	q.timer.Reset(wait)
}

// fire takes the calls that are due off the queue and expires each on a
// goroutine of its own, so a 504 that is slow to write delays no other.
func (q *deadlineQueue) fire() {
	q.mu.Lock()
	now := time.Now()
	due := q.head
	var last *timedCall
	for c := q.head; c != nil && !c.ctx.deadline.After(now); c = c.next {
		c.queued = false
		last = c
	}
	if last != nil {
		q.head, last.next = last.next, nil
		if q.head == nil {
			q.tail = nil
		} else {
			q.head.prev = nil
		}
	}
	q.armedFor = time.Time{}
	if q.head != nil {
		q.arm(q.head.ctx.deadline, q.head.ctx.deadline.Sub(now))
	}
	q.mu.Unlock()
	if last == nil {
		return
	}
	for c := due; c != nil; {
		next := c.next
		go q.expire(c)
		c = next
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
