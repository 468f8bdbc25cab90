// Command echo is the benchmark's bare net/http server: it answers every
// request 200 with the request body and, when the request has one, its
// Content-Type, nothing else. Alone in a scratch image it is the physical
// limit the templates are measured against; behind cmd/proxy it is the
// handler process of the two-process baseline.
//
// Flags add one thing each, so cmd/callcost can count what that thing costs
// on its own: -timeouts serves with the http.Server limits the templates set
// by default, -headers sets the response headers the templates set on every
// answer. With -timeouts -headers=2 it is the contract's floor: bare net/http
// plus only what the function contract makes every template do per call (the
// floor image, images/floor.Dockerfile).
package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

// Echo writes the request body back with the request's Content-Type, as
// every variant's handler does (tests/internal/callshape says why).
func Echo(w http.ResponseWriter, r *http.Request) {
	if ct, ok := r.Header["Content-Type"]; ok {
		w.Header()["Content-Type"] = ct
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// withHeaders sets n of the headers the templates set on every answer:
// X-Call-Id, then X-Duration-Seconds, fixed values of the templates'
// lengths (never changed, so every answer can share them). What net/http
// does with a non-empty header map is the cost being isolated, not making
// the values.
func withHeaders(n int, next http.HandlerFunc) http.HandlerFunc {
	kv := [][2]string{{"X-Call-Id", "9b2f5d2e-8c1a-4f6b-9e3d-7a1c0b4e5f60"}, {"X-Duration-Seconds", "0.000042"}}[:n]
	values := make([][]string, n)
	for i := range kv {
		values[i] = []string{kv[i][1]}
	}
	return func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		for i := range kv {
			h[kv[i][0]] = values[i]
		}
		next(w, r)
	}
}

func main() {
	listen := flag.String("listen", ":8080", "address to listen on")
	timeouts := flag.Bool("timeouts", false, "serve with the templates' default http.Server limits (watchdog/server.go: read and write 10.1s, headers 10s, idle 2m, 1 MiB of headers)")
	headers := flag.Int("headers", 0, "set this many of the templates' answer headers on every answer: 1 for X-Call-Id, 2 for X-Call-Id and X-Duration-Seconds")
	flag.Parse()
	h := http.HandlerFunc(Echo)
	if *headers < 0 || *headers > 2 {
		fmt.Fprintf(os.Stderr, "echo: -headers %d: want 0, 1 or 2\n", *headers)
		os.Exit(2)
	}
	if *headers > 0 {
		h = withHeaders(*headers, h)
	}
	srv := &http.Server{Addr: *listen, Handler: h}
	if *timeouts {
		srv.ReadTimeout, srv.WriteTimeout = 10100*time.Millisecond, 10100*time.Millisecond
		srv.ReadHeaderTimeout, srv.IdleTimeout = 10*time.Second, 2*time.Minute
		srv.MaxHeaderBytes = 1 << 20
	}
	if err := srv.ListenAndServe(); err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		os.Exit(1)
	}
}
