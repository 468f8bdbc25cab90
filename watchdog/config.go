package watchdog

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Config is the watchdog's configuration. ConfigFromEnv fills it from the same
// environment variables as of-watchdog; tests may also build one by hand.
type Config struct {
	Port                int           // port: function listener (8080)
	MetricsPort         int           // metrics_port: 8081, where the platform scrapes; other values for local runs
	ListenAddress       string        // listen_address: the IP address both listeners bind; "" (the default) is every interface
	ReadTimeout         time.Duration // read_timeout: http.Server.ReadTimeout (0 = none)
	WriteTimeout        time.Duration // write_timeout: http.Server.WriteTimeout and the drain budget
	ExecTimeout         time.Duration // exec_timeout: per-call deadline (0 = none)
	HealthcheckInterval time.Duration // healthcheck_interval: how long to keep serving after SIGTERM
	MaxInflight         int           // max_inflight: concurrent calls before 429 (0 = no limit)
	MaxBodyBytes        int64         // max_body_bytes: request body limit, 413 above it (0 = none)
	SuppressLock        bool          // suppress_lock: don't write the lock file
	ReadyPath           string        // ready_path: the handler's own readiness path
	LogFormat           string        // log_format: "text" or "json"
	LogFlushInterval    time.Duration // log_flush_interval: how long a batch of log lines waits before it is written (100ms); 0 in a Config built by hand means the default
	AccessLog           bool          // access_log: one line per call (true); false drops those lines only, not the watchdog's other lines nor Logger(ctx)'s
	LockFile            string        // /tmp/.lock: fixed because faas-netes' exec probe names it
	StartTimeout        time.Duration // start_timeout: bound on the start hooks together (10s), see lifecycle.go
	AutoGoMemLimit      bool          // auto_gomemlimit: Main sets the Go memory limit from the cgroup's (true), see memlimit.go; New and Serve never do (the limit is the process's), and warn when the environment they read asks for it
	SecretsDir          string        // secret_mount_path: the folder Secret reads for the server's calls and hooks (DefaultSecretsDir when empty)

	JWTAuth           bool   // jwt_auth: require an OpenFaaS IAM token on every call
	JWTAuthDebug      bool   // jwt_auth_debug: log why a call was denied
	JWTIssuer         string // jwt_auth_local picks 127.0.0.1:8000 over the gateway
	FunctionName      string // OPENFAAS_NAME, needed by jwt_auth
	FunctionNamespace string // OPENFAAS_NAMESPACE, else the service account's namespace
}

// Defaults: a 10s call deadline (upstream's in-process template's) with read
// and write timeouts just above it, so a call that hits exec_timeout
// still gets its 504 written before the server cuts the connection.
const (
	defaultPort        = 8080
	defaultMetricsPort = 8081
	defaultExecTimeout = 10 * time.Second
	timeoutHeadroom    = 100 * time.Millisecond
	defaultLockFile    = "/tmp/.lock"

	// defaultStartTimeout bounds the start hooks. faas-netes' default probes
	// restart a pod whose /_/health fails for about this long anyway; the
	// bound makes the failure say which hook hung.
	defaultStartTimeout = 10 * time.Second

	// kubernetesGracePeriod is the terminationGracePeriodSeconds faas-netes CE
	// leaves at its default; a drain longer than this is cut by SIGKILL.
	kubernetesGracePeriod = 30 * time.Second
)

// DefaultConfig is the configuration of an empty environment.
func DefaultConfig() Config {
	io := defaultExecTimeout + timeoutHeadroom
	return Config{
		Port:                defaultPort,
		MetricsPort:         defaultMetricsPort,
		ReadTimeout:         io,
		WriteTimeout:        io,
		ExecTimeout:         defaultExecTimeout,
		HealthcheckInterval: io,
		LogFormat:           "text",
		LogFlushInterval:    logFlushInterval,
		AccessLog:           true,
		LockFile:            defaultLockFile,
		StartTimeout:        defaultStartTimeout,
		AutoGoMemLimit:      true,
		JWTIssuer:           gatewayIssuer,
	}
}

