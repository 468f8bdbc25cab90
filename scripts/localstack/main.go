// Command localstack runs every function of a stack.yaml natively, each on
// its own loopback ports with the watchdog compiled in, behind one listener
// that serves the OpenFaaS gateway's routes, and rebuilds a function when
// its source changes. scripts/local-stack.sh builds and runs it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage: scripts/local-stack.sh [-f STACK_FILE] [-listen ADDR] [-tests]

Runs every function of a faas-cli stack file whose lang is one of this
repository's templates, without containers: each is built natively as its
image's Dockerfile builds it (the template faas-cli pulled into ./template
when there is one), runs with the watchdog compiled in on loopback ports of
its own, and is served at ADDR as the OpenFaaS gateway serves it:
  /function/NAME and /function/NAME/PATH   the function's routes
  /system/functions                        what runs (faas-cli list)
Each function gets its environment, environment_file, secrets (files in
.secrets/ beside the stack file, as faas-cli local-run mounts them) and
limits.memory as GOMEMLIMIT; its lines are printed with its name in front.
Saving a .go file, go.mod or go.sum in a function's folder rebuilds it; a
build that passes replaces the running process once the new one is ready
(the old one drains), a build that fails leaves the old one serving.
Ctrl-C drains every function and exits 0; a second Ctrl-C exits at once.

  -f STACK_FILE  the stack file (default stack.yaml, else stack.yml)
  -listen ADDR   the gateway's address (default 127.0.0.1:8080)
  -tests         run each function's tests in each build, as the image
                 build does (off by default: a save rebuilds faster)
The SDK module comes from scripts/sdk.sh's proxy unless INPROC_SDK_PROXY
says one already runs (GOPROXY then has it).
Exit status: 0 after Ctrl-C's drain, 1 when serving fails, 2 for bad input.
`

// config is what the command line asks for.
type config struct {
	stackFile string
	listen    string
	tests     bool
	repo      string
}

func parseArgs(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("local-stack", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&c.stackFile, "f", "", "")
	fs.StringVar(&c.listen, "listen", "127.0.0.1:8080", "")
	fs.BoolVar(&c.tests, "tests", false, "")
	fs.StringVar(&c.repo, "repo", "", "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c, err
		}
		return c, fmt.Errorf("%v (see -h)", err)
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q (see -h)", fs.Arg(0))
	}
	if c.repo == "" {
		return c, errors.New("-repo is required: run scripts/local-stack.sh, which sets it")
	}
	if c.stackFile == "" {
		c.stackFile = "stack.yaml"
		if _, err := os.Stat(c.stackFile); err != nil {
			if _, err := os.Stat("stack.yml"); err == nil {
				c.stackFile = "stack.yml"
			}
		}
	}
	if _, port, err := net.SplitHostPort(c.listen); err != nil || port == "" {
		return c, fmt.Errorf("-listen %q: want HOST:PORT, e.g. 127.0.0.1:8080", c.listen)
	}
	return c, nil
}

func run(args []string, stdout, stderr io.Writer) int {
	c, err := parseArgs(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, usage)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "local-stack: %v\n", err)
		return 2
	}
	langs, err := templates(c.repo)
	if err != nil {
		fmt.Fprintf(stderr, "local-stack: %v\n", err)
		return 2
	}
	st, err := load(c.stackFile, c.repo, langs)
	if err != nil {
		fmt.Fprintf(stderr, "local-stack: %v\n", err)
		return 2
	}
	for _, s := range st.Skipped {
		fmt.Fprintf(stderr, "local-stack: skipped %s\n", s)
	}
	ln, err := net.Listen("tcp", c.listen)
	if err != nil {
		fmt.Fprintf(stderr, "local-stack: -listen %s: %v (another gateway or local-stack running? pick another with -listen)\n", c.listen, err)
		return 2
	}
	binDir, err := os.MkdirTemp("", "local-stack-")
	if err != nil {
		fmt.Fprintf(stderr, "local-stack: %v\n", err)
		return 1
	}
	defer os.RemoveAll(binDir)

	var names []string
	for _, fn := range st.Functions {
		names = append(names, fn.Name)
	}
	out := newOutput(stdout, names)
	b := builder{repo: c.repo, dir: st.Dir, tests: c.tests}
	var services []*service
	for i, fn := range st.Functions {
		services = append(services, &service{fn: fn, builder: b, binDir: binDir,
			log: out.prefix(fn.Name, i), live: map[*instance]bool{}})
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(signals)

	srv := &http.Server{Handler: newGateway(services), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	url := "http://" + ln.Addr().String()
	fmt.Fprintf(stderr, "local-stack: gateway on %s (faas-cli list --gateway %s); building %s\n", url, url, strings.Join(names, ", "))

	var wg sync.WaitGroup
	for _, s := range services {
		wg.Go(func() { s.rebuild(ctx) })
	}
	watched := make(chan error, 1)
	go func() {
		watched <- watch(ctx, services, func(err error) { fmt.Fprintf(stderr, "local-stack: watching files: %v\n", err) })
	}()
	go func() {
		wg.Wait()
		if ctx.Err() != nil {
			return
		}
		for _, s := range services {
			fmt.Fprintf(stderr, "local-stack: %s/function/%s\n", url, s.fn.Name)
		}
		fmt.Fprintf(stderr, "local-stack: watching %s for changes; Ctrl-C to stop\n", filepath.Base(st.Dir))
	}()

	code := 0
	select {
	case sig := <-signals:
		fmt.Fprintf(stderr, "local-stack: %s: draining every function (again to exit at once)\n", sig)
	case err := <-served:
		fmt.Fprintf(stderr, "local-stack: gateway: %v\n", err)
		code = 1
	case err := <-watched:
		fmt.Fprintf(stderr, "local-stack: watching files: %v\n", err)
		code = 1
	}
	cancel() // stops the watcher and any build under way
	drained := make(chan struct{})
	go func() {
		var stops sync.WaitGroup
		for _, s := range services {
			stops.Go(s.stop)
		}
		stops.Wait()
		shutdown, done := context.WithTimeout(context.Background(), 5*time.Second)
		defer done()
		srv.Shutdown(shutdown)
		close(drained)
	}()
	select {
	case <-drained:
		fmt.Fprintln(stderr, "local-stack: every function drained")
		return code
	case sig := <-signals:
		for _, s := range services {
			s.kill()
		}
		fmt.Fprintf(stderr, "local-stack: %s again: exiting now\n", sig)
		return 1
	}
}
