package watchdog

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// guardedWriter is the handler's ResponseWriter under a deadline: once the
// watchdog has answered in its place or cut its answer, writes fail under
// the lock, so a late handler can't race the watchdog. An answer can't begin
// once the deadline has passed, even before the watchdog's timer has run: a
// handler woken by its context's Done at the deadline gets the watchdog's
// 504, not an answer of its own that would then be cut.
type guardedWriter struct {
	w        http.ResponseWriter
	deadline *time.Time // the call's, with its monotonic reading; nil for none
	mu       sync.Mutex
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

// end records that the handler is done, and reports whether it answered,
// whether it was overdue, and whether its answer was cut. A handler that
// returned without writing has its headers moved over for net/http's
// implicit 200, unless its deadline had passed: then it did not answer, and
// its headers are dropped for the watchdog's 504. An answer begun is cut if
// the deadline had passed. A handler that panicked answered nothing here:
// withRecover answers for it. The header map goes back to headerMaps.
func (g *guardedWriter) end(returned, deadlinePassed bool) (answered, overdue, cut bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.returned = true
	answered = true
	switch {
	case !returned || g.closed != 0:
	case deadlinePassed && g.started:
		g.closed = closedByCut
	case deadlinePassed:
		g.closed = closedBy504
		answered = false
	case !g.begin(): // the headers of an answer without a body, if none began
		g.closed = closedBy504 // the deadline passed just now
		answered = false
	}
	if h := g.header; h != nil && len(h) <= maxPooledHeader {
		clear(h)
		headerMaps.Put(h)
	}
	g.header = nil
	return answered, g.overdue, g.closed == closedByCut
}

// headerMaps keeps the handlers' header maps for later calls: once the
// answer has begun, the values are the answer's (begin copies the slices,
// not the strings), and the handler is done with the map when it returns,
// as with every part of its ResponseWriter. A map grown past
// maxPooledHeader keys is left to the garbage collector instead.
var headerMaps = sync.Pool{New: func() any { return make(http.Header) }}

const maxPooledHeader = 16

// Header is the handler's alone until the answer begins, as the
// watchdog's 504 never uses it; from then on it is w's, which nothing but
// the handler writes any more, so values set after the first write, such
// as trailers, reach the answer.
func (g *guardedWriter) Header() http.Header {
	if g.started {
		return g.w.Header()
	}
	if g.header == nil {
		g.header = headerMaps.Get().(http.Header)
	}
	return g.header
}

// begin marks the answer as started, moving the handler's headers over,
// and reports whether it could: not once the deadline has passed, when the
// answer is the watchdog's 504. The caller holds mu.
func (g *guardedWriter) begin() bool {
	if g.started {
		return true
	}
	if g.due() {
		return false
	}
	g.started = true
	dst := g.w.Header()
	for k, v := range g.header {
		dst[k] = v
	}
	return true
}

// start begins the answer for a write, or says why the handler may no
// longer write: the watchdog answered or cut it, or the deadline has passed
// (the watchdog's 504 is on its way). The caller holds mu.
func (g *guardedWriter) start() error {
	if g.closed != 0 {
		return g.closed.err()
	}
	if !g.begin() {
		return errAbandoned
	}
	return nil
}

// due reports whether the deadline has passed, by the monotonic clock.
func (g *guardedWriter) due() bool {
	return g.deadline != nil && time.Until(*g.deadline) <= 0
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
	if g.begin() {
		g.w.WriteHeader(code)
	}
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
	if err := g.start(); err != nil {
		return 0, err
	}
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
	if err := g.start(); err != nil {
		return err
	}
	return http.NewResponseController(g.w).Flush()
}

func (g *guardedWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.start(); err != nil {
		return nil, nil, err
	}
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
