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

func TestWithProxy(t *testing.T) {
	t.Setenv("GOPROXY", "http://proxy.invalid")
	if got := withProxy([]string{"A=1"}); !slices.Equal(got, []string{"A=1", "GOPROXY=http://proxy.invalid"}) {
		t.Errorf("proxy not added: %v", got)
	}
	if got := withProxy([]string{"GOPROXY=off"}); !slices.Equal(got, []string{"GOPROXY=off"}) {
		t.Errorf("explicit GOPROXY overridden: %v", got)
	}
	t.Setenv("GOPROXY", "")
	if got := withProxy(nil); len(got) != 0 {
		t.Errorf("proxy added without GOPROXY: %v", got)
	}
}

func TestFreePorts(t *testing.T) {
	a, b := freePorts(t)
	if a == b || a == 0 || b == 0 {
		t.Errorf("freePorts = %d, %d", a, b)
	}
}
