package prommetrics_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/inproc-go/templates/watchdog"
	"github.com/inproc-go/templates/watchdog/prommetrics"
)

// A function that counts with promauto registers the default registry from
// init; Main serves it on :8081/metrics after the watchdog's series. (Not
// run here: registration is for the function's own process.)
func ExampleRegister() {
	// In the function package, beside Handle:
	//
	//	var orders = promauto.NewCounter(prometheus.CounterOpts{
	//		Name: "orders_placed_total", Help: "Orders placed.",
	//	})
	//
	//	func init() { prommetrics.Register(prometheus.DefaultGatherer) }
	prommetrics.Register(prometheus.DefaultGatherer)
}

// A registry as an Option for New and Serve: its counter is scraped, with
// its help text, beside the watchdog's http_requests_total.
func ExampleWith() {
	reg := prometheus.NewRegistry()
	orders := promauto.With(reg).NewCounter(prometheus.CounterOpts{Name: "orders_placed_total", Help: "Orders placed."})
	handle := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { orders.Inc() })

	fn, _ := net.Listen("tcp", "127.0.0.1:0")
	metricsLn, _ := net.Listen("tcp", "127.0.0.1:0")
	cfg := watchdog.DefaultConfig()
	cfg.SuppressLock = true
	cfg.HealthcheckInterval = 10 * time.Millisecond // drain at once
	s, err := watchdog.New(handle, watchdog.WithConfig(cfg), watchdog.WithListeners(fn, metricsLn),
		watchdog.WithLogger(slog.New(slog.DiscardHandler)), prommetrics.With(reg))
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
		if strings.HasPrefix(line, "http_requests_total") || strings.Contains(line, "orders_") {
			fmt.Print(line)
		}
	}
	stop()
	<-done
	// Output:
	// http_requests_total{code="200",method="post"} 1
	// # HELP orders_placed_total Orders placed.
	// # TYPE orders_placed_total counter
	// orders_placed_total 1
}
