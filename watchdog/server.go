package watchdog

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Server is an OpenFaaS function server around one http.Handler: the
// function route, /_/health, /_/ready, :8081/metrics, the lock file, limits,
// timeouts and the drain on shutdown. It owns its servers, routes and metrics,
// so several can run in one process.
type Server struct {
	cfg        Config
	configured bool // by WithConfig or WithEnv
	logger     *slog.Logger
	logOut     *bufferedOutput // nil when the caller supplied a logger
	health     *health
	metrics    *callMetrics
	timeout    *execTimeout
	newAuth    func(Config, *slog.Logger) Authenticator
	auth       Authenticator // nil unless jwt_auth
	life       lifecycle     // start, readiness and shutdown hooks
	scope      scope         // what Logger and Secret answer under this Server, see scope.go
	memRoot    fs.FS         // Main's: where the cgroup files are read, see memlimit.go
	memAsked   bool          // the environment read says auto_gomemlimit=true

	newObservers []func(Config, *slog.Logger) (CallObserver, error)
	observers    []CallObserver // see observe.go

	fnListener, metricsListener net.Listener

	fnServer, metricsServer *http.Server
	lastArrival             atomic.Int64 // unix nanoseconds of the latest call
}

// Option changes how New builds a Server.
type Option func(*Server) error

// WithConfig uses cfg instead of reading the process environment.
func WithConfig(cfg Config) Option {
	return func(s *Server) error { s.cfg, s.configured = cfg, true; return nil }
}

// WithEnv parses env ("name=value" pairs) instead of os.Environ().
func WithEnv(env []string) Option {
	return func(s *Server) error {
		cfg, err := ConfigFromEnv(env)
		s.cfg, s.configured = cfg, true
		s.memAsked = cfg.AutoGoMemLimit && slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "auto_gomemlimit=") })
		return err
	}
}

// WithLogger sends the watchdog's lines, and Logger(ctx)'s, to logger. Its
// handler is wrapped so records logged with a call's context get call_id.
// A nil logger is refused: leave the option out for the default one.
func WithLogger(logger *slog.Logger) Option {
	return func(s *Server) error {
		if logger == nil || logger.Handler() == nil {
			return errors.New("watchdog: WithLogger: want a *slog.Logger with a handler, got nil; leave WithLogger out for the default logger (stderr, log_format)")
		}
		s.logger = slog.New(callIDHandler{logger.Handler()})
		return nil
	}
}

// WithListeners serves on ready-made listeners instead of :port and :8081,
// e.g. 127.0.0.1:0 in tests.
func WithListeners(function, metrics net.Listener) Option {
	return func(s *Server) error {
		s.fnListener, s.metricsListener = function, metrics
		return nil
	}
}

// New builds a Server for h, reading the process environment unless
// WithConfig or WithEnv gives the configuration. Every configuration error is
// returned, one per line.
func New(h http.Handler, opts ...Option) (*Server, error) {
	if h == nil {
		return nil, errors.New("watchdog: nil handler")
	}
	s := &Server{life: lifecycle{cleanupTimeout: defaultCleanupTimeout}}
	for _, opt := range opts {
		if err := opt(s); err != nil {
			return nil, err
		}
	}
	if !s.configured {
		if err := WithEnv(os.Environ())(s); err != nil {
			return nil, err
		}
	}
	if s.logger == nil {
		interval := s.cfg.LogFlushInterval
		if interval <= 0 {
			interval = logFlushInterval
		}
		s.logOut = newBufferedOutput(os.Stderr, interval)
		s.logger = newLogger(s.logOut, s.cfg.LogFormat)
	}
	s.scope = scope{logger: s.logger, secrets: Secrets{Dir: s.cfg.SecretsDir}}
	if s.cfg.JWTAuth {
		if s.newAuth == nil {
			return nil, errors.New(`jwt_auth="true": this function was built without JWT support; build it with the build arg GOFLAGS=-tags=jwt (see the README)`)
		}
		s.auth = s.newAuth(s.cfg, s.logger)
	}
	if err := s.buildObservers(); err != nil {
		return nil, err
	}
	s.build(h)
	return s, nil
}

// build wraps h once, at start-up, so a call pays for no set-up.
//
// Each layer's constructor is marked //go:noinline: the compiler does not
// inline the calls inside a closure that comes from a function it inlined,
// so a layer built inline here would make every call pay for calls as small
// as r.Context().
func (s *Server) build(h http.Handler) {
	cfg := s.cfg
	s.timeout = newExecTimeout(cfg.ExecTimeout)
	s.timeout.callIsContext = len(s.observers) == 0 && s.auth == nil
	s.metrics = newCallMetrics(func() float64 { return float64(s.timeout.overdue.Load()) })
	s.metrics.own, s.life.metrics.logger = &s.life.metrics, s.logger
	lim := &limiter{max: int64(cfg.MaxInflight)}

	// The handler under its deadline, panics caught: what every call runs,
	// ready_path's probe (health.function) too.
	core := withRecover(
		s.timeout.middleware(
			withBodyLimit(cfg.MaxBodyBytes,
				h)))

	// The function route's layers, outermost first. The limiter comes
	// before jwt_auth, as upstream: a full function answers 429 before
	// spending time on a signature.
	function := withCall(&s.scope, cfg.WriteTimeout, &s.lastArrival,
		observe(s.observers,
			s.metrics.middleware(
				s.accessLog(
					handler(s.untilStarted(
						lim.middleware(
							s.authenticate(
								core))))))))

	lock := cfg.LockFile
	if cfg.SuppressLock {
		lock = ""
	}
	s.health = &health{lockFile: lock, limiter: lim, readyPath: cfg.ReadyPath, checks: s.life.ready, scope: &s.scope,
		function: withCall(&s.scope, cfg.WriteTimeout, nil, handler(core))}

	// A switch rather than http.ServeMux: the function sees every path as
	// sent (no redirects for unclean paths), and nothing registered on
	// http.DefaultServeMux, such as net/http/pprof, is ever exposed.
	routes := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/_/health":
			s.health.serveHealth(w, r)
		case "/_/ready":
			s.health.serveReady(w, r)
		default:
			function.ServeHTTP(w, r)
		}
	})
	s.fnServer = &http.Server{
		Handler:           routes,
		ReadTimeout:       cfg.ReadTimeout,
		ReadHeaderTimeout: headerTimeout(cfg.ReadTimeout),
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    1 << 20,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
		ConnContext:       withConn, // for exec_timeout's cut
	}
	s.metricsServer = &http.Server{
		Handler:           s.metrics.handler(),
		ReadHeaderTimeout: 5 * time.Second,
		WriteTimeout:      10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
	}
}

