package watchdog

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// recorder is the ResponseWriter every call gets: it notes the status and the
// bytes written for metrics and logs, and keeps streaming working: it is an
// http.Flusher and http.Hijacker and has Unwrap for http.ResponseController,
// which reaches net/http's read and write deadlines and full duplex.
type recorder struct {
	http.ResponseWriter
	start time.Time     // when the call reached the watchdog, for metrics and the log
	end   time.Time     // when the call was done; see finished
	took  time.Duration // end less start
	// status is the final status, once sent; never a 1xx but 101. An
	// int32, so that it shares 8 bytes with the two fields after it (see
	// TestCallSize).
	status      int32
	ownDeadline bool        // the handler set its write deadline itself
	aborted     abortReason // the answer began but was not finished; see abort.go
	outcome     int         // the status counted and logged; see callStatus
	bytes       int64
	// streamWriteTimeout, when set, is granted again on each Flush, so
	// write_timeout cuts a stalled stream but not one still making progress;
	// never past writeLimit, and not once the handler has set a write
	// deadline of its own.
	streamWriteTimeout time.Duration
	writeLimit         int64 // unix nanoseconds, under exec_timeout (see serve); 0 for none
	// The X-Duration-Seconds value and the bytes behind it; see setDuration.
	duration    [1]string
	durationBuf [24]byte
}

// finished returns when the call was done and how long it took, reading
// the clock once for the access log and the metrics alike.
func (r *recorder) finished() (end time.Time, took time.Duration) {
	if r.end.IsZero() {
		r.end = time.Now()
		r.took = r.end.Sub(r.start)
	}
	return r.end, r.took
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 && !informational(code) {
		r.status = int32(code)
		r.setDuration()
	}
	r.ResponseWriter.WriteHeader(code)
}

// informational reports whether code is a 1xx that net/http sends ahead of
// the answer (103 Early Hints, 100 Continue): the handler still owes its
// final status. 101 Switching Protocols is final, as net/http treats it.
func informational(code int) bool {
	return code >= 100 && code <= 199 && code != http.StatusSwitchingProtocols
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
		r.setDuration()
	}
	n, err := r.ResponseWriter.Write(p)
	r.bytes += int64(n)
	return n, err
}

// ReadFrom keeps io.Copy(w, src) in a handler from allocating 32 KB per
// call: the watchdog's writers hide net/http's own pooled ReadFrom.
func (r *recorder) ReadFrom(src io.Reader) (int64, error) { return copyPooled(r, src) }

var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// copyPooled copies src to w's Write through a pooled buffer.
func copyPooled[W io.Writer](w W, src io.Reader) (int64, error) {
	buf := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(buf)
	return io.CopyBuffer(writeOnly[W]{w}, src, *buf)
}

// writeOnly hides w's ReadFrom from io.CopyBuffer, so copyPooled doesn't
// recurse. Holding only a pointer, it converts to io.Writer without an
// allocation, which struct{ io.Writer } costs.
type writeOnly[W io.Writer] struct{ w W }

func (o writeOnly[W]) Write(p []byte) (int, error) { return o.w.Write(p) }

func (r *recorder) Flush() { _ = r.FlushError() }

// FlushError is what http.ResponseController.Flush calls: a caller gone
// mid-stream is reported to the handler.
func (r *recorder) FlushError() error {
	if r.status == 0 {
		r.status = http.StatusOK
		r.setDuration()
	}
	rc := http.NewResponseController(r.ResponseWriter)
	if r.streamWriteTimeout > 0 && !r.ownDeadline {
		d := time.Now().Add(r.streamWriteTimeout)
		if r.writeLimit != 0 && d.UnixNano() > r.writeLimit {
			d = time.Unix(0, r.writeLimit)
		}
		_ = rc.SetWriteDeadline(d)
	}
	return rc.Flush()
}

// SetWriteDeadline hands the write deadline to the handler: Flush no longer
// grants write_timeout again, which would cut short a longer deadline.
func (r *recorder) SetWriteDeadline(deadline time.Time) error {
	err := http.NewResponseController(r.ResponseWriter).SetWriteDeadline(deadline)
	if err == nil {
		r.ownDeadline = true
	}
	return err
}

func (r *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := http.NewResponseController(r.ResponseWriter).Hijack()
	if err == nil && r.status == 0 {
		r.status = http.StatusSwitchingProtocols
	}
	return conn, rw, err
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// statusCode is the status sent: 200 when the handler wrote nothing, as
// net/http sends then.
func (r *recorder) statusCode() int {
	if r.status == 0 {
		return http.StatusOK
	}
	return int(r.status)
}

// statusClientClosed is logged and counted when the caller went away before
// an answer began (nginx's convention); nothing reaches the caller.
const statusClientClosed = 499

// callStatus is the status a call is counted and logged with: the one sent,
// or statusClientClosed when the caller went away before any answer began,
// whether or not the handler then returned (net/http's implicit 200 reaches
// no one). Decided once, after the handler, so the access log and the
// metrics can't disagree about a caller leaving in between.
func callStatus(rec *recorder, r *http.Request) int {
	if rec.outcome == 0 {
		rec.outcome = rec.statusCode()
		if rec.status == 0 && requestErr(r.Context()) != nil {
			rec.outcome = statusClientClosed
		}
	}
	return rec.outcome
}
