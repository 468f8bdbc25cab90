package otelwatchdog

import (
	"log/slog"
	"sync"
	"time"
)

// errorLogInterval spaces the SDK's error lines: a collector that is down
// fails every export, one per batch, and the function's log is not the
// place for each of them.
const errorLogInterval = time.Minute

// errorLog is the otel ErrorHandler New installs: the SDK's errors (failed
// exports, mostly) as warnings in the watchdog's log, the first at once and
// then at most one per errorLogInterval with the count left out.
type errorLog struct {
	logger     *slog.Logger
	mu         sync.Mutex
	last       time.Time
	suppressed int
}

func newErrorLog(logger *slog.Logger) *errorLog { return &errorLog{logger: logger} }

func (e *errorLog) Handle(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := time.Now()
	if !e.last.IsZero() && now.Sub(e.last) < errorLogInterval {
		e.suppressed++
		return
	}
	e.logger.Warn("opentelemetry: "+err.Error(), slog.Int("suppressed_since_last", e.suppressed))
	e.last, e.suppressed = now, 0
}
