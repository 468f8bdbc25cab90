package watchdog

import (
	"io"
	"log"
	"log/slog"
	"net/http"
	"testing"
)

// Main makes the watchdog's logger slog's default, and slog.SetDefault sends
// the standard log package through it as well: a handler's log.Printf comes
// out as an INFO record in the watchdog's format, without a call id (log has
// no context to find one in); slog.InfoContext with the call's context has
// it.
func TestMainRoutesStandardLog(t *testing.T) {
	oldSlog, oldOut, oldFlags := slog.Default(), log.Writer(), log.Flags()
	t.Cleanup(func() {
		slog.SetDefault(oldSlog) // leaves log's output alone: restored after
		log.SetOutput(oldOut)
		log.SetFlags(oldFlags)
	})

	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.Printf("std log line %d", 7)
		slog.InfoContext(r.Context(), "slog line")
		io.WriteString(w, "ok")
	})
	logs := runUntilSIGTERM(t, h).logs

	call := logs.withMsg(t, "call")
	if len(call) != 1 {
		t.Fatalf("access log: %v", call)
	}
	std := logs.withMsg(t, "std log line 7")
	if len(std) != 1 {
		t.Fatalf("log.Printf from the handler did not reach the watchdog's log as one record:\n%s", logs.String())
	}
	if std[0]["level"] != "INFO" {
		t.Errorf("log.Printf record level %v, want INFO", std[0]["level"])
	}
	if id, ok := std[0]["call_id"]; ok {
		t.Errorf("log.Printf record has call_id %v: the README says it has none", id)
	}
	sl := logs.withMsg(t, "slog line")
	if len(sl) != 1 || sl[0]["call_id"] != call[0]["call_id"] {
		t.Errorf("slog.InfoContext record %v, want call_id %v", sl, call[0]["call_id"])
	}
}