// ConfigFromEnv parses "name=value" pairs such as os.Environ(). It is pure:
// it reads nothing but env. Every bad value is reported, one per line, naming
// the variable, the value and what is accepted.
func ConfigFromEnv(env []string) (Config, error) {
	return newEnvParser(env).config()
}

// config reads every setting from p's variables.
func (p *envParser) config() (Config, error) {
	cfg := DefaultConfig()

	cfg.Port = p.port("port", cfg.Port)
	cfg.MetricsPort = p.port("metrics_port", cfg.MetricsPort)
	if cfg.MetricsPort == cfg.Port {
		// Named after the variable that was set: metrics_port if both were.
		if _, set := p.lookup("metrics_port"); set {
			p.fail("metrics_port", fmt.Sprintf("want a port other than the function's (port=%d)", cfg.Port))
		} else {
			p.fail("port", fmt.Sprintf("want a port other than metrics_port's (%d, its default)", cfg.MetricsPort))
		}
	}
	cfg.ListenAddress = p.ipAddress("listen_address")
	cfg.ExecTimeout = p.duration("exec_timeout", cfg.ExecTimeout, true)
	// read and write timeouts follow exec_timeout unless set, so raising
	// exec_timeout alone does what the user means.
	io := cfg.WriteTimeout
	if cfg.ExecTimeout > 0 {
		io = addDurations(cfg.ExecTimeout, timeoutHeadroom)
	}
	cfg.ReadTimeout = p.duration("read_timeout", io, true)
	cfg.WriteTimeout = p.duration("write_timeout", io, false)
	cfg.HealthcheckInterval = p.duration("healthcheck_interval", cfg.WriteTimeout, false)
	cfg.MaxInflight = int(p.count("max_inflight", 1<<31-1, "0 = no limit"))
	cfg.MaxBodyBytes = p.count("max_body_bytes", 1<<62, "bytes, 0 = no limit")
	cfg.SuppressLock = p.boolean("suppress_lock", false)
	// log_call_id and log_callid are of-watchdog's: accepted (a bad value is
	// still an error) and ignored, as the call id is always logged.
	_ = p.boolean("log_callid", p.boolean("log_call_id", false))
	cfg.ReadyPath = p.path("ready_path")
	cfg.StartTimeout = p.duration("start_timeout", cfg.StartTimeout, false)
	cfg.AutoGoMemLimit = p.boolean("auto_gomemlimit", cfg.AutoGoMemLimit)
	cfg.SecretsDir, _ = p.lookup(SecretsDirEnv)
	cfg.LogFormat = p.oneOf("log_format", cfg.LogFormat, "text", "json")
	cfg.LogFlushInterval = p.duration("log_flush_interval", cfg.LogFlushInterval, false)
	cfg.AccessLog = p.boolean("access_log", cfg.AccessLog)
	cfg.JWTAuth = p.boolean("jwt_auth", false)
	cfg.JWTAuthDebug = p.boolean("jwt_auth_debug", false)
	if p.boolean("jwt_auth_local", false) {
		cfg.JWTIssuer = localIssuer
	}
	cfg.FunctionName, _ = p.lookup("OPENFAAS_NAME")
	cfg.FunctionNamespace, _ = p.lookup("OPENFAAS_NAMESPACE")
	return cfg, errors.Join(p.errs...)
}

// Warnings are valid settings that are probably not what the user wants.
func (c Config) Warnings() []string {
	var w []string
	// A call arriving late in the drain runs for exec_timeout, or for up to
	// write_timeout when there is no shorter exec deadline.
	call, callName := c.ExecTimeout, "exec_timeout"
	if call <= 0 || call > c.WriteTimeout {
		call, callName = c.WriteTimeout, "write_timeout"
	}
	if addDurations(c.HealthcheckInterval, call) > kubernetesGracePeriod {
		w = append(w, fmt.Sprintf("healthcheck_interval (%s) + %s (%s) exceeds the %s grace period Kubernetes gives by default: calls that start late in a scale-down may be cut off",
			c.HealthcheckInterval, callName, call, kubernetesGracePeriod))
	}
	switch {
	case c.ExecTimeout == 0:
		w = append(w, fmt.Sprintf("exec_timeout=0 sets no deadline, but write_timeout (%s) still cuts an answer not written by then (a stream's flush grants it again): raise write_timeout for longer calls",
			c.WriteTimeout))
	case c.ExecTimeout >= c.WriteTimeout:
		w = append(w, fmt.Sprintf("exec_timeout (%s) is not below write_timeout (%s): a slow call's connection may be closed before its 504 is written",
			c.ExecTimeout, c.WriteTimeout))
	}
	return w
}