// accessLog is the access-log layer, or none with access_log=false.
func (s *Server) accessLog(next callHandler) callHandler {
	if !s.cfg.AccessLog {
		return next
	}
	var line *accessLine
	if s.logOut != nil { // the watchdog's own logger
		line = newAccessLine(s.logOut, s.cfg.LogFormat)
	}
	return withAccessLog(s.logger, line, next)
}

// authenticate is the jwt_auth layer, or none without jwt_auth.
func (s *Server) authenticate(next http.Handler) http.Handler {
	if s.auth == nil {
		return next
	}
	return s.auth.Wrap(next)
}

// headerTimeout bounds how long a client may take to send its headers, so a
// slowloris trickle is cut even when read_timeout is long or off.
func headerTimeout(read time.Duration) time.Duration {
	const max = 10 * time.Second
	if read > 0 && read < max {
		return read
	}
	return max
}

// Config is the configuration the server runs with.
func (s *Server) Config() Config { return s.cfg }

// Logger is the server's logger; records logged with a call's context carry
// its call_id.
func (s *Server) Logger() *slog.Logger { return s.logger }

// Serve serves until ctx is done, then drains (see drain's steps in
// shutdown.go) and returns. Start-up failures (a port in use, a start hook's
// error, an unwritable lock file) are returned, as is a drain that had to cut
// calls off.
func (s *Server) Serve(ctx context.Context) error {
	if s.logOut != nil {
		defer s.logOut.Flush()
	}
	for _, w := range s.cfg.Warnings() {
		s.logger.Warn(w)
	}
	if s.memoryLimitIgnored() {
		s.logger.Warn(memoryLimitIgnored)
	}
	if s.auth != nil {
		// Keys refresh in the background for as long as Serve runs, the
		// drain included.
		authCtx, stopAuth := context.WithCancel(context.Background())
		defer stopAuth()
		if err := s.auth.Start(authCtx); err != nil {
			return err
		}
	}
	if err := s.listen(); err != nil {
		return err
	}

	serveErr := make(chan error, 2)
	go func() { serveErr <- serveUntilClosed(s.fnServer, s.fnListener) }()
	go func() { serveErr <- serveUntilClosed(s.metricsServer, s.metricsListener) }()

	// The start hooks run while /_/health answers 503: the platform sees a
	// pod starting, not one that refuses connections.
	if err := s.runStart(ctx); err != nil {
		s.fnServer.Close()
		s.metricsServer.Close()
		return err
	}
	if s.health.lockFile != "" {
		if err := writeLockFile(s.health.lockFile); err != nil {
			s.fnServer.Close()
			s.metricsServer.Close()
			return err
		}
	}
	s.health.accepting.Store(true)
	s.logger.Info("serving",
		slog.String("function", s.fnListener.Addr().String()),
		slog.String("metrics", s.metricsListener.Addr().String()),
		slog.Duration("exec_timeout", s.cfg.ExecTimeout),
		slog.Duration("write_timeout", s.cfg.WriteTimeout),
		slog.Int("max_inflight", s.cfg.MaxInflight))

	select {
	case <-ctx.Done():
		return s.drain(context.Cause(ctx))
	case err := <-serveErr:
		// A listener failed under us: stop being healthy and report it.
		s.health.accepting.Store(false)
		_ = removeLockFile(s.health.lockFile)
		s.fnServer.Close()
		s.metricsServer.Close()
		return fmt.Errorf("serving stopped: %w", err)
	}
}

// listen binds both ports before anything reports healthy, so a port in use
// is an error at start rather than a healthy-looking pod that answers nothing.
func (s *Server) listen() error {
	if s.fnListener == nil {
		ln, err := net.Listen("tcp", net.JoinHostPort(s.cfg.ListenAddress, strconv.Itoa(s.cfg.Port)))
		if err != nil {
			return fmt.Errorf("function port: %w", err)
		}
		s.fnListener = ln
	}
	if s.metricsListener == nil {
		ln, err := net.Listen("tcp", net.JoinHostPort(s.cfg.ListenAddress, strconv.Itoa(s.cfg.MetricsPort)))
		if err != nil {
			s.fnListener.Close()
			return fmt.Errorf("metrics port: %w", err)
		}
		s.metricsListener = ln
	}
	return nil
}

func serveUntilClosed(srv *http.Server, ln net.Listener) error {
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Serve builds a Server for h and serves until ctx is done. See New and
// Server.Serve.
func Serve(ctx context.Context, h http.Handler, opts ...Option) error {
	s, err := New(h, opts...)
	if err != nil {
		return err
	}
	return s.Serve(ctx)
}
