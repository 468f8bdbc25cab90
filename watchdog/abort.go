package watchdog

import (
	"context"
	"net/http"
)

// An answer that has begun can't be taken back: when it can't be finished
// (its deadline passed, or the handler panicked, after its status was sent)
// the watchdog ends it as HTTP marks an incomplete answer, by dropping the
// connection without the answer's end (no last chunk, or fewer bytes than
// Content-Length), so the caller's client reports an error instead of a
// whole answer. The call is marked aborted on its recorder, logged and
// counted as such with the status that was sent (the caller saw it), and
// then withCall drops the connection.

// abortReason says why an answer that had begun was aborted; 0 if it
// was not.
type abortReason uint8

const (
	abortedExecTimeout abortReason = 1 + iota // its deadline passed: exec_timeout or X-Timeout
	abortedPanic                              // the handler panicked
	abortReasons                              // how many reasons, for the metrics' array
)

// String is the reason as the access log's "aborted" and the metric's
// "reason" label give it.
func (a abortReason) String() string {
	switch a {
	case abortedExecTimeout:
		return "exec_timeout"
	case abortedPanic:
		return "panic"
	}
	return ""
}

// abortAnswer marks the answer of the call whose context is ctx as
// aborted for reason; the first reason given stands. Outside a call
// nothing would drop the connection later, so it is dropped now.
func abortAnswer(ctx context.Context, reason abortReason) {
	c := callFrom(ctx)
	if c == nil {
		panic(http.ErrAbortHandler)
	}
	if c.rec.aborted == 0 {
		c.rec.aborted = reason
	}
}

// dropIfAborted drops the connection of a call whose answer was aborted,
// once the call has been logged and counted: net/http closes it without
// finishing the answer.
func (c *call) dropIfAborted() {
	if c.rec.aborted != 0 {
		panic(http.ErrAbortHandler)
	}
}
