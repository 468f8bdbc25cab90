package watchdog

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"
)

// Once the watchdog has answered 504, the connection is no longer the
// handler's: every feature is refused, none reaches the writer below.
func TestGuardedWriterAbandoned(t *testing.T) {
	below := httptest.NewRecorder()
	g := &guardedWriter{w: newRecorder(below, 0), closed: closedBy504}
	rc := http.NewResponseController(g)
	for name, use := range map[string]func() error{
		"SetWriteDeadline": func() error { return rc.SetWriteDeadline(time.Now()) },
		"SetReadDeadline":  func() error { return rc.SetReadDeadline(time.Now()) },
		"EnableFullDuplex": rc.EnableFullDuplex,
		"Flush":            rc.Flush,
		"Hijack":           func() error { _, _, err := rc.Hijack(); return err },
	} {
		if err := use(); !errors.Is(err, errAbandoned) {
			t.Errorf("%s after the 504 = %v, want %v", name, err, errAbandoned)
		}
	}
	if below.Flushed {
		t.Error("a flush reached the writer below")
	}
}

// guardedWriter has no Unwrap, so each ResponseController feature needs a
// method of its own; a feature Go adds must be passed on (or refused here
// with a reason) before this passes.
func TestGuardedWriterCoversResponseController(t *testing.T) {
	gw := reflect.TypeOf(&guardedWriter{})
	if _, ok := gw.MethodByName("Unwrap"); ok {
		t.Fatal("guardedWriter has Unwrap: ResponseController would bypass its lock")
	}
	rc := reflect.TypeOf(&http.ResponseController{})
	for i := range rc.NumMethod() {
		name := rc.Method(i).Name
		want := name
		if name == "Flush" {
			want = "FlushError" // what ResponseController.Flush looks for first
		}
		if _, ok := gw.MethodByName(want); !ok {
			t.Errorf("http.ResponseController.%s has no guardedWriter.%s: it would fail with exec_timeout only", name, want)
		}
	}
}
