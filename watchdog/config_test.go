package watchdog

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/inproc-go/templates/watchdog/internal/settings"
)

func TestDefaultConfig(t *testing.T) {
	cfg, err := ConfigFromEnv(nil)
	if err != nil {
		t.Fatalf("ConfigFromEnv(nil): %v", err)
	}
	if cfg != DefaultConfig() {
		t.Errorf("ConfigFromEnv(nil) differs from DefaultConfig():\n%+v\n%+v", cfg, DefaultConfig())
	}
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"Port", cfg.Port, 8080},
		{"MetricsPort", cfg.MetricsPort, 8081},
		{"ExecTimeout", cfg.ExecTimeout, 10 * time.Second},
		{"ReadTimeout", cfg.ReadTimeout, 10100 * time.Millisecond},
		{"WriteTimeout", cfg.WriteTimeout, 10100 * time.Millisecond},
		{"HealthcheckInterval", cfg.HealthcheckInterval, cfg.WriteTimeout},
		{"MaxInflight", cfg.MaxInflight, 0},
		{"MaxBodyBytes", cfg.MaxBodyBytes, int64(0)},
		{"SuppressLock", cfg.SuppressLock, false},
		{"ReadyPath", cfg.ReadyPath, ""},
		{"LogFormat", cfg.LogFormat, "text"},
		{"AccessLog", cfg.AccessLog, true},
		{"LogFlushInterval", cfg.LogFlushInterval, 100 * time.Millisecond},
		{"LockFile", cfg.LockFile, "/tmp/.lock"},
	} {
		if c.got != c.want {
			t.Errorf("default %s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if w := cfg.Warnings(); len(w) != 0 {
		t.Errorf("default config warns: %q", w)
	}
}

func TestConfigFromEnv(t *testing.T) {
	const (
		ms = time.Millisecond
		s  = time.Second
	)
	tests := []struct {
		name string
		env  []string
		// edit turns DefaultConfig() into the expected Config.
		edit func(*Config)
	}{
		{"unrelated vars ignored", []string{"PATH=/bin", "HOME=/root", "no_equals_sign", "fprocess=cat"}, func(*Config) {}},
		{"empty values mean unset", []string{"exec_timeout=", "write_timeout=  ", "port=", "max_inflight="}, func(*Config) {}},

		// integer seconds vs Go durations, read/write following exec_timeout
		{"exec seconds", []string{"exec_timeout=30"}, func(c *Config) {
			c.ExecTimeout, c.ReadTimeout, c.WriteTimeout, c.HealthcheckInterval = 30*s, 30100*ms, 30100*ms, 30100*ms
		}},
		{"exec duration", []string{"exec_timeout=1m30s"}, func(c *Config) {
			c.ExecTimeout, c.ReadTimeout, c.WriteTimeout, c.HealthcheckInterval = 90*s, 90100*ms, 90100*ms, 90100*ms
		}},
		{"exec sub-second", []string{"exec_timeout=500ms"}, func(c *Config) {
			c.ExecTimeout, c.ReadTimeout, c.WriteTimeout, c.HealthcheckInterval = 500*ms, 600*ms, 600*ms, 600*ms
		}},
		{"exec surrounded by spaces", []string{"exec_timeout= 5 "}, func(c *Config) {
			c.ExecTimeout, c.ReadTimeout, c.WriteTimeout, c.HealthcheckInterval = 5*s, 5100*ms, 5100*ms, 5100*ms
		}},
		{"exec 0 means no deadline", []string{"exec_timeout=0"}, func(c *Config) {
			c.ExecTimeout = 0 // read and write keep their defaults
		}},
		{"exec 0s", []string{"exec_timeout=0s"}, func(c *Config) { c.ExecTimeout = 0 }},
		{"read and write set explicitly", []string{"exec_timeout=5", "read_timeout=3", "write_timeout=7s"}, func(c *Config) {
			c.ExecTimeout, c.ReadTimeout, c.WriteTimeout, c.HealthcheckInterval = 5*s, 3*s, 7*s, 7*s
		}},
		{"write alone moves healthcheck_interval", []string{"write_timeout=15"}, func(c *Config) {
			c.WriteTimeout, c.HealthcheckInterval = 15*s, 15*s
		}},
		{"read 0 means none", []string{"read_timeout=0"}, func(c *Config) { c.ReadTimeout = 0 }},
		{"healthcheck_interval", []string{"healthcheck_interval=2s"}, func(c *Config) { c.HealthcheckInterval = 2 * s }},
		{"healthcheck_interval seconds", []string{"healthcheck_interval=4"}, func(c *Config) { c.HealthcheckInterval = 4 * s }},
		{"huge exec_timeout saturates instead of overflowing", []string{"exec_timeout=2562047h47m16.8s"}, func(c *Config) {
			c.ExecTimeout = 2562047*time.Hour + 47*time.Minute + 16800*ms
			c.ReadTimeout, c.WriteTimeout, c.HealthcheckInterval = math.MaxInt64, math.MaxInt64, math.MaxInt64
		}},

		{"max_inflight", []string{"max_inflight=5"}, func(c *Config) { c.MaxInflight = 5 }},
		{"max_inflight 0", []string{"max_inflight=0"}, func(*Config) {}},
		{"max_inflight max", []string{"max_inflight=2147483647"}, func(c *Config) { c.MaxInflight = 1<<31 - 1 }},
		{"max_body_bytes", []string{"max_body_bytes=1048576"}, func(c *Config) { c.MaxBodyBytes = 1 << 20 }},
		{"port", []string{"port=3000"}, func(c *Config) { c.Port = 3000 }},
		{"port 1", []string{"port=1"}, func(c *Config) { c.Port = 1 }},
		{"port 65535", []string{"port=65535"}, func(c *Config) { c.Port = 65535 }},
		{"listen_address IPv4", []string{"listen_address=127.0.0.1"}, func(c *Config) { c.ListenAddress = "127.0.0.1" }},
		{"listen_address IPv6", []string{"listen_address= ::1 "}, func(c *Config) { c.ListenAddress = "::1" }},
		{"listen_address empty is every interface", []string{"listen_address="}, func(*Config) {}},
		{"suppress_lock true", []string{"suppress_lock=true"}, func(c *Config) { c.SuppressLock = true }},
		{"suppress_lock 1", []string{"suppress_lock=1"}, func(c *Config) { c.SuppressLock = true }},
		{"suppress_lock TRUE", []string{"suppress_lock=TRUE"}, func(c *Config) { c.SuppressLock = true }},
		{"suppress_lock false", []string{"suppress_lock=false"}, func(*Config) {}},
		{"ready_path", []string{"ready_path=/ready"}, func(c *Config) { c.ReadyPath = "/ready" }},
		{"ready_path nested", []string{"ready_path=/health/ready"}, func(c *Config) { c.ReadyPath = "/health/ready" }},
		{"log_format json", []string{"log_format=json"}, func(c *Config) { c.LogFormat = "json" }},
		{"log_format JSON", []string{"log_format=JSON"}, func(c *Config) { c.LogFormat = "json" }},
		{"log_format text", []string{"log_format=text"}, func(*Config) {}},
		{"log_flush_interval", []string{"log_flush_interval=1h"}, func(c *Config) { c.LogFlushInterval = time.Hour }},
		{"log_flush_interval seconds", []string{"log_flush_interval=2"}, func(c *Config) { c.LogFlushInterval = 2 * s }},
		{"access_log false", []string{"access_log=false"}, func(c *Config) { c.AccessLog = false }},
		{"access_log 0", []string{"access_log=0"}, func(c *Config) { c.AccessLog = false }},
		{"access_log true", []string{"access_log=true"}, func(*Config) {}},
		{"jwt_auth false accepted", []string{"jwt_auth=false"}, func(*Config) {}},
		{"log_callid accepted, ignored", []string{"log_callid=true"}, func(*Config) {}},
		{"log_call_id accepted, ignored", []string{"log_call_id=1"}, func(*Config) {}},
		{"log_callid wins over log_call_id", []string{"log_call_id=true", "log_callid=false"}, func(*Config) {}},
		{"secret_mount_path", []string{"secret_mount_path= .secrets "}, func(c *Config) { c.SecretsDir = ".secrets" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ConfigFromEnv(tt.env)
			if err != nil {
				t.Fatalf("ConfigFromEnv(%q): %v", tt.env, err)
			}
			want := DefaultConfig()
			tt.edit(&want)
			if got != want {
				t.Errorf("ConfigFromEnv(%q) =\n%+v\nwant\n%+v", tt.env, got, want)
			}
		})
	}
}

func TestConfigFromEnvErrors(t *testing.T) {
	const durations = "want seconds (e.g. 10) or a Go duration (e.g. 10s)"
	tests := []struct {
		env  string
		want string // the whole error
	}{
		{"write_timeout=banana", `write_timeout="banana": ` + durations},
		{"exec_timeout=banana", `exec_timeout="banana": ` + durations},
		{"read_timeout=10x", `read_timeout="10x": ` + durations},
		{"exec_timeout=1.5", `exec_timeout="1.5": ` + durations}, // seconds must be whole
		{"write_timeout=0", `write_timeout="0": ` + durations + ", greater than 0"},
		{"write_timeout=0s", `write_timeout="0s": ` + durations + ", greater than 0"},
		{"healthcheck_interval=0", `healthcheck_interval="0": ` + durations + ", greater than 0"},
		{"exec_timeout=-1", `exec_timeout="-1": ` + durations + ", not negative"},
		{"read_timeout=-2s", `read_timeout="-2s": ` + durations + ", not negative"},
		{"write_timeout=-5", `write_timeout="-5": ` + durations + ", not negative"},
		{"healthcheck_interval=-1m", `healthcheck_interval="-1m": ` + durations + ", not negative"},
		// integer seconds that overflow a time.Duration, either way
		{"exec_timeout=9999999999", `exec_timeout="9999999999": ` + durations},
		{"exec_timeout=-9999999999", `exec_timeout="-9999999999": ` + durations},
		{"write_timeout=99999999999999999999", `write_timeout="99999999999999999999": ` + durations},
		{"max_inflight=-1", `max_inflight="-1": want a whole number from 0 to 2147483647 (0 = no limit)`},
		{"max_inflight=lots", `max_inflight="lots": want a whole number from 0 to 2147483647 (0 = no limit)`},
		{"max_inflight=2147483648", `max_inflight="2147483648": want a whole number from 0 to 2147483647 (0 = no limit)`},
		{"max_body_bytes=-1", `max_body_bytes="-1": want a whole number from 0 to 4611686018427387904 (bytes, 0 = no limit)`},
		{"max_body_bytes=1MB", `max_body_bytes="1MB": want a whole number from 0 to 4611686018427387904 (bytes, 0 = no limit)`},
		{"port=0", `port="0": want a TCP port from 1 to 65535`},
		{"port=65536", `port="65536": want a TCP port from 1 to 65535`},
		{"port=-80", `port="-80": want a TCP port from 1 to 65535`},
		{"port=http", `port="http": want a TCP port from 1 to 65535`},
		{"listen_address=localhost", `listen_address="localhost": want an IP address, e.g. 127.0.0.1 or ::1 (unset: every interface)`},
		{"listen_address=127.0.0.1:8080", `listen_address="127.0.0.1:8080": want an IP address, e.g. 127.0.0.1 or ::1 (unset: every interface)`},
		{"suppress_lock=yes", `suppress_lock="yes": want true or false (also 1 or 0)`},
		{"log_callid=on", `log_callid="on": want true or false (also 1 or 0)`},
		{"log_call_id=2", `log_call_id="2": want true or false (also 1 or 0)`},
		{"ready_path=ready", `ready_path="ready": want an absolute URL path such as /ready, without query or spaces`},
		{"ready_path=/ready?deep=1", `ready_path="/ready?deep=1": want an absolute URL path such as /ready, without query or spaces`},
		{"ready_path=/a b", `ready_path="/a b": want an absolute URL path such as /ready, without query or spaces`},
		{"log_format=xml", `log_format="xml": want one of text, json`},
		{"log_flush_interval=0", `log_flush_interval="0": ` + durations + ", greater than 0"},
		{"log_flush_interval=fast", `log_flush_interval="fast": ` + durations},
		{"access_log=off", `access_log="off": want true or false (also 1 or 0)`},
		{"jwt_auth=maybe", `jwt_auth="maybe": want true or false (also 1 or 0)`},
	}
	for _, tt := range tests {
		t.Run(tt.env, func(t *testing.T) {
			_, err := ConfigFromEnv([]string{tt.env})
			if err == nil {
				t.Fatalf("ConfigFromEnv(%q): no error, want %q", tt.env, tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("ConfigFromEnv(%q) error:\n got %s\nwant %s", tt.env, err, tt.want)
			}
		})
	}
}

func TestConfigFromEnvReportsEveryBadVariable(t *testing.T) {
	env := []string{
		"exec_timeout=5", // fine
		"write_timeout=banana",
		"port=0",
		"max_inflight=-3",
		"log_format=yaml",
		"suppress_lock=maybe",
		"healthcheck_interval=0",
	}
	_, err := ConfigFromEnv(env)
	if err == nil {
		t.Fatal("no error")
	}
	lines := strings.Split(err.Error(), "\n")
	wantPrefixes := []string{
		`port="0": `,
		`write_timeout="banana": `,
		`healthcheck_interval="0": `,
		`max_inflight="-3": `,
		`log_format="yaml": `,
		`suppress_lock="maybe": `,
	}
	if len(lines) != len(wantPrefixes) {
		t.Fatalf("got %d error lines, want %d:\n%s", len(lines), len(wantPrefixes), err)
	}
	for _, prefix := range wantPrefixes {
		found := false
		for _, l := range lines {
			found = found || strings.HasPrefix(l, prefix)
		}
		if !found {
			t.Errorf("no error line starting %q in:\n%s", prefix, err)
		}
	}
}

func TestConfigWarnings(t *testing.T) {
	tests := []struct {
		name string
		env  []string
		want []string // substrings, one per expected warning; nil for none
	}{
		{"defaults", nil, nil},
		{"long exec below grace", []string{"exec_timeout=14"}, nil},
		{"exec plus interval over grace", []string{"exec_timeout=20"}, []string{"healthcheck_interval (20.1s) + exec_timeout (20s) exceeds the 30s grace period"}},
		{"long healthcheck_interval", []string{"healthcheck_interval=25"}, []string{"exceeds the 30s grace period"}},
		// with no exec deadline a late call may run for write_timeout
		{"no exec deadline, long interval", []string{"exec_timeout=0", "healthcheck_interval=25"}, []string{"exceeds the 30s grace period", "exec_timeout=0 sets no deadline, but write_timeout (10.1s) still cuts"}},
		{"no exec deadline", []string{"exec_timeout=0"}, []string{"exec_timeout=0 sets no deadline, but write_timeout (10.1s) still cuts"}},
		{"exec above write", []string{"exec_timeout=8", "write_timeout=5"}, []string{"exec_timeout (8s) is not below write_timeout (5s)"}},
		// equal is not below: the 504 races the connection's own cut
		{"exec equal to write", []string{"exec_timeout=5", "write_timeout=5"}, []string{"exec_timeout (5s) is not below write_timeout (5s)"}},
		{"exec just below write", []string{"exec_timeout=5", "write_timeout=5001ms"}, nil},
		{"huge values don't overflow into silence", []string{"exec_timeout=2562047h", "healthcheck_interval=2562047h"}, []string{"exceeds the 30s grace period"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ConfigFromEnv(tt.env)
			if err != nil {
				t.Fatal(err)
			}
			got := cfg.Warnings()
			if len(got) != len(tt.want) {
				t.Fatalf("Warnings() = %q, want %d matching %q", got, len(tt.want), tt.want)
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("warning %d = %q, want it to contain %q", i, got[i], w)
				}
			}
		})
	}
}

// FuzzConfigFromEnv feeds newline-separated environments. The seed corpus is
// in testdata/fuzz/FuzzConfigFromEnv.
func FuzzConfigFromEnv(f *testing.F) {
	f.Add("exec_timeout=5\nwrite_timeout=6s")
	f.Add("port=8080\nmax_inflight=10\nmax_body_bytes=1024\nready_path=/ready\nlog_format=json")
	f.Fuzz(func(t *testing.T, blob string) {
		env := strings.Split(blob, "\n")
		cfg, err := ConfigFromEnv(env)
		_ = cfg.Warnings() // must not panic either
		if err != nil {
			// Each line starts name="value": with a variable of the input.
			names := map[string]bool{}
			for _, kv := range env {
				if name, _, ok := strings.Cut(kv, "="); ok && name != "" {
					names[name] = true
				}
			}
			for _, line := range strings.Split(err.Error(), "\n") {
				name, rest, _ := strings.Cut(line, "=")
				if !names[name] || !strings.HasPrefix(rest, `"`) || !strings.Contains(rest, `": `) {
					t.Fatalf("error line %q does not start with a variable of %q and its value", line, env)
				}
			}
			return
		}
		switch {
		case cfg.WriteTimeout <= 0:
			t.Fatalf("WriteTimeout %v <= 0 for %q", cfg.WriteTimeout, env)
		case cfg.HealthcheckInterval <= 0:
			t.Fatalf("HealthcheckInterval %v <= 0 for %q", cfg.HealthcheckInterval, env)
		case cfg.ReadTimeout < 0 || cfg.ExecTimeout < 0:
			t.Fatalf("negative timeout in %+v for %q", cfg, env)
		case cfg.Port < 1 || cfg.Port > 65535:
			t.Fatalf("port %d for %q", cfg.Port, env)
		case cfg.MaxInflight < 0 || cfg.MaxBodyBytes < 0:
			t.Fatalf("negative limit in %+v for %q", cfg, env)
		case cfg.LogFormat != "text" && cfg.LogFormat != "json":
			t.Fatalf("log format %q for %q", cfg.LogFormat, env)
		case cfg.ReadyPath != "" && !strings.HasPrefix(cfg.ReadyPath, "/"):
			t.Fatalf("ready path %q for %q", cfg.ReadyPath, env)
		}
	})
}

// FuzzParseDuration checks the seconds-or-Go-duration rule: whole numbers are
// seconds and never wrap around, anything else is what time.ParseDuration says.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"10", "0", "-1", "1.5s", "100ms", "9223372036", "-9223372036", "9999999999", "-9999999999", "1h2m3s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseDuration(s)
		if n, perr := strconv.ParseInt(s, 10, 64); perr == nil {
			if err != nil {
				if n >= -9223372036 && n <= 9223372036 {
					t.Fatalf("parseDuration(%q): %v, want %d seconds", s, err, n)
				}
				return
			}
			if d != time.Duration(n)*time.Second || int64(d/time.Second) != n {
				t.Fatalf("parseDuration(%q) = %v, want %d seconds", s, d, n)
			}
			return
		}
		want, werr := time.ParseDuration(s)
		if (err == nil) != (werr == nil) || d != want {
			t.Fatalf("parseDuration(%q) = %v, %v; time.ParseDuration = %v, %v", s, d, err, want, werr)
		}
	})
}

