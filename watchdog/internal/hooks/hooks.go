// Package hooks holds the lifecycle hooks and metrics a function package
// registers from its init functions (watchdog.OnStart, OnReady, OnShutdown,
// RegisterMetrics, prommetrics.Register). It is the only process-level state
// of the watchdog, and only watchdog.Main and watchdogtest read it; New and
// Serve take hooks and metrics as Options instead.
package hooks

import (
	"context"
	"fmt"
	"io"
	"sync"
)

// Func is a start hook, a readiness check or a shutdown hook.
type Func = func(context.Context) error

// Metrics is a function's own series, as watchdog.Metrics.
type Metrics = interface{ WritePrometheus(w io.Writer) }

// Set is what was registered, in registration order.
type Set struct {
	Start, Ready, Shutdown []Func
	Metrics                []Metrics
}

// Kind names a list in Set, for Add and its panics.
type Kind int

const (
	Start Kind = iota
	Ready
	Shutdown
)

var names = [...]string{Start: "OnStart", Ready: "OnReady", Shutdown: "OnShutdown"}

var registry struct {
	mu    sync.Mutex
	set   Set
	taken bool // Main has read the set; later registrations would be lost
}

// Add registers f. It panics on a nil f, and after Take: a hook that Main
// never runs is a bug better seen at once than a silent no-op.
func Add(kind Kind, f Func) {
	if f == nil {
		panic(fmt.Sprintf("watchdog.%s(nil)", names[kind]))
	}
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if registry.taken {
		panic(fmt.Sprintf("watchdog.%s called after watchdog.Main started: register hooks from the function package's init function", names[kind]))
	}
	list := registry.set.lists()[kind]
	*list = append(*list, f)
}

// AddMetrics registers m for the caller named by who ("watchdog.RegisterMetrics"),
// with Add's panics.
func AddMetrics(who string, m Metrics) {
	if m == nil {
		panic(who + "(nil)")
	}
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if registry.taken {
		panic(who + " called after watchdog.Main started: register metrics from the function package's init function")
	}
	registry.set.Metrics = append(registry.set.Metrics, m)
}

// Take returns the registered set for Main; registrations after it panic.
func Take() Set {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	registry.taken = true
	return registry.set.clone()
}

// Snapshot returns the registered set without closing registration, for
// watchdogtest, which starts a server per test.
func Snapshot() Set {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	return registry.set.clone()
}

func (s *Set) lists() [3]*[]Func { return [3]*[]Func{&s.Start, &s.Ready, &s.Shutdown} }

// clone copies the slices so a caller's appends can't reach the registry.
func (s Set) clone() Set {
	return Set{
		Start:    append([]Func(nil), s.Start...),
		Ready:    append([]Func(nil), s.Ready...),
		Shutdown: append([]Func(nil), s.Shutdown...),
		Metrics:  append([]Metrics(nil), s.Metrics...),
	}
}

// Options turns set into one option per hook and series, in registration
// order, by the constructors given: watchdog.WithStart, WithReadiness,
// WithShutdown and WithMetrics, for Main and watchdogtest alike.
func Options[O any](set Set, start, ready, shutdown func(Func) O, metrics func(Metrics) O) []O {
	var opts []O
	for _, f := range set.Start {
		opts = append(opts, start(f))
	}
	for _, f := range set.Ready {
		opts = append(opts, ready(f))
	}
	for _, f := range set.Shutdown {
		opts = append(opts, shutdown(f))
	}
	for _, m := range set.Metrics {
		opts = append(opts, metrics(m))
	}
	return opts
}
