package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// service runs one function: its current process, and the build and swap
// that replace it.
type service struct {
	fn      *function
	builder builder
	binDir  string  // where each build's binary goes, one name per build
	log     *prefix // the function's lines, its name in front

	current     atomic.Pointer[instance] // nil until a build runs; where calls go
	invocations atomic.Int64

	mu      sync.Mutex // held by a rebuild, and by stop
	builds  int
	stopped atomic.Bool    // set by stop, under mu so no rebuild is under way
	old     sync.WaitGroup // instances draining after a swap

	liveMu sync.Mutex
	live   map[*instance]bool // every process not yet exited, for kill
}

// instance is one running process of a build.
type instance struct {
	cmd     *exec.Cmd
	bin     string
	url     *url.URL // http://127.0.0.1:<port>
	started time.Time
	exited  chan struct{} // closed when the process has exited
	err     error         // its exit status, once exited is closed
}

// loopback is the address every function's listeners bind.
const loopback = "127.0.0.1"

// readyTimeout bounds how long a new process may take to answer /_/ready.
const readyTimeout = 30 * time.Second

// rebuild builds the function and, when the build passes and the new
// process answers /_/ready, routes calls to it and drains the old one with
// SIGTERM, as a rolling update does. A failed build or start leaves the old
// process serving and prints why.
func (s *service) rebuild(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped.Load() {
		return
	}
	s.builds++
	bin := filepath.Join(s.binDir, fmt.Sprintf("%s-%d", s.fn.Name, s.builds))
	s.log.note("building %s", s.fn.Handler)
	start := time.Now()
	if err := s.builder.build(ctx, s.fn, bin); err != nil {
		if ctx.Err() != nil {
			return
		}
		keep := "no previous build serves it"
		if s.current.Load() != nil {
			keep = "the previous build keeps serving"
		}
		s.log.note("build failed (%s):\n%v", keep, err)
		return
	}
	next, err := s.start(bin)
	if err != nil {
		s.log.note("not started (the previous build, if any, keeps serving): %v", err)
		os.Remove(bin)
		return
	}
	s.log.note("built and ready in %s, at %s", time.Since(start).Round(time.Millisecond), next.url)
	if old := s.current.Swap(next); old != nil {
		s.old.Add(1)
		go func() {
			defer s.old.Done()
			old.stop()
		}()
	}
}

// start runs bin with both its listeners on free loopback ports and waits for its /_/ready.
func (s *service) start(bin string) (*instance, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin)
	// The function's folder is its working directory, so relative paths
	// such as static/ resolve as in the image.
	cmd.Dir = s.fn.Handler
	cmd.Env = append(os.Environ(), s.fn.Env...)
	cmd.Env = append(cmd.Env,
		"port="+strconv.Itoa(ports[0]), "metrics_port="+strconv.Itoa(ports[1]),
		// Both listeners on loopback only: a development build must not
		// answer the network. These come after the stack's environment,
		// so a function's own listen_address does not widen it.
		"listen_address="+loopback,
		// Every function of the machine would share /tmp/.lock, and one
		// process's drain would delete the others'.
		"suppress_lock=true")
	cmd.Stdout, cmd.Stderr = s.log, s.log
	// A process group of its own: a terminal's Ctrl-C reaches the stack,
	// which drains each function itself.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	dieWithParent(cmd.SysProcAttr)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	in := &instance{cmd: cmd, bin: bin, started: time.Now(), exited: make(chan struct{}),
		url: &url.URL{Scheme: "http", Host: net.JoinHostPort(loopback, strconv.Itoa(ports[0]))}}
	s.liveMu.Lock()
	s.live[in] = true
	s.liveMu.Unlock()
	go func() {
		in.err = cmd.Wait()
		s.liveMu.Lock()
		delete(s.live, in)
		s.liveMu.Unlock()
		close(in.exited)
		if s.current.Load() == in && !s.stopped.Load() {
			s.log.note("exited on its own (%s): calls answer 502 until a save rebuilds it", exitStatus(in.err))
		}
	}()
	if err := in.waitReady(); err != nil {
		in.kill()
		return nil, err
	}
	return in, nil
}

// waitReady asks /_/ready until it answers 200, the process exits or
// readyTimeout passes.
func (in *instance) waitReady() error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.NewTimer(readyTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if res, err := client.Get(in.url.String() + "/_/ready"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-in.exited:
			return fmt.Errorf("exited before /_/ready answered 200: %v", in.err)
		case <-deadline.C:
			return fmt.Errorf("/_/ready did not answer 200 within %s", readyTimeout)
		case <-tick.C:
		}
	}
}

// stop drains the process as the platform does: SIGTERM, then a wait for
// it to finish its calls and exit.
func (in *instance) stop() {
	in.cmd.Process.Signal(syscall.SIGTERM)
	<-in.exited
	os.Remove(in.bin)
}

// kill ends the process at once.
func (in *instance) kill() {
	in.cmd.Process.Kill()
	<-in.exited
	os.Remove(in.bin)
}

// stop drains the current process and any still draining from a swap, and
// keeps later rebuilds from starting one. A build under way ends first: its
// context is the run's.
func (s *service) stop() {
	s.mu.Lock()
	s.stopped.Store(true)
	s.mu.Unlock()
	if in := s.current.Load(); in != nil {
		in.stop()
		s.log.note("stopped: %s", exitStatus(in.err))
	}
	s.old.Wait()
}

// kill ends every process of the service at once, for a second Ctrl-C.
func (s *service) kill() {
	s.liveMu.Lock()
	defer s.liveMu.Unlock()
	for in := range s.live {
		in.cmd.Process.Kill()
	}
}

func exitStatus(err error) string {
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.String()
	}
	if err != nil {
		return err.Error()
	}
	return "exit status 0"
}

// freePorts returns n loopback ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", net.JoinHostPort(loopback, "0"))
		if err != nil {
			return nil, fmt.Errorf("finding a free port: %w", err)
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
