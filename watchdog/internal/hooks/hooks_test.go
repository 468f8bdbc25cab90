package hooks

import (
	"context"
	"io"
	"strings"
	"testing"
)

// reset empties the registry for one test; the tests here are not parallel.
func reset(t *testing.T) {
	t.Helper()
	registry.mu.Lock()
	registry.set, registry.taken = Set{}, false
	registry.mu.Unlock()
	t.Cleanup(func() {
		registry.mu.Lock()
		registry.set, registry.taken = Set{}, false
		registry.mu.Unlock()
	})
}

func TestAddInOrderAndTake(t *testing.T) {
	reset(t)
	var order []string
	mark := func(s string) Func {
		return func(context.Context) error { order = append(order, s); return nil }
	}
	Add(Start, mark("s1"))
	Add(Ready, mark("r1"))
	Add(Start, mark("s2"))
	Add(Shutdown, mark("d1"))

	snap := Snapshot()
	snap.Start = append(snap.Start, mark("appended by a caller"))
	set := Take()
	for _, list := range [][]Func{set.Start, set.Ready, set.Shutdown} {
		for _, f := range list {
			f(context.Background())
		}
	}
	if got := strings.Join(order, ","); got != "s1,s2,r1,d1" {
		t.Errorf("ran %s, want s1,s2,r1,d1", got)
	}
}

func TestAddPanics(t *testing.T) {
	tests := []struct {
		name string
		take bool
		f    Func
		want string
	}{
		{"nil", false, nil, "watchdog.OnReady(nil)"},
		{"after Take", true, func(context.Context) error { return nil }, "watchdog.OnReady called after watchdog.Main started: register hooks from the function package's init function"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reset(t)
			if tt.take {
				Take()
			}
			defer func() {
				if r := recover(); r != tt.want {
					t.Errorf("panic %v, want %q", r, tt.want)
				}
			}()
			Add(Ready, tt.f)
		})
	}
}

type writerFunc func(io.Writer)

func (f writerFunc) WritePrometheus(w io.Writer) { f(w) }

func TestAddMetrics(t *testing.T) {
	reset(t)
	a := writerFunc(func(w io.Writer) { io.WriteString(w, "a 1\n") })
	b := writerFunc(func(w io.Writer) { io.WriteString(w, "b 1\n") })
	AddMetrics("watchdog.RegisterMetrics", a)
	AddMetrics("prommetrics.Register", b)
	var out strings.Builder
	for _, m := range Take().Metrics {
		m.WritePrometheus(&out)
	}
	if out.String() != "a 1\nb 1\n" {
		t.Errorf("wrote %q, want a then b", out.String())
	}
}

func TestAddMetricsPanics(t *testing.T) {
	for _, tt := range []struct {
		name string
		take bool
		m    Metrics
		want string
	}{
		{"nil", false, nil, "prommetrics.Register(nil)"},
		{"after Take", true, writerFunc(func(io.Writer) {}), "prommetrics.Register called after watchdog.Main started: register metrics from the function package's init function"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			reset(t)
			if tt.take {
				Take()
			}
			defer func() {
				if r := recover(); r != tt.want {
					t.Errorf("panic %v, want %q", r, tt.want)
				}
			}()
			AddMetrics("prommetrics.Register", tt.m)
		})
	}
}
