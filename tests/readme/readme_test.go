// Package readme keeps the commands of the README and of every page under
// docs/ from going stale: every command line of their sh blocks is either run here, as a function author
// would type it, or reproduced by a named test where faas-cli or a
// registry is needed (faas-cli can't be installed here).
package readme

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/inproc-go/templates/tests/internal/container"
	"github.com/inproc-go/templates/tests/internal/fnfolder"
)

// check is how one command of the README or docs/ is kept true.
type check struct {
	// run runs the command in a stack folder that "faas-cli new --lang
	// golang-middleware-inproc hello" made; nil for reproduced commands.
	run func(t *testing.T, root, stack, command string)
	// reproducedBy names the tests that do what the command does, for
	// commands that need faas-cli, a registry or root.
	reproducedBy string
}

var checks = map[string]check{
	"faas-cli template pull https://github.com/inproc-go/templates":          {reproducedBy: "fnfolder.New (a copy of template/) in tests/layout and tests/e2e"},
	"faas-cli new --lang golang-middleware-inproc hello --prefix ttl.sh/you": {reproducedBy: "fnfolder.New (function/ copied to hello/, stack.yaml written) in tests/layout TestNewFolderIsAModule"},
	"cd hello && go test ./... && go vet ./... && cd ..":                     {run: runShell},
	"faas-cli up -f stack.yaml":                                              {reproducedBy: "tests/e2e TestFirstHour (scripts/build-function.sh: the build context faas-cli lays out, the Dockerfile unchanged)"},
	`echo -n "world" | faas-cli invoke hello`:                                {reproducedBy: "tests/e2e TestTemplates/contract (a POST to the function)"},
	"faas-cli logs hello":                                                    {reproducedBy: "tests/e2e waitLogs (the container's log lines)"},
	"faas-cli publish -f stack.yaml --platforms linux/amd64,linux/arm64":     {reproducedBy: "tests/e2e TestMultiArch (docker buildx build --platform linux/amd64,linux/arm64 --output type=registry, read back)"},
	"scripts/demo.sh":  {reproducedBy: "scripts/test.sh, its last step (--native and --containers)"},
	"scripts/test.sh":  {reproducedBy: ".ci/run"},
	"scripts/bench.sh": {reproducedBy: "scripts/test.sh, its benchmark step (scripts/bench.sh --smoke: the same run, shorter)"},
	"path/to/templates/scripts/vendor-function.sh -l golang-middleware-inproc -d ./hello -t ./template": {run: runVendor},
	"faas-cli build -f stack.yaml --build-arg GOFLAGS=-mod=vendor --build-arg GOPROXY=off":              {reproducedBy: "tests/e2e TestModules/vendored"},
	"path/to/templates/scripts/local-run.sh -l golang-middleware-inproc -d ./hello -e exec_timeout=30s": {run: runLocal},
	"curl -d hi 127.0.0.1:8080/": {reproducedBy: "runLocal here, with the local-run command above"},
	"cd hello && go get github.com/inproc-go/templates/watchdog@latest && cd ..": {run: runShell},
	"scripts/sdk.sh serve -addr 127.0.0.1:3000":                                  {run: runServe},
}

// pages are the Markdown files whose sh blocks are checked: the README and
// every page under docs/.
func pages(t *testing.T, root string) []string {
	t.Helper()
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	return append([]string{filepath.Join(root, "README.md")}, docs...)
}

// commands returns the command lines of the sh blocks of every page, in
// page order, without their trailing comments.
func commands(t *testing.T, root string) []string {
	t.Helper()
	comment := regexp.MustCompile(`\s{2,}#.*$`)
	var out []string
	for _, page := range pages(t, root) {
		data, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		in := false
		for sc := bufio.NewScanner(strings.NewReader(string(data))); sc.Scan(); {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "```"):
				in = line == "```sh"
			case in:
				if line = strings.TrimSpace(comment.ReplaceAllString(line, "")); line != "" && !strings.HasPrefix(line, "#") {
					out = append(out, line)
				}
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("found no command in the sh blocks of README.md and docs/")
	}
	return out
}

