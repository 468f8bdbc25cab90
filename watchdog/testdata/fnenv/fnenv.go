// Package fnenv is the main of the functions under testdata: watchdog.Main
// around a handler, configured by the environment as a deployed function is,
// plus three variables that exist only here, so that a test never touches
// the fixed ports or /tmp/.lock:
//
//	integration_metrics_port  port of the metrics listener (default 8081)
//	integration_lock_file     path of the lock file (default /tmp/.lock)
//	integration_listeners     "inherited": serve the listeners passed as file
//	                          descriptors 3 (function) and 4 (metrics), bound
//	                          by the test, instead of binding port and the
//	                          metrics port: no free port to guess and lose
package fnenv

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"

	"github.com/inproc-go/templates/watchdog"
)

// Main runs h under watchdog.Main; a bad variable exits 2, naming it after
// name, the command's.
func Main(name string, h http.Handler) {
	cfg, err := watchdog.ConfigFromEnv(os.Environ())
	if err != nil {
		exit(name, "bad configuration:\n%v", err)
	}
	if v := os.Getenv("integration_metrics_port"); v != "" {
		port, err := strconv.Atoi(v)
		if err != nil || port < 1 || port > 65535 {
			exit(name, "integration_metrics_port=%q: want a TCP port from 1 to 65535", v)
		}
		cfg.MetricsPort = port
	}
	if v := os.Getenv("integration_lock_file"); v != "" {
		cfg.LockFile = v
	}
	opts := []watchdog.Option{watchdog.WithConfig(cfg)}
	switch v := os.Getenv("integration_listeners"); v {
	case "":
	case "inherited":
		fn, metrics := inherited(name, 3, "function"), inherited(name, 4, "metrics")
		opts = append(opts, watchdog.WithListeners(fn, metrics))
	default:
		exit(name, "integration_listeners=%q: want inherited, or unset", v)
	}
	watchdog.Main(h, opts...)
}

func inherited(name string, fd uintptr, what string) net.Listener {
	ln, err := net.FileListener(os.NewFile(fd, what))
	if err != nil {
		exit(name, "integration_listeners=inherited: file descriptor %d (%s listener): %v", fd, what, err)
	}
	return ln
}

func exit(name, format string, args ...any) {
	fmt.Fprintf(os.Stderr, name+": "+format+"\n", args...)
	os.Exit(2)
}
