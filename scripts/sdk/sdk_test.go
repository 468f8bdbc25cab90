package main

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fakeRepo lays out a repository with an SDK of one package and a template
// that imports it, pinned at v0.1.0 with the right go.sum.
func fakeRepo(t *testing.T) *repo {
	t.Helper()
	root := t.TempDir()
	write(t, root, "watchdog/go.mod", "module "+modulePath+"\n\ngo 1.25.0\n")
	write(t, root, "watchdog/sdk.go", "package watchdog\n\n// Version is what the SDK says it is.\nconst Version = \"one\"\n")
	write(t, root, "template/x/go.mod", "module handler\n\ngo 1.25.0\n\nrequire "+modulePath+" v0.1.0\n")
	write(t, root, "template/x/main.go", "package main\n\nimport \"fmt\"\n\nimport \"github.com/inproc-go/templates/watchdog\"\n\nfunc main() { fmt.Println(watchdog.Version) }\n")
	r := &repo{root: root}
	s, err := r.sums("v0.1.0")
	if err != nil {
		t.Fatal(err)
	}
	write(t, root, "template/x/go.sum", strings.Join(sumLines("v0.1.0", s), "\n")+"\n")
	return r
}

func write(t *testing.T, root, name, body string) {
	t.Helper()
	path := filepath.Join(root, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestProxyMatchesGoCommand: what the go command downloads from the proxy
// folder hashes to what check and bump write into go.sum.
func TestProxyMatchesGoCommand(t *testing.T) {
	r := fakeRepo(t)
	dir := t.TempDir()
	if err := r.writeProxy(dir, "v0.1.0"); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "mod", "download", "-json", modulePath+"@v0.1.0")
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "GOPROXY=file://"+filepath.ToSlash(dir), "GONOSUMDB="+modulePath,
		"GOMODCACHE="+t.TempDir(), "GOFLAGS=-modcacherw", "GOWORK=off")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go mod download: %v\n%s", err, out)
	}
	var got struct{ Sum, GoModSum string }
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	want, err := r.sums("v0.1.0")
	if err != nil {
		t.Fatal(err)
	}
	if got.Sum != want.zip || got.GoModSum != want.mod {
		t.Errorf("go mod download: %s %s; sums: %s %s", got.Sum, got.GoModSum, want.zip, want.mod)
	}
}

// TestCheckThenBump: check passes on a consistent repository, fails naming
// the go.sum once watchdog/ changes, and passes again after bump, which
// refuses versions that are not above the pin.
func TestCheckThenBump(t *testing.T) {
	// A module cache of its own: the machine's may hold other v0.1.x.
	t.Setenv("GOMODCACHE", t.TempDir())
	t.Setenv("GOFLAGS", "-modcacherw")
	r := fakeRepo(t)
	if err := r.check(io.Discard); err != nil {
		t.Fatalf("check on a consistent repository: %v", err)
	}
	write(t, r.root, "watchdog/sdk.go", "package watchdog\n\n// Version is what the SDK says it is.\nconst Version = \"two\"\n")
	err := r.check(io.Discard)
	if err == nil || !strings.Contains(err.Error(), "template/x/go.sum") || !strings.Contains(err.Error(), "scripts/sdk.sh bump") {
		t.Fatalf("check after watchdog/ changed: %v, want a mismatch naming template/x/go.sum and the fix", err)
	}
	for _, bad := range []string{"v0.1.0", "v0.0.9", "0.2.0", "v0.2", "v0.2.0-rc.1"} {
		if err := r.bump(bad, io.Discard); !errors.Is(err, errUsage) {
			t.Errorf("bump %q: %v, want a usage error", bad, err)
		}
	}
	if err := r.bump("", io.Discard); err != nil {
		t.Fatal(err)
	}
	if v, err := r.pinnedVersion(); err != nil || v != "v0.1.1" {
		t.Fatalf("pinned version after bump: %q, %v; want v0.1.1", v, err)
	}
	if err := r.check(io.Discard); err != nil {
		t.Fatalf("check after bump: %v", err)
	}
	sum, err := os.ReadFile(filepath.Join(r.root, "template/x/go.sum"))
	if err != nil || strings.Contains(string(sum), "v0.1.0") {
		t.Errorf("go.sum after bump still names v0.1.0 (%v):\n%s", err, sum)
	}
}