// envParser reads typed values and collects one error per bad variable.
type envParser struct {
	vars map[string]string
	errs []error
	read []string // every name looked up: internal/settings lists them
}

func newEnvParser(env []string) *envParser {
	vars := make(map[string]string, len(env))
	for _, kv := range env {
		if name, value, ok := strings.Cut(kv, "="); ok {
			vars[name] = value
		}
	}
	return &envParser{vars: vars}
}

func (p *envParser) fail(name, want string) {
	p.errs = append(p.errs, fmt.Errorf("%s=%q: %s", name, p.vars[name], want))
}

func (p *envParser) lookup(name string) (string, bool) {
	p.read = append(p.read, name)
	v := strings.TrimSpace(p.vars[name])
	return v, v != ""
}

// duration follows of-watchdog: a bare whole number is seconds, anything else
// a Go duration. Negative values are refused; zero only where it means "none".
func (p *envParser) duration(name string, def time.Duration, zeroOK bool) time.Duration {
	v, ok := p.lookup(name)
	if !ok {
		return def
	}
	d, err := parseDuration(v)
	want := "want seconds (e.g. 10) or a Go duration (e.g. 10s)"
	switch {
	case err != nil:
		p.fail(name, want)
	case d < 0:
		p.fail(name, want+", not negative")
	case d == 0 && !zeroOK:
		p.fail(name, want+", greater than 0")
	default:
		return d
	}
	return def
}

// addDurations is a + b for non-negative a and b, saturating rather than
// wrapping around to a negative duration.
func addDurations(a, b time.Duration) time.Duration {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

func parseDuration(v string) (time.Duration, error) {
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		// Either way: -9999999999 seconds would wrap around to a positive value.
		if max := int64(math.MaxInt64 / time.Second); n > max || n < -max {
			return 0, errors.New("out of range")
		}
		return time.Duration(n) * time.Second, nil
	}
	return time.ParseDuration(v)
}

func (p *envParser) port(name string, def int) int {
	v, ok := p.lookup(name)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 65535 {
		p.fail(name, "want a TCP port from 1 to 65535")
		return def
	}
	return n
}

// ipAddress is an IP address, IPv4 or IPv6; unset means "".
func (p *envParser) ipAddress(name string) string {
	v, ok := p.lookup(name)
	if !ok {
		return ""
	}
	addr, err := netip.ParseAddr(v)
	if err != nil {
		p.fail(name, "want an IP address, e.g. 127.0.0.1 or ::1 (unset: every interface)")
		return ""
	}
	return addr.String()
}

// count is a whole number from 0 to max; unset means 0.
func (p *envParser) count(name string, max int64, meaning string) int64 {
	v, ok := p.lookup(name)
	if !ok {
		return 0
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || n > max {
		p.fail(name, fmt.Sprintf("want a whole number from 0 to %d (%s)", max, meaning))
		return 0
	}
	return n
}

func (p *envParser) boolean(name string, def bool) bool {
	v, ok := p.lookup(name)
	if !ok {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		p.fail(name, "want true or false (also 1 or 0)")
		return def
	}
	return b
}

func (p *envParser) path(name string) string {
	v, ok := p.lookup(name)
	if !ok {
		return ""
	}
	if !strings.HasPrefix(v, "/") || strings.ContainsAny(v, "?# ") {
		p.fail(name, "want an absolute URL path such as /ready, without query or spaces")
		return ""
	}
	return v
}

func (p *envParser) oneOf(name, def string, allowed ...string) string {
	v, ok := p.lookup(name)
	if !ok {
		return def
	}
	for _, a := range allowed {
		if strings.EqualFold(v, a) {
			return a
		}
	}
	p.fail(name, "want one of "+strings.Join(allowed, ", "))
	return def
}
