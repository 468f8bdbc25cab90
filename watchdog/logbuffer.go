package watchdog

import (
	"io"
	"sync"
	"time"
)

// bufferedOutput is the watchdog's own log output: it batches log lines and
// writes them from a timer's goroutine log_flush_interval after the first
// line of a batch, or at once when logFlushSize bytes wait, so a call never
// pays for a write of its own, and never waits behind a slow log reader (a
// full pipe to the container runtime). The timer is armed only while lines
// wait, so an idle function is never woken. Writers wait only when
// logMaxPending bytes are queued: back-pressure, never a lost line.
type bufferedOutput struct {
	out      io.Writer
	interval time.Duration
	flusher  *time.Timer // runs Flush on a goroutine of its own

	mu        sync.Mutex
	room      *sync.Cond // a flush took the pending lines
	pending   []byte
	scheduled bool // the flusher is armed for the pending lines
	kicked    bool // the flusher is armed to run now

	flushMu sync.Mutex // one writer to out at a time
	writing []byte     // owned by the holder of flushMu
}

const (
	logFlushInterval = 100 * time.Millisecond // log_flush_interval's default
	logFlushSize     = 64 << 10
	logMaxPending    = 1 << 20
)

func newBufferedOutput(w io.Writer, interval time.Duration) *bufferedOutput {
	b := &bufferedOutput{out: w, interval: interval}
	b.room = sync.NewCond(&b.mu)
	// Made disarmed; Write arms it for the first line of each batch.
	b.flusher = time.AfterFunc(time.Hour, func() { _ = b.Flush() })
	b.flusher.Stop()
	return b
}

// Write queues p, one whole log record, and never touches out.
func (b *bufferedOutput) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for len(b.pending) > 0 && len(b.pending)+len(p) > logMaxPending {
		b.room.Wait()
	}
	b.pending = append(b.pending, p...)
	switch {
	case len(b.pending) >= logFlushSize && !b.kicked:
		b.scheduled, b.kicked = true, true
		b.flusher.Reset(0)
	case !b.scheduled:
		b.scheduled = true
		b.flusher.Reset(b.interval)
	}
	return len(p), nil
}

// Flush writes everything queued so far to out.
func (b *bufferedOutput) Flush() error {
	b.flushMu.Lock()
	defer b.flushMu.Unlock()
	b.mu.Lock()
	b.pending, b.writing = b.writing[:0], b.pending
	b.scheduled, b.kicked = false, false
	b.room.Broadcast()
	b.mu.Unlock()
	if len(b.writing) == 0 {
		return nil
	}
	_, err := b.out.Write(b.writing)
	return err
}

// flushLogs writes the queued log lines before the process exits at once,
// waiting at most a second for a log reader that has stopped reading.
func (s *Server) flushLogs() {
	if s.logOut == nil {
		return
	}
	done := make(chan struct{})
	go func() { _ = s.logOut.Flush(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Second):
	}
}
