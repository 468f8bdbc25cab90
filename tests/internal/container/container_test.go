package container

import (
	"slices"
	"strings"
	"testing"
)

func TestRunArgs(t *testing.T) {
	cfg := config{listenPort: FunctionPort}
	for _, o := range []Option{Env("A=1", "B=2"), ReadOnly(), Tmpfs("/tmp"), ListenPort(9000), Command("/fn", "-v")} {
		o(&cfg)
	}
	c := &Container{Name: "n", Image: "img", Port: 1000, MetricsPort: 1001}
	got := strings.Join(c.runArgs(cfg), " ")
	want := "run --detach --name n --label io.inproc-go.e2e=1" +
		" --publish 127.0.0.1:1000:9000 --publish 127.0.0.1:1001:8081" +
		" --ulimit nofile=20000:20000 --ulimit nproc=4096:4096" +
		" --env A=1 --env B=2 --env port=9000 --read-only --tmpfs /tmp img /fn -v"
	if got != want {
		t.Errorf("runArgs:\n got %s\nwant %s", got, want)
	}
}

func TestUniqueName(t *testing.T) {
	a, b := uniqueName("TestX/sub case#1"), uniqueName("TestX/sub case#1")
	if a == b {
		t.Errorf("names collide: %s", a)
	}
	if !strings.HasPrefix(a, "e2e-TestX-sub-case-1-") {
		t.Errorf("name %q does not keep the test name", a)
	}
	long := uniqueName(strings.Repeat("x", 200))
	if len(long) > 80 {
		t.Errorf("name too long: %d chars", len(long))
	}
}

func TestWithDefaults(t *testing.T) {
	builder := "GO_IMAGE=" + BuilderImage
	t.Setenv("GOPROXY", "http://proxy.invalid")
	for _, tc := range []struct{ in, want []string }{
		{[]string{"A=1"}, []string{"A=1", builder, "GOPROXY=http://proxy.invalid"}},
		{[]string{"GOPROXY=off"}, []string{"GOPROXY=off", builder}},
		{[]string{"GO_IMAGE=mine"}, []string{"GO_IMAGE=mine", "GOPROXY=http://proxy.invalid"}},
	} {
		if got := withDefaults(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("withDefaults(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	t.Setenv("GOPROXY", "")
	if got := withDefaults(nil); !slices.Equal(got, []string{builder}) {
		t.Errorf("withDefaults(nil) without GOPROXY = %q, want only %q", got, builder)
	}
}

func TestFreePorts(t *testing.T) {
	a, b := freePorts(t)
	if a == b || a == 0 || b == 0 {
		t.Errorf("freePorts = %d, %d", a, b)
	}
}
