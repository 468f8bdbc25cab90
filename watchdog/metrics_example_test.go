package watchdog_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/inproc-go/templates/watchdog"
)

// A function package registers its own series from init; Main serves them
// on :8081/metrics after the watchdog's. (Not run here: registration is for
// the function's own process.)
func ExampleRegisterMetrics() {
	// In the function package, beside Handle:
	//
	//	var (
	//		set    = metrics.NewSet()
	//		orders = set.NewCounter(`orders_placed_total{kind="book"}`)
	//	)
	//
	//	func init() { watchdog.RegisterMetrics(set) }
	//
	//	func Handle(w http.ResponseWriter, r *http.Request) {
	//		orders.Inc()
	//		...
	//	}
	set := metrics.NewSet()
	set.NewCounter(`orders_placed_total{kind="book"}`)
	watchdog.RegisterMetrics(set)
}

// The same series as an Option for New and Serve: the function's counter
// is scraped beside the watchdog's http_requests_total. A name of the
// watchdog's is refused.
func ExampleWithMetrics() {
	set := metrics.NewSet()
	orders := set.NewCounter(`orders_placed_total{kind="book"}`)
	handle := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { orders.Inc() })

	fn, _ := net.Listen("tcp", "127.0.0.1:0")
	metricsLn, _ := net.Listen("tcp", "127.0.0.1:0")
	cfg := watchdog.DefaultConfig()
	cfg.SuppressLock = true
	cfg.HealthcheckInterval = 10 * time.Millisecond // drain at once
	quiet := watchdog.WithLogger(slog.New(slog.DiscardHandler))
	s, err := watchdog.New(handle, watchdog.WithConfig(cfg), watchdog.WithListeners(fn, metricsLn), quiet, watchdog.WithMetrics(set))
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	// The listener is bound already: the call waits for Serve to accept it.
	res, _ := http.Post("http://"+fn.Addr().String()+"/", "text/plain", nil)
	res.Body.Close()
	res, _ = http.Get("http://" + metricsLn.Addr().String() + "/metrics")
	scrape, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for line := range strings.Lines(string(scrape)) {
		if strings.HasPrefix(line, "http_requests_total") || strings.HasPrefix(line, "orders_") {
			fmt.Print(line)
		}
	}
	stop()
	<-done

	clash := metrics.NewSet()
	clash.NewCounter("http_requests_total")
	_, err = watchdog.New(handle, watchdog.WithConfig(cfg), quiet, watchdog.WithMetrics(clash))
	fmt.Println(err)
	// Output:
	// http_requests_total{code="200",method="post"} 1
	// orders_placed_total{kind="book"} 1
	// metrics: http_requests_total, written by the function's metrics #1 (*metrics.Set), is the name of one of the watchdog's own series: rename it
}