// TestEveryCommandIsChecked: each command of the README and docs/ has a
// check, and each check such a command.
func TestEveryCommandIsChecked(t *testing.T) {
	root := repoRoot(t)
	seen := map[string]bool{}
	for _, c := range commands(t, root) {
		seen[c] = true
		if _, ok := checks[c]; !ok {
			t.Errorf("command of README.md or docs/ without a check in tests/readme: %q", c)
		}
	}
	for c, ch := range checks {
		if !seen[c] {
			t.Errorf("check for a command that README.md and docs/ no longer have: %q", c)
		}
		if ch.run == nil && ch.reproducedBy == "" {
			t.Errorf("check for %q neither runs it nor names what reproduces it", c)
		}
	}
}

// TestRunnableCommands runs, in the order the README gives them, each
// command that can run here, in a stack folder faas-cli new made.
func TestRunnableCommands(t *testing.T) {
	root := repoRoot(t)
	if os.Getenv("INPROC_SDK_PROXY") == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("INPROC_SDK_PROXY is not set: run the tests through scripts/test.sh")
		}
		t.Skip("needs the SDK's module proxy: run as scripts/sdk.sh run -- go test ./readme/")
	}
	stack := fnfolder.New(t, root, "golang-middleware-inproc", "hello")
	for _, c := range commands(t, root) {
		if ch := checks[c]; ch.run != nil {
			t.Run(c, func(t *testing.T) { ch.run(t, root, stack, c) })
		} else {
			t.Logf("not run here: %q: reproduced by %s", c, ch.reproducedBy)
		}
	}
}

// shell is the command as a user types it: path/to/templates is this
// repository.
// A cancelled ctx sends SIGTERM, as a platform stops a process.
func shell(ctx context.Context, root, stack, command string) *exec.Cmd {
	command = strings.ReplaceAll(command, "path/to/templates/", root+"/")
	if strings.HasPrefix(command, "scripts/") {
		command = root + "/" + command
	}
	// exec: signals reach the command, as from a terminal, not a shell.
	if !strings.ContainsAny(command, "&|;") {
		command = "exec " + command
	}
	cmd := exec.CommandContext(ctx, "sh", "-c", command)
	cmd.Dir = stack
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	return cmd
}

func runShell(t *testing.T, root, stack, command string) {
	if out, err := shell(context.Background(), root, stack, command).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", command, err, out)
	}
}

func runVendor(t *testing.T, root, stack, command string) {
	runShell(t, root, stack, command)
	modules, err := os.ReadFile(filepath.Join(stack, "hello", "vendor", "modules.txt"))
	if err != nil || !strings.Contains(string(modules), "# github.com/inproc-go/templates/watchdog ") {
		t.Fatalf("hello/vendor/modules.txt does not vendor the SDK (%v):\n%s", err, modules)
	}
	// The next commands run as on a folder that was never vendored.
	if err := os.RemoveAll(filepath.Join(stack, "hello", "vendor")); err != nil {
		t.Fatal(err)
	}
}

