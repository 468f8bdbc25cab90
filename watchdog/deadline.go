package watchdog

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// deadlineContext is the handler's context under exec_timeout, in place of
// context.WithDeadline: it reports its deadline and is cancelled by the
// timer that answers the 504 (expire), so a call pays for one timer, not
// two, and it makes its Done channel, and watches its parent for a caller
// who hangs up, only once the handler asks for Done. It lives in the call,
// so it costs no allocation of its own.
//
// Contexts derived from it (context.WithCancel and the like) see Done and
// DeadlineExceeded at the deadline, as with context.WithDeadline; the
// context package watches a parent of a type it doesn't know through Done.
type deadlineContext struct {
	parent   context.Context
	deadline time.Time

	mu        sync.Mutex
	done      chan struct{} // made by the first Done
	err       error
	stopWatch func() bool // stops the watch on parent, set with done
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

func (d *deadlineContext) Value(key any) any { return d.parent.Value(key) }

func (d *deadlineContext) Done() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.done == nil {
		d.done = make(chan struct{})
		if d.err == nil {
			d.err = d.parent.Err()
		}
		if d.err != nil {
			close(d.done)
		} else {
			d.stopWatch = context.AfterFunc(d.parent, func() { d.cancel(d.parent.Err()) })
		}
	}
	return d.done
}

// Err is the parent's error if it has one (the caller left; nobody may have
// asked for Done, so nothing else would notice), else DeadlineExceeded once
// expire has run.
func (d *deadlineContext) Err() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.err == nil {
		if err := d.parent.Err(); err != nil {
			d.cancelLocked(err)
		}
	}
	return d.err
}

func (d *deadlineContext) cancel(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.cancelLocked(err)
}

func (d *deadlineContext) cancelLocked(err error) {
	if d.err != nil {
		return
	}
	d.err = err
	if d.done != nil {
		close(d.done)
	}
}

// release runs once the handler has returned: as the cancel of
// context.WithDeadline, it cancels what the handler left running on ctx
// and stops watching the parent.
func (d *deadlineContext) release() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopWatch != nil {
		d.stopWatch()
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
	expire func(*queuedCall) // run on a goroutine of its own for each call due

	mu         sync.Mutex
	head, tail *queuedCall
	timer      *time.Timer
	armedFor   time.Time // zero while the timer is stopped
}

// queuedCall is a call in the queue: its deadline and what its expiry
// needs. It lives in the call, so queueing one allocates nothing.
type queuedCall struct {
	prev, next *queuedCall
	queued     bool
	deadline   time.Time

	gw    *guardedWriter
	ctx   *deadlineContext
	w     http.ResponseWriter
	r     *http.Request
	limit time.Duration
}

func newDeadlineQueue(expire func(*queuedCall)) *deadlineQueue {
	q := &deadlineQueue{expire: expire}
	// Made stopped; add arms it for the first call.
	q.timer = time.AfterFunc(time.Hour, q.fire)
	q.timer.Stop()
	return q
}

func (q *deadlineQueue) add(c *queuedCall) {
	q.mu.Lock()
	defer q.mu.Unlock()
	p := q.tail
	for p != nil && p.deadline.After(c.deadline) {
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
	if q.armedFor.IsZero() || c.deadline.Before(q.armedFor) {
		q.arm(c.deadline)
	}
}

func (q *deadlineQueue) remove(c *queuedCall) {
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
	var last *queuedCall
	for c := q.head; c != nil && !c.deadline.After(now); c = c.next {
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
		q.arm(q.head.deadline)
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
