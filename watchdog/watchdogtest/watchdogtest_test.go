package watchdogtest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/inproc-go/templates/watchdog"
	"github.com/inproc-go/templates/watchdog/watchdogtest"
)

// What a function package registers from init, as the function would: a
// pool opened at start, readiness while it is warm, closed at shutdown.
var (
	pool struct {
		mu     sync.Mutex
		events []string
	}
	warm atomic.Bool
)

func event(e string) {
	pool.mu.Lock()
	defer pool.mu.Unlock()
	pool.events = append(pool.events, e)
}

func events() string {
	pool.mu.Lock()
	defer pool.mu.Unlock()
	s := strings.Join(pool.events, ",")
	pool.events = nil
	return s
}

func init() {
	watchdog.OnStart(func(ctx context.Context) error { event("open"); return nil })
	watchdog.OnReady(func(ctx context.Context) error {
		if !warm.Load() {
			return errors.New("pool: cold")
		}
		return nil
	})
	watchdog.OnShutdown(func(ctx context.Context) error { event("close"); return nil })
}

var handle = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	event("call")
	io.WriteString(w, "ok")
})

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func TestNewRunsRegisteredHooks(t *testing.T) {
	events()
	s := watchdogtest.New(t, handle)
	if got := events(); got != "open" {
		t.Errorf("after New: %q, want the start hook's open", got)
	}
	warm.Store(false)
	if code, body := get(t, s.URL+"/_/ready"); code != 503 || body != "pool: cold\n" {
		t.Errorf("cold: /_/ready = %d %q", code, body)
	}
	warm.Store(true)
	if code, _ := get(t, s.URL+"/_/ready"); code != 200 {
		t.Errorf("warm: /_/ready = %d", code)
	}
	if code, body := get(t, s.URL+"/"); code != 200 || body != "ok" {
		t.Errorf("call = %d %q", code, body)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close = %v", err)
	}
	if got := events(); got != "call,close" {
		t.Errorf("after Close: %q, want call,close", got)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

func TestNewWithOptions(t *testing.T) {
	events()
	var started bool
	s := watchdogtest.NewWith(t, handle, watchdogtest.Options{
		Env:            []string{"max_inflight=3"},
		SkipRegistered: true,
		Watchdog:       []watchdog.Option{watchdog.WithStart(func(context.Context) error { started = true; return nil })},
	})
	if code, _ := get(t, s.URL+"/_/ready"); code != 200 {
		t.Errorf("/_/ready = %d, want 200 without the registered readiness", code)
	}
	s.Close()
	if got := events(); got != "" || !started {
		t.Errorf("events %q, own start hook ran: %v; want no registered hook, own one run", got, started)
	}
}

// fatalTB records Fatalf and ends the goroutine, as testing.T does.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestNewFailsOnAStartError(t *testing.T) {
	f := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		watchdogtest.NewWith(f, handle, watchdogtest.Options{SkipRegistered: true,
			Watchdog: []watchdog.Option{watchdog.WithStart(func(context.Context) error { return errors.New("no database") })}})
	}()
	<-done
	if want := "watchdogtest: server stopped at start: start hook 1 of 1: no database"; f.msg != want {
		t.Errorf("Fatalf(%q), want %q", f.msg, want)
	}
}
