package watchdog

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/inproc-go/templates/watchdog/internal/testkit"
)

// Nil where a context or a logger is expected is a clear answer, never a
// panic.
func TestNilInputs(t *testing.T) {
	var nilCtx context.Context
	if id := CallID(nilCtx); id != "" {
		t.Errorf("CallID(nil) = %q, want \"\"", id)
	}
	if l := Logger(nilCtx); l != slog.Default() {
		t.Errorf("Logger(nil) = %v, want slog.Default()", l)
	}

	for _, tt := range []struct {
		name   string
		logger *slog.Logger
	}{
		{"nil logger", nil},
		{"zero logger, no handler", &slog.Logger{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(okHandler, WithConfig(testConfig(t)), WithLogger(tt.logger))
			if err == nil {
				t.Fatal("New accepted it")
			}
			for _, want := range []string{"WithLogger", "got nil", "leave WithLogger out"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
		})
	}
}

// log_callid is accepted and changes nothing: the access log carries the
// call id either way.
func TestLogCallIDHasNoEffect(t *testing.T) {
	for _, on := range []bool{false, true} {
		cfg := testConfig(t)
		cfg.LogCallID = on
		ts := startServer(t, cfg, okHandler)
		ts.get("/", CallIDHeader, "id-1")
		testkit.WaitFor(t, 5*time.Second, "access log", func() bool { return len(ts.logs.withMsg(t, "call")) == 1 })
		if got := ts.logs.withMsg(t, "call")[0]["call_id"]; got != "id-1" {
			t.Errorf("LogCallID=%t: access log call_id = %v, want id-1", on, got)
		}
	}
}