// runLocal starts local-run as the README shows it, sends the README's curl
// and stops it with Ctrl-C's signal: it must drain and exit 0.
func runLocal(t *testing.T, root, stack, command string) {
	cmd := shell(context.Background(), root, stack, command)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
		}
	}()
	body := waitFor(t, done, &out, "curl -d hi 127.0.0.1:8080/", func() (string, bool) {
		return answer(http.MethodPost, "http://127.0.0.1:8080/", "hi")
	})
	if body != "Body: hi" {
		t.Errorf("curl -d hi 127.0.0.1:8080/ answered %q, want %q", body, "Body: hi")
	}
	// Local by default: every socket listening on 8080 is 127.0.0.1's.
	got := listeners(t, "8080")
	if len(got) == 0 {
		t.Error("ss -ltn lists no socket listening on 8080")
	}
	for _, addr := range got {
		if addr != "127.0.0.1:8080" {
			t.Errorf("listening on %s, want 127.0.0.1:8080 only (ss -ltn: %q)", addr, got)
		}
	}
	// The stack's template, as faas-cli pulled it, over this clone's.
	if want := "local-run: template template/golang-middleware-inproc\n"; !strings.Contains(out.String(), want) {
		t.Errorf("local-run's output lacks %q:\n%s", want, out.String())
	}
	// local-run execs the function, so the shell's pid is the function's.
	cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("local-run after Ctrl-C: %v, want exit 0\n%s", err, out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("local-run did not exit within 30s of SIGINT\n%s", out.String())
	}
	if !strings.Contains(out.String(), "shutdown: complete") {
		t.Errorf("local-run's output has no completed drain:\n%s", out.String())
	}
}

// listeners are the local addresses of the TCP sockets listening on port,
// as ss -ltn lists them.
func listeners(t *testing.T, port string) []string {
	t.Helper()
	out, err := exec.Command("ss", "-ltnH").Output()
	if err != nil {
		t.Fatalf("ss -ltnH: %v", err)
	}
	var addrs []string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) >= 4 && strings.HasSuffix(f[3], ":"+port) {
			addrs = append(addrs, f[3])
		}
	}
	return addrs
}

// TestScriptHelp: -h and --help print the usage and exit 0, and the usage
// names the handler folder's option, -d.
func TestScriptHelp(t *testing.T) {
	root := repoRoot(t)
	for _, script := range []string{"local-run.sh", "vendor-function.sh"} {
		for _, flag := range []string{"-h", "--help"} {
			out, err := exec.Command("sh", filepath.Join(root, "scripts", script), flag).CombinedOutput()
			if err != nil || !strings.Contains(strings.ToLower(string(out)), "usage:") || !strings.Contains(string(out), "-d HANDLER_DIR") {
				t.Errorf("%s %s: %v, want the usage and exit 0:\n%s", script, flag, err, out)
			}
		}
	}
}

// runServe starts the SDK's proxy as the README shows it and downloads the
// pinned version's module list from it.
func runServe(t *testing.T, root, stack, command string) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := shell(ctx, root, stack, command)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	version := strings.TrimSpace(mustOutput(t, filepath.Join(root, "scripts", "sdk.sh"), "version"))
	list := waitFor(t, done, &out, command, func() (string, bool) {
		return answer(http.MethodGet, "http://127.0.0.1:3000/github.com/inproc-go/templates/watchdog/@v/list", "")
	})
	if strings.TrimSpace(list) != version {
		t.Errorf("the proxy lists %q, want the pinned %s", list, version)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("sdk.sh serve did not stop on SIGTERM")
	}
	if !strings.Contains(out.String(), "http://127.0.0.1:3000") {
		t.Errorf("sdk.sh serve did not print its URL:\n%s", out.String())
	}
}

// answer makes one call and returns its body, and whether it was a 200.
func answer(method, url, body string) (string, bool) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return "", false
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", false
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return string(b), err == nil && res.StatusCode == http.StatusOK
}

// waitFor polls try until it succeeds (up to 3 minutes: a first build
// compiles the SDK) or the command exits.
func waitFor(t *testing.T, done <-chan error, out *strings.Builder, what string, try func() (string, bool)) string {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		if v, ok := try(); ok {
			return v
		}
		select {
		case err := <-done:
			t.Fatalf("%s: the command exited (%v) before answering:\n%s", what, err, out.String())
		case <-time.After(200 * time.Millisecond):
		}
	}
	t.Fatalf("%s: no answer within 3 minutes:\n%s", what, out.String())
	return ""
}

func mustOutput(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return string(out)
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := container.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}
