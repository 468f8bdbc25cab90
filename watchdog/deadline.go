package watchdog

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

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

// release runs once the handler has returned: as the cancel of
// context.WithDeadline, it cancels what the handler left running on ctx
// and stops following the parent.
func (d *deadlineContext) release() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if in := d.inner.Load(); in != nil && in.stop != nil {
		in.stop()
	}
	d.cancelLocked(context.Canceled)
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
// and the timer left as it is; when it fires with nothing due, it is armed
// for the new head.
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
		q.arm(c.ctx.deadline)
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
}

// arm sets the timer for deadline; the caller holds mu.
func (q *deadlineQueue) arm(deadline time.Time) {
	q.armedFor = deadline
	q.timer.Reset(time.Until(deadline))
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
		q.arm(q.head.ctx.deadline)
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
