package watchdog_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/inproc-go/templates/watchdog"
	"github.com/inproc-go/templates/watchdog/watchdogtest"
)

var answerOK = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })

// Nil where a context or a logger is expected is a clear answer, never a
// panic.
func TestNilInputs(t *testing.T) {
	var nilCtx context.Context
	if id := watchdog.CallID(nilCtx); id != "" {
		t.Errorf("CallID(nil) = %q, want \"\"", id)
	}
	if l := watchdog.Logger(nilCtx); l != slog.Default() {
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
			cfg := watchdog.DefaultConfig()
			cfg.SuppressLock = true
			_, err := watchdog.New(answerOK, watchdog.WithConfig(cfg), watchdog.WithLogger(tt.logger))
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
	for _, on := range []string{"false", "true"} {
		s := watchdogtest.NewWith(t, answerOK, watchdogtest.Options{Env: []string{"log_format=json", "log_callid=" + on}, SkipRegistered: true})
		if code, _, err := s.Do("GET", "/", nil, http.Header{watchdog.CallIDHeader: {"id-1"}}); code != 200 {
			t.Fatalf("GET / = %d %v", code, err)
		}
		rec := s.WaitLog(t, "for the call", func(r map[string]any) bool { return r["msg"] == "call" })
		if got := rec["call_id"]; got != "id-1" {
			t.Errorf("log_callid=%s: access log call_id = %v, want id-1", on, got)
		}
	}
}