// TestPinsMustAgree: two go.mod files pinning different versions are an
// error that lists both.
func TestPinsMustAgree(t *testing.T) {
	r := fakeRepo(t)
	write(t, r.root, "template/y/go.mod", "module handler\n\ngo 1.25.0\n\nrequire "+modulePath+" v0.0.9\n")
	_, err := r.pinnedVersion()
	if err == nil || !strings.Contains(err.Error(), "template/y/go.mod: v0.0.9") || !strings.Contains(err.Error(), "template/x/go.mod: v0.1.0") {
		t.Fatalf("pinnedVersion with two pins: %v", err)
	}
}

// TestPinsInARootNamedBuild: the repository's own folder may bear a name
// the walk skips below it (a worktree named build); its pins are found.
func TestPinsInARootNamedBuild(t *testing.T) {
	r := fakeRepo(t)
	root := filepath.Join(t.TempDir(), "build")
	if err := os.Rename(r.root, root); err != nil {
		t.Fatal(err)
	}
	write(t, root, "build/y/go.mod", "module handler\n\ngo 1.25.0\n\nrequire "+modulePath+" v0.0.9\n")
	pins, err := (&repo{root: root}).pins()
	if err != nil || len(pins) != 1 || pins[0].dir != "template/x" || pins[0].version != "v0.1.0" {
		t.Fatalf("pins of a root named build: %+v, %v; want template/x at v0.1.0 alone (build/ below the root is skipped)", pins, err)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{nil, {"nope"}, {"proxy"}, {"proxy", "a", "b"}, {"run"}, {"check", "-addr", "x"}, {"version", "-bogus"}, {"version", "-tag", "v0.1.0"}, {"serve", "-tag", "v0.1.0"}} {
		if err := run(args, io.Discard, io.Discard); !errors.Is(err, errUsage) {
			t.Errorf("run %q: %v, want a usage error", args, err)
		}
	}
}

// TestCheckTag: a release tag passes only when it names the version every
// go.mod pins and the pins match watchdog/; a tag of another form is a
// usage error that says which forms are accepted.
func TestCheckTag(t *testing.T) {
	r := fakeRepo(t)
	for _, tc := range []struct {
		tag   string
		usage bool   // a usage error
		fails string // an error holding this, or "" for success
	}{
		{tag: "watchdog/v0.1.0"},
		{tag: "v0.1.0"},
		{tag: "watchdog/v0.1.1", fails: "tag watchdog/v0.1.1 names v0.1.1, but the go.mod files pin " + modulePath + "@v0.1.0"},
		{tag: "v0.0.9", fails: "scripts/sdk.sh bump v0.0.9"},
		{tag: "0.1.0", usage: true},
		{tag: "watchdog/0.1.0", usage: true},
		{tag: "watchdog/v0.1", usage: true},
		{tag: "watchdog/v0.1.0-rc.1", usage: true},
		{tag: "templates/v0.1.0", usage: true},
		{tag: "watchdog/watchdog/v0.1.0", usage: true},
	} {
		t.Run(tc.tag, func(t *testing.T) {
			var out strings.Builder
			err := run([]string{"check", "-repo", r.root, "-tag", tc.tag}, &out, io.Discard)
			switch {
			case tc.usage:
				if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "watchdog/vMAJOR.MINOR.PATCH") {
					t.Errorf("check -tag %q: %v, want a usage error naming the accepted forms", tc.tag, err)
				}
			case tc.fails != "":
				if err == nil || errors.Is(err, errUsage) || !strings.Contains(err.Error(), tc.fails) {
					t.Errorf("check -tag %q: %v, want an error holding %q", tc.tag, err, tc.fails)
				}
			case err != nil:
				t.Errorf("check -tag %q: %v", tc.tag, err)
			case !strings.Contains(out.String(), "names v0.1.0, the version every go.mod pins"):
				t.Errorf("check -tag %q printed %q", tc.tag, out.String())
			}
		})
	}
	// The tag alone is not enough: the pins must also match watchdog/.
	write(t, r.root, "watchdog/sdk.go", "package watchdog\n\n// Version is what the SDK says it is.\nconst Version = \"two\"\n")
	if err := run([]string{"check", "-repo", r.root, "-tag", "watchdog/v0.1.0"}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "template/x/go.sum") {
		t.Errorf("check -tag after watchdog/ changed: %v, want the go.sum mismatch", err)
	}
}
