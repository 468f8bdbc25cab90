package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/mod/module"
)

// writeProxy writes the GOPROXY protocol's files for the SDK at version v
// under dir: $module/@v/{list,$v.info,$v.mod,$v.zip} and $module/@latest.
func (r *repo) writeProxy(dir, v string) error {
	escaped, err := module.EscapePath(modulePath)
	if err != nil {
		return err
	}
	ev, err := module.EscapeVersion(v)
	if err != nil {
		return err
	}
	vdir := filepath.Join(dir, filepath.FromSlash(escaped), "@v")
	if err := os.MkdirAll(vdir, 0o755); err != nil {
		return err
	}
	info, err := json.Marshal(struct {
		Version string
		Time    time.Time
	}{v, r.commitTime()})
	if err != nil {
		return err
	}
	mod, err := r.goMod()
	if err != nil {
		return err
	}
	files := map[string][]byte{
		filepath.Join(vdir, "list"):          []byte(v + "\n"),
		filepath.Join(vdir, ev+".info"):      info,
		filepath.Join(vdir, ev+".mod"):       mod,
		filepath.Join(vdir, "..", "@latest"): info,
	}
	for name, data := range files {
		if err := os.WriteFile(name, data, 0o644); err != nil {
			return err
		}
	}
	zf, err := os.Create(filepath.Join(vdir, ev+".zip"))
	if err != nil {
		return err
	}
	err = r.zip(zf, v)
	if cerr := zf.Close(); err == nil {
		err = cerr
	}
	return err
}

// proxyServer serves a proxy folder of the pinned version over HTTP.
type proxyServer struct {
	url     string
	version string
	srv     *http.Server
	dir     string
}

// startProxy writes the proxy folder to a temporary directory and listens
// on addr; requests are logged to stderr. With modcache, other modules are
// served from the go command's module cache (its download folder has the
// proxy protocol's layout), for builds that reach no other proxy.
func (r *repo) startProxy(addr string, modcache bool, stderr io.Writer) (*proxyServer, error) {
	v, err := r.pinnedVersion()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "sdk-proxy-")
	if err != nil {
		return nil, err
	}
	if err := r.writeProxy(dir, v); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("-addr %q: %w", addr, err)
	}
	files := http.FileServer(http.Dir(dir))
	if modcache {
		cache, err := exec.Command("go", "env", "GOMODCACHE").Output()
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("-modcache: go env GOMODCACHE: %w", err)
		}
		cached := http.FileServer(http.Dir(filepath.Join(strings.TrimSpace(string(cache)), "cache", "download")))
		escaped, _ := module.EscapePath(modulePath)
		ours := files
		files = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if strings.HasPrefix(req.URL.Path, "/"+escaped+"/") {
				ours.ServeHTTP(w, req)
			} else {
				cached.ServeHTTP(w, req)
			}
		})
	}
	p := &proxyServer{url: "http://" + ln.Addr().String(), version: v, dir: dir}
	p.srv = &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
			files.ServeHTTP(rec, req)
			fmt.Fprintf(stderr, "sdk proxy: %s %s %d\n", req.Method, req.URL.Path, rec.status)
		}),
	}
	go p.srv.Serve(ln)
	fmt.Fprintf(stderr, "sdk proxy: serving %s@%s from %s/ on %s\n", modulePath, v, moduleDir, p.url)
	return p, nil
}

func (p *proxyServer) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p.srv.Shutdown(ctx)
	os.RemoveAll(p.dir)
}

// serve serves the proxy until SIGINT or SIGTERM. The URL goes to stdout
// alone on a line, so a script can read it.
func (r *repo) serve(addr string, modcache bool, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	p, err := r.startProxy(addr, modcache, stderr)
	if err != nil {
		return err
	}
	defer p.stop()
	fmt.Fprintln(stdout, p.url)
	<-ctx.Done()
	return nil
}

// exitError carries a command's exit status out of run.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// runWith serves the proxy while argv runs with GOPROXY (the proxy first,
// then the usual one), GONOSUMDB and INPROC_SDK_PROXY (the URL alone) set,
// and returns argv's exit status. SIGTERM is passed on to it; SIGINT is
// not, since a terminal's Ctrl-C reaches the whole process group already,
// and a second one would tell a function to exit at once.
func (r *repo) runWith(addr string, modcache bool, argv []string, stderr io.Writer) error {
	p, err := r.startProxy(addr, modcache, io.Discard)
	if err != nil {
		return err
	}
	defer p.stop()
	fmt.Fprintf(stderr, "sdk: %s@%s served on %s while %s runs\n", modulePath, p.version, p.url, argv[0])
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), proxyEnv(p.url)...)
	cmd.Env = append(cmd.Env, "INPROC_SDK_PROXY="+p.url)
	signal.Ignore(os.Interrupt)
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGTERM)
	defer signal.Stop(signals)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("run %s: %w", argv[0], err)
	}
	go func() {
		for sig := range signals {
			cmd.Process.Signal(sig)
		}
	}()
	err = cmd.Wait()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code := exit.ExitCode()
		if code < 0 { // killed by a signal
			code = 128 + int(exit.Sys().(syscall.WaitStatus).Signal())
		}
		return exitError{code}
	}
	return err
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}
