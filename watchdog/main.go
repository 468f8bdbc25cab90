package watchdog

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/inproc-go/templates/watchdog/internal/hooks"
)

// errSignal is the cause of a shutdown that a signal started.
var errSignal = errors.New("signal")

// Main runs h as the function's whole process and exits: it is what a
// template's main.go calls. Besides serving it answers two probes that need
// no shell in a scratch image:
//
//   - started as "cat" (the image links /bin/cat to the binary), it prints
//     the named files like cat, so faas-netes' exec probe "cat /tmp/.lock"
//     passes exactly while the lock file exists;
//   - with -run-healthcheck, it exits 0 if the lock file exists, else 1.
//
// The first SIGTERM or SIGINT starts the drain; a second exits at once.
// Exit codes: 0 after a clean drain, 1 for a failure while serving (a start
// hook's included) or a drain that cut calls off, 2 for bad configuration or
// arguments.
//
// Main also runs the hooks registered with OnStart, OnReady and OnShutdown,
// and serves the series registered with RegisterMetrics (or
// prommetrics.Register) after the watchdog's.
//
// Unlike New and Serve, Main sets process-wide state before serving:
// slog.SetDefault to the server's logger, so slog.InfoContext(ctx, ...)
// lines carry the call id, which, as slog.SetDefault does, also sends the
// standard log package through it (a log.Printf line becomes an INFO record
// without a call id); and, with auto_gomemlimit, the Go memory limit. A main that wants its globals left alone calls Serve.
func Main(h http.Handler, opts ...Option) {
	// The hooks the function package registered from init come first, so
	// the template's own options (WithAuth) keep their place after them.
	opts = append(registered(hooks.Take()), opts...)
	opts = append(opts, withMemoryLimit(os.DirFS("/")))
	os.Exit(run(os.Args, os.Stdout, os.Stderr, h, opts))
}

func run(args []string, stdout, stderr io.Writer, h http.Handler, opts []Option) int {
	if filepath.Base(args[0]) == "cat" {
		return cat(args[1:], stdout, stderr)
	}
	flags := flag.NewFlagSet(filepath.Base(args[0]), flag.ContinueOnError)
	flags.SetOutput(stderr)
	healthcheck := flags.Bool("run-healthcheck", false, "exit 0 if the lock file "+defaultLockFile+" exists, else 1")
	if err := flags.Parse(args[1:]); err != nil {
		return 2
	}
	if *healthcheck {
		if err := checkLockFile(defaultLockFile); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		return 0
	}

	s, err := New(h, opts...)
	if err != nil {
		fmt.Fprintf(stderr, "watchdog: bad configuration:\n%v\n", err)
		return 2
	}
	// Logs written with slog's package functions and a call's context carry
	// the call id too.
	slog.SetDefault(s.Logger())
	s.applyMemoryLimit() // before the start hooks fill caches

	ctx, stop := signalContext(stderr, s.flushLogs)
	defer stop()
	if err := s.Serve(ctx); err != nil {
		fmt.Fprintf(stderr, "watchdog: %v\n", err)
		return 1
	}
	return 0
}

// signalContext is done at the first SIGTERM or SIGINT; a second one exits
// the process at once, for an impatient Ctrl-C, after beforeExit.
func signalContext(stderr io.Writer, beforeExit func()) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		sig, ok := <-signals
		if !ok {
			return
		}
		cancel(fmt.Errorf("%w %s", errSignal, sig))
		if sig, ok = <-signals; !ok {
			return
		}
		beforeExit()
		fmt.Fprintf(stderr, "watchdog: second signal (%s): exiting now\n", sig)
		os.Exit(1)
	}()
	return ctx, func() {
		signal.Stop(signals) // no more sends after this returns
		close(signals)
		cancel(nil)
	}
}

// cat copies the named files to stdout, as the probe's cat would.
func cat(paths []string, stdout, stderr io.Writer) int {
	code := 0
	for _, p := range paths {
		f, err := os.Open(p)
		if err == nil {
			_, err = io.Copy(stdout, f)
			f.Close()
		}
		if err != nil {
			fmt.Fprintf(stderr, "cat: %v\n", err)
			code = 1
		}
	}
	return code
}