func TestConfigMetricsPort(t *testing.T) {
	cfg, err := ConfigFromEnv([]string{"metrics_port=9101"})
	if err != nil || cfg.MetricsPort != 9101 {
		t.Fatalf("metrics_port=9101: %d, %v", cfg.MetricsPort, err)
	}
	if cfg, _ := ConfigFromEnv(nil); cfg.MetricsPort != 8081 {
		t.Errorf("default metrics port %d, want 8081", cfg.MetricsPort)
	}
	for env, want := range map[string]string{
		"metrics_port=8080":           `metrics_port="8080": want a port other than the function's (port=8080)`,
		"metrics_port=x":              `metrics_port="x": want a TCP port from 1 to 65535`,
		"port=8081":                   `port="8081": want a port other than metrics_port's (8081, its default)`,
		"port=9000 metrics_port=9000": `metrics_port="9000": want a port other than the function's (port=9000)`,
		"port=8081 metrics_port=":     `port="8081": want a port other than metrics_port's (8081, its default)`,
	} {
		if _, err := ConfigFromEnv(strings.Fields(env)); err == nil || err.Error() != want {
			t.Errorf("%s: %v, want %q", env, err, want)
		}
	}
}

// log_flush_interval reaches the batching of New's own logger; a Config
// built by hand without it gets the default.
func TestLogFlushIntervalReachesTheLogger(t *testing.T) {
	for _, tt := range []struct {
		set, want time.Duration
	}{
		{time.Hour, time.Hour},
		{0, logFlushInterval},
	} {
		cfg := DefaultConfig()
		cfg.LogFlushInterval = tt.set
		s, err := New(okHandler, WithConfig(cfg))
		if err != nil {
			t.Fatal(err)
		}
		if s.logOut == nil {
			t.Fatal("New without WithLogger: no batched log output")
		}
		if got := s.logOut.interval; got != tt.want {
			t.Errorf("LogFlushInterval %s: the logger batches for %s, want %s", tt.set, got, tt.want)
		}
	}
}

