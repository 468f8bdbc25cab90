package watchdog_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/inproc-go/templates/watchdog"
)

// A function package registers its hooks from init; the template's main.go
// stays as it is and Main runs them. (Not run here: registration is for the
// function's own process.)
func ExampleOnStart() {
	// In the function package, beside Handle:
	//
	//	func init() {
	//		watchdog.OnStart(openPool)
	//		watchdog.OnReady(pingPool)
	//		watchdog.OnShutdown(closePool)
	//	}
	var pool *net.Dialer
	watchdog.OnStart(func(ctx context.Context) error {
		pool = &net.Dialer{} // open a pool, warm a cache: before any call
		return nil
	})
	watchdog.OnReady(func(ctx context.Context) error {
		if pool == nil {
			return errors.New("pool not open")
		}
		return nil
	})
	watchdog.OnShutdown(func(ctx context.Context) error {
		pool = nil // after the drain
		return nil
	})
}

// The same hooks as Options for New and Serve: here the readiness check
// turns /_/ready from 503, with its reason, to 200.
func ExampleWithReadiness() {
	fn, _ := net.Listen("tcp", "127.0.0.1:0")
	metrics, _ := net.Listen("tcp", "127.0.0.1:0")
	cfg := watchdog.DefaultConfig()
	cfg.SuppressLock = true
	cfg.HealthcheckInterval = 10 * time.Millisecond

	var warm atomic.Bool
	ready := func(ctx context.Context) error {
		if !warm.Load() {
			return errors.New("cache: warming up")
		}
		return nil
	}
	started := make(chan struct{})
	start := func(ctx context.Context) error { close(started); return nil }
	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") })

	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- watchdog.Serve(ctx, hello, watchdog.WithConfig(cfg), watchdog.WithListeners(fn, metrics),
			watchdog.WithLogger(slog.New(slog.DiscardHandler)),
			watchdog.WithStart(start), watchdog.WithReadiness(ready),
			watchdog.WithShutdown(func(ctx context.Context) error { fmt.Println("cleanup"); return nil }))
	}()
	<-started
	url := "http://" + fn.Addr().String()
	for health := 0; health != 200; { // the start hook has returned; wait for health
		if res, err := http.Get(url + "/_/health"); err == nil {
			health = res.StatusCode
			res.Body.Close()
		}
	}
	show := func() {
		res, err := http.Get(url + "/_/ready")
		if err != nil {
			fmt.Println(err)
			return
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		fmt.Printf("%d %q\n", res.StatusCode, body)
	}
	show()
	warm.Store(true)
	show()
	stop()
	fmt.Println("Serve returned:", <-done)
	// Output:
	// 503 "cache: warming up\n"
	// 200 ""
	// cleanup
	// Serve returned: <nil>
}
