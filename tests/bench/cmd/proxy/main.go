// Command proxy is the benchmark's two-process baseline: a small stand-in
// for the classic of-watchdog in http mode, written for this benchmark. It
// starts the function as a child process (env fprocess), waits until the
// child accepts connections on upstream_url, writes /tmp/.lock, then answers
// /_/health itself and forwards every other request to the child with
// net/http/httputil.ReverseProxy, logging one line per call to stderr
// unbuffered, as of-watchdog does. It exits when the child exits, and passes
// SIGTERM and SIGINT on to it after draining its own server.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

const lockFile = "/tmp/.lock"

type config struct {
	fprocess []string
	upstream *url.URL
	port     string
}

func configFromEnv(getenv func(string) string) (config, error) {
	var c config
	c.fprocess = strings.Fields(getenv("fprocess"))
	if len(c.fprocess) == 0 {
		return c, errors.New("fprocess is empty: set it to the handler's command line")
	}
	raw := getenv("upstream_url")
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return c, fmt.Errorf("upstream_url=%q: want http://host:port", raw)
	}
	c.upstream = u
	c.port = getenv("port")
	if c.port == "" {
		c.port = "8080"
	}
	return c, nil
}

// proxy is the watchdog's HTTP side: health, and the call route.
type proxy struct {
	healthy  atomic.Bool
	lockFile string
	forward  http.Handler
	logger   *log.Logger
}

func newProxy(upstream *url.URL, lock string, logger *log.Logger) *proxy {
	transport := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 3 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 1024, // keep-alive to the child for every caller
		IdleConnTimeout:     2 * time.Minute,
		DisableCompression:  true,
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(upstream)
			pr.Out.Host = pr.In.Host
		},
		Transport: transport,
		ErrorLog:  logger,
	}
	return &proxy{lockFile: lock, forward: rp, logger: logger}
}

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/_/health" {
		p.serveHealth(w)
		return
	}
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w}
	p.forward.ServeHTTP(rec, r)
	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	p.logger.Printf("%s %s - %d %s - ContentLength: %dB (%.4fs)", r.Method, r.URL.Path,
		status, http.StatusText(status), rec.bytes, time.Since(start).Seconds())
}

func (p *proxy) serveHealth(w http.ResponseWriter) {
	if !p.healthy.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	if p.lockFile != "" {
		if _, err := os.Stat(p.lockFile); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
	}
	_, _ = w.Write([]byte("OK"))
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += int64(n)
	return n, err
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// waitUpstream dials addr until it accepts or ctx ends.
func waitUpstream(ctx context.Context, addr string) error {
	d := net.Dialer{Timeout: time.Second}
	for {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			return c.Close()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("upstream %s never accepted: %w", addr, err)
		case <-time.After(2 * time.Millisecond):
		}
	}
}

func main() {
	logger := log.New(os.Stderr, "", log.LstdFlags)
	cfg, err := configFromEnv(os.Getenv)
	if err != nil {
		logger.Fatalf("proxy: %v", err)
	}

	child := exec.Command(cfg.fprocess[0], cfg.fprocess[1:]...)
	child.Stdout, child.Stderr = os.Stdout, os.Stderr
	if err := child.Start(); err != nil {
		logger.Fatalf("proxy: starting %q: %v", cfg.fprocess, err)
	}
	childDone := make(chan error, 1)
	go func() { childDone <- child.Wait() }()

	p := newProxy(cfg.upstream, lockFile, logger)
	srv := &http.Server{
		Addr:              ":" + cfg.port,
		Handler:           p,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.ListenAndServe() }()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	err = waitUpstream(ctx, cfg.upstream.Host)
	cancel()
	if err != nil {
		_ = child.Process.Kill()
		logger.Fatalf("proxy: %v", err)
	}
	if err := os.WriteFile(lockFile, nil, 0o644); err != nil {
		_ = child.Process.Kill()
		logger.Fatalf("proxy: lock file: %v", err)
	}
	p.healthy.Store(true)
	logger.Printf("proxy: forwarding :%s to %s (%s)", cfg.port, cfg.upstream, strings.Join(cfg.fprocess, " "))

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	select {
	case err := <-childDone:
		logger.Fatalf("proxy: the function process exited: %v", err)
	case err := <-serveErr:
		_ = child.Process.Kill()
		logger.Fatalf("proxy: %v", err)
	case sig := <-signals:
		p.healthy.Store(false)
		_ = os.Remove(lockFile)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = srv.Shutdown(ctx)
		cancel()
		_ = child.Process.Signal(sig)
		select {
		case <-childDone:
		case <-time.After(5 * time.Second):
			_ = child.Process.Kill()
		}
	}
}