// Every name watchdogtest accepts as a setting is one ConfigFromEnv reads:
// a value for it changes the configuration.
func TestSettingsAreRead(t *testing.T) {
	values := map[string]string{
		"OPENFAAS_NAME": "fn", "OPENFAAS_NAMESPACE": "ns", "access_log": "false",
		"auto_gomemlimit": "false", "exec_timeout": "3s", "healthcheck_interval": "3s",
		"jwt_auth": "true", "jwt_auth_debug": "true", "jwt_auth_local": "true", "listen_address": "127.0.0.1",
		"log_call_id": "true", "log_callid": "true", "log_flush_interval": "3s",
		"log_format": "json", "max_body_bytes": "3", "max_inflight": "3",
		"metrics_port": "3000", "port": "3001", "read_timeout": "3s", "ready_path": "/r",
		"secret_mount_path": "/s", "start_timeout": "3s", "suppress_lock": "true",
		"write_timeout": "3s",
	}
	ignored := map[string]bool{"log_call_id": true, "log_callid": true}
	names := settings.Names()
	if !slices.IsSorted(names) {
		t.Errorf("settings: want them sorted, got %v", names)
	}
	for _, name := range names {
		v, ok := values[name]
		if !ok {
			t.Errorf("no test value for setting %s", name)
			continue
		}
		cfg, err := ConfigFromEnv([]string{name + "=" + v})
		if ignored[name] {
			// Accepted for of-watchdog's sake, and changes nothing (see
			// TestLogCallIDHasNoEffect): a bad value is still refused.
			if _, bad := ConfigFromEnv([]string{name + "=maybe"}); err != nil || cfg != DefaultConfig() || bad == nil {
				t.Errorf("%s=%s: %v, changes the configuration, or %s=maybe accepted (%v): want it accepted and ignored", name, v, err, name, bad)
			}
			continue
		}
		if err != nil || cfg == DefaultConfig() {
			t.Errorf("%s=%s: %v, changes nothing in the configuration: is it still a setting?", name, v, err)
		}
	}
	// And every name ConfigFromEnv reads is listed.
	p := newEnvParser(nil)
	if _, err := p.config(); err != nil {
		t.Fatal(err)
	}
	for _, name := range p.read {
		if !settings.Known(name) {
			t.Errorf("%s is read by ConfigFromEnv but not listed in internal/settings, so watchdogtest refuses it", name)
		}
	}
}
