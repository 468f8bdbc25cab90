// Package readme keeps the commands of the README, CONTRIBUTING.md and every
// page under docs/ from going stale: every command line of their sh blocks is
// either run here, as a function author or contributor would type it, or
// reproduced by a named test where faas-cli, a registry, root or a long run
// is needed (faas-cli can't be installed here).
package readme

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
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
	// reproducedBy names what does what the command does, for commands
	// that need faas-cli, a registry or root.
	reproducedBy ref
}

// ref names what reproduces a command: a test (byTest) or a step of a
// script (byStep). TestReproducersExist fails when the test or the step
// it names does not exist.
type ref struct {
	pkg, test    string // a package folder and a test of it
	script, step string // a script and a line of it
	note         string // what of the command it does
}

// byTest is the test named test of the package in the folder pkg, relative
// to the repository root: a top-level test as "go test -list" lists it,
// and optionally its subtests, as TestName/sub.
func byTest(pkg, test, note string) ref { return ref{pkg: pkg, test: test, note: note} }

// byStep is the step of a script that runs the line given, for what only
// scripts/test.sh or .ci/run does.
func byStep(script, line, note string) ref { return ref{script: script, step: line, note: note} }

func (r ref) String() string {
	s := r.script + ": " + r.step
	if r.test != "" {
		s = r.pkg + " " + r.test
	}
	if r.note != "" {
		s += " (" + r.note + ")"
	}
	return s
}

var checks = map[string]check{
	"faas-cli template pull https://github.com/inproc-go/templates":          {reproducedBy: byTest("tests/layout", "TestNewFolderIsAModule", "fnfolder.New: a copy of template/, as in tests/e2e")},
	"faas-cli new --lang golang-middleware-inproc hello --prefix ttl.sh/you": {reproducedBy: byTest("tests/layout", "TestNewFolderIsAModule", "fnfolder.New: function/ copied to hello/, stack.yaml written")},
	"cd hello && go test ./... && go vet ./... && cd ..":                     {run: runShell},
	"faas-cli up -f stack.yaml":                                              {reproducedBy: byTest("tests/e2e", "TestFirstHour", "scripts/ci/build-function.sh: the build context faas-cli lays out, the Dockerfile unchanged")},
	`echo -n "world" | faas-cli invoke hello`:                                {reproducedBy: byTest("tests/e2e", "TestTemplates/contract", "a POST to the function")},
	"faas-cli logs hello":                                                    {reproducedBy: byTest("tests/e2e", "TestTemplates/contract", "waitLogs: the container's log lines")},
	"faas-cli publish -f stack.yaml --platforms linux/amd64,linux/arm64":     {reproducedBy: byTest("tests/e2e", "TestMultiArch", "docker buildx build --platform linux/amd64,linux/arm64 --output type=registry, read back")},
	"scripts/demo.sh":  {reproducedBy: byStep("scripts/test.sh", "sh scripts/demo.sh --native", "its last step, --native and --containers")},
	"scripts/test.sh":  {reproducedBy: byStep(".ci/run", "exec sh scripts/test.sh", "")},
	"scripts/bench.sh": {reproducedBy: byStep("scripts/test.sh", "sh scripts/bench.sh --smoke", "the same run, shorter")},
	"path/to/templates/scripts/vendor-function.sh -l golang-middleware-inproc -d ./hello -t ./template": {run: runVendor},
	"faas-cli build -f stack.yaml --build-arg GOFLAGS=-mod=vendor --build-arg GOPROXY=off":              {reproducedBy: byTest("tests/e2e", "TestModules/vendored", "")},
	"path/to/templates/scripts/local-run.sh -l golang-middleware-inproc -d ./hello -e exec_timeout=30s": {run: runLocal},
	"curl -d hi 127.0.0.1:8080/": {reproducedBy: byTest("tests/readme", "TestRunnableCommands", "runLocal, with the local-run command above")},
	"cd hello && go get github.com/inproc-go/templates/watchdog@latest && cd ..": {run: runShell},
	"scripts/sdk.sh serve -addr 127.0.0.1:3000":                                  {run: runServe},
	"scripts/sdk.sh version":                                                     {run: runShell},
	"scripts/sdk.sh bump vX.Y.Z":                                                 {reproducedBy: byTest("scripts/sdk", "TestCheckThenBump", "in a repository and module cache of its own: a version once cached never changes")},
	"git tag watchdog/vX.Y.Z && git tag vX.Y.Z":                                  {reproducedBy: byStep(".github/workflows/release.yml", `for tag in "watchdog/$version" "$version"; do`, "the release workflow checks that both tags name one commit")},
	"git push origin watchdog/vX.Y.Z vX.Y.Z":                                     {reproducedBy: byStep(".github/workflows/release.yml", `run: sh scripts/sdk.sh check -tag "$GITHUB_REF_NAME"`, "what runs on each pushed tag")},
	"scripts/sdk.sh check -tag watchdog/vX.Y.Z":                                  {reproducedBy: byTest("scripts/sdk", "TestCheckTag", "tags that name the pin, others, malformed ones")},
	"faas-cli template pull https://github.com/inproc-go/templates#v0.4.0":       {reproducedBy: byTest("tests/layout", "TestPinnedByRef", "fnfolder.New with LANG@REF: template/<lang>@<ref>/ with its meta.json")},
	"faas-cli build -f stack.yaml":                                               {reproducedBy: byTest("tests/layout", "TestPinnedByRef", "build/hello/ from template/<lang>@<ref>/")},

	// CONTRIBUTING.md
	"export GOPROXY=http://127.0.0.1:3000,https://proxy.golang.org GONOSUMDB=github.com/inproc-go/templates": {run: runExport},
	"scripts/test.sh --unit":                                                                      {reproducedBy: byStep(".github/workflows/test.yml", "run: sh scripts/test.sh --unit", "the unit job")},
	"cd watchdog && go test -race -count=1 ./...":                                                 {reproducedBy: byStep("scripts/test.sh", "(cd watchdog && go test -race -count=1 ./...)", "the same line")},
	"cd watchdog && go test -race -count=1 -run TestConfigTable .":                                {run: runInRoot},
	"cd tests && sh ../scripts/sdk.sh run -- go test -race -count=1 ./layout/":                    {reproducedBy: byStep("scripts/test.sh", "(cd tests && go test -race -count=1 -timeout 30m ./...)", "every package of tests/, under sdk.sh run")},
	"cd tests && sh ../scripts/sdk.sh run -- go test -count=1 ./readme/":                          {reproducedBy: byTest("tests/readme", "TestEveryCommandIsChecked", "this package's tests, as scripts/test.sh runs them")},
	"cd tests && E2E=1 sh ../scripts/sdk.sh run -- go test -count=1 -v -run TestFirstHour ./e2e/": {reproducedBy: byTest("tests/e2e", "TestFirstHour", "in scripts/test.sh's end-to-end step")},
	"cd tests && go test -count=1 -run TestInstructionsPerCall ./instructions/ -update -v":        {reproducedBy: byTest("tests/instructions", "TestInstructionsPerCall", "without -update, in scripts/test.sh's unit-test step")},
	"cd watchdog && go test -count=1 -run '^TestChainAllocations$' .":                             {run: runInRoot},
	"cd tests && sh ../scripts/sdk.sh run -- go run ./bench/cmd/callcost -runs 3":                 {reproducedBy: byTest("tests/bench/cmd/callcost", "TestBareRows", "this command with -only 1,4 and a few hundred calls")},
	"sh scripts/sdk.sh check":                                                                     {run: runInRoot},
	"sh scripts/sdk.sh bump":                                                                      {reproducedBy: byTest("scripts/sdk", "TestCheckThenBump", "")},
	"sh scripts/sync-templates.sh":                                                                {reproducedBy: byStep("scripts/test.sh", "sh scripts/sync-templates.sh --check", "the pins step")},
	"sh scripts/lint.sh":                                                                          {reproducedBy: byStep("scripts/test.sh", "sh scripts/lint.sh", "the lint step")},
	"sh scripts/lint.sh shell gofmt vet":                                                          {reproducedBy: byStep("scripts/test.sh", "sh scripts/lint.sh", "the lint step runs every check")},

	// docs/local-stack.md
	"path/to/templates/scripts/local-stack.sh -f stack.yaml": {run: runLocalStack},
	"curl -d hi 127.0.0.1:8080/function/hello":               {reproducedBy: byTest("tests/readme", "TestRunnableCommands", "runLocalStack, with the local-stack command above")},
	"faas-cli list --gateway http://127.0.0.1:8080":          {reproducedBy: byTest("scripts/localstack", "TestSystemFunctionsAsFaasCLIReadsIt", "faas-cli list's request, its answer decoded as faas-cli does")},

	// docs/streaming.md
	"cd ticker && go test ./... && cd ..": {run: runTicker},
}

// pages are the Markdown files whose sh blocks are checked: the README,
// CONTRIBUTING.md and every page under docs/.
func pages(t *testing.T, root string) []string {
	t.Helper()
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	return append([]string{filepath.Join(root, "README.md"), filepath.Join(root, "CONTRIBUTING.md")}, docs...)
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
			case strings.HasPrefix(strings.TrimSpace(line), "```"): // in a list item too
				in = strings.TrimSpace(line) == "```sh"
			case in:
				if line = strings.TrimSpace(comment.ReplaceAllString(line, "")); line != "" && !strings.HasPrefix(line, "#") {
					out = append(out, line)
				}
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("found no command in the sh blocks of README.md, CONTRIBUTING.md and docs/")
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
			t.Errorf("command of README.md, CONTRIBUTING.md or docs/ without a check in tests/readme: %q", c)
		}
	}
	for c, ch := range checks {
		if !seen[c] {
			t.Errorf("check for a command that README.md, CONTRIBUTING.md and docs/ no longer have: %q", c)
		}
		if ch.run == nil && ch.reproducedBy == (ref{}) {
			t.Errorf("check for %q neither runs it nor names what reproduces it", c)
		}
	}
}

// TestReproducersExist: each test a check names is one that "go test
// -list" lists in its package, its subtests string literals of the
// package's test files, and each script step a line the script runs, so
// renaming a test or a step fails here, not silently.
func TestReproducersExist(t *testing.T) {
	root := repoRoot(t)
	listed := map[string]map[string]bool{} // package folder: its tests
	for c, ch := range checks {
		r := ch.reproducedBy
		switch {
		case r == (ref{}):
		case r.test != "":
			if listed[r.pkg] == nil {
				listed[r.pkg] = listTests(t, filepath.Join(root, r.pkg))
			}
			name, subs, _ := strings.Cut(r.test, "/")
			if !listed[r.pkg][name] {
				t.Errorf("%q is reproduced by %s, but go test -list in %s lists no %s", c, r, r.pkg, name)
				continue
			}
			if subs == "" {
				continue
			}
			src := testSources(t, filepath.Join(root, r.pkg))
			for _, sub := range strings.Split(subs, "/") {
				if !strings.Contains(src, strconv.Quote(sub)) {
					t.Errorf("%q is reproduced by %s, but no test file of %s names a subtest %q", c, r, r.pkg, sub)
				}
			}
		case r.script != "":
			if !runsLine(t, filepath.Join(root, r.script), r.step) {
				t.Errorf("%q is reproduced by %s, but %s has no line that runs %q", c, r, r.script, r.step)
			}
		default:
			t.Errorf("%q: reproducedBy names neither a test nor a script step: %+v", c, r)
		}
	}
}

// listedName is a line of "go test -list" that names a test.
var listedName = regexp.MustCompile(`^(Test|Example|Benchmark|Fuzz)\w*$`)

// listTests returns the tests "go test -list" lists in the package in dir.
// E2E is left out of its environment: with E2E=1, tests/e2e's TestMain
// would set up its containers before listing.
func listTests(t *testing.T, dir string) map[string]bool {
	t.Helper()
	cmd := exec.Command("go", "test", "-list", ".*", ".")
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "E2E=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go test -list in %s: %v\n%s", dir, err, out)
	}
	tests := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		if listedName.MatchString(line) {
			tests[line] = true
		}
	}
	if len(tests) == 0 {
		t.Fatalf("go test -list in %s listed no test:\n%s", dir, out)
	}
	return tests
}

// testSources returns the text of the _test.go files in dir.
func testSources(t *testing.T, dir string) string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*_test.go"))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(data)
	}
	return b.String()
}

// runsLine reports whether the script has a line, not a comment, that
// starts with line once its indentation is trimmed.
func runsLine(t *testing.T, script, line string) bool {
	t.Helper()
	data, err := os.ReadFile(script)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if l = strings.TrimSpace(l); !strings.HasPrefix(l, "#") && strings.HasPrefix(l, line) {
			return true
		}
	}
	return false
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

// runInRoot runs a contributor's command from the repository's root.
func runInRoot(t *testing.T, root, stack, command string) {
	cmd := exec.Command("sh", "-c", command)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
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
	runUntilCtrlC(t, root, stack, command, "http://127.0.0.1:8080/", "shutdown: complete", func(t *testing.T, out string) {
		onlyLoopback8080(t)
		// The stack's template, as faas-cli pulled it, over this clone's.
		if want := "local-run: template template/golang-middleware-inproc\n"; !strings.Contains(out, want) {
			t.Errorf("local-run's output lacks %q:\n%s", want, out)
		}
	})
}

// runLocalStack starts local-stack as docs/local-stack.md shows it, calls
// the function through the gateway route as the page's curl does and stops
// it with Ctrl-C's signal: it must drain every function and exit 0.
func runLocalStack(t *testing.T, root, stack, command string) {
	runUntilCtrlC(t, root, stack, command, "http://127.0.0.1:8080/function/hello", "local-stack: every function drained", func(t *testing.T, _ string) { onlyLoopback8080(t) })
}

// onlyLoopback8080: local by default, every socket listening on port 8080
// is 127.0.0.1's.
func onlyLoopback8080(t *testing.T) {
	t.Helper()
	got := listeners(t, "8080")
	if len(got) == 0 {
		t.Error("ss -ltn lists no socket listening on 8080")
	}
	for _, addr := range got {
		if addr != "127.0.0.1:8080" {
			t.Errorf("listening on %s, want 127.0.0.1:8080 only (ss -ltn: %q)", addr, got)
		}
	}
}

// runUntilCtrlC starts command, POSTs "hi" to url until it answers, calls
// serving (if not nil) with the output so far, and sends SIGINT to the
// command (it execs, so the shell's pid is its own): it must exit 0 having
// printed drained.
func runUntilCtrlC(t *testing.T, root, stack, command, url, drained string, serving func(t *testing.T, out string)) {
	cmd := shell(context.Background(), root, stack, command)
	var out output
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
	body := waitFor(t, done, &out, "curl -d hi "+strings.TrimPrefix(url, "http://"), func() (string, bool) {
		return answer(http.MethodPost, url, "hi")
	})
	if body != "Body: hi" {
		t.Errorf("curl -d hi %s answered %q, want %q", url, body, "Body: hi")
	}
	if serving != nil {
		serving(t, out.String())
	}
	// The command execs what it runs, so the shell's pid is its.
	cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s after Ctrl-C: %v, want exit 0\n%s", command, err, out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not exit within 30s of SIGINT\n%s", command, out.String())
	}
	if !strings.Contains(out.String(), drained) {
		t.Errorf("%s's output has no %q:\n%s", command, drained, out.String())
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

// scriptHelp is every script of scripts/ and scripts/ci/ (paths relative to
// scripts/), with what its usage must say besides "usage:" and its own name.
var scriptHelp = map[string][]string{
	"bench.sh":             {"--smoke", "Exit status"},
	"demo.sh":              {"--native", "Exit status"},
	"lint.sh":              {"CHECK"},
	"local-run.sh":         {"-d HANDLER_DIR", "Exit status"},
	"local-stack.sh":       {"-f STACK_FILE"},
	"sdk.sh":               {"COMMAND"},
	"shrinkwrap.sh":        {"HANDLER_DIR"},
	"soak.sh":              {"-n CALLS"},
	"sync-templates.sh":    {"--check"},
	"test.sh":              {"--unit"},
	"vendor-function.sh":   {"-d HANDLER_DIR"},
	"ci/build-function.sh": {"-d HANDLER_DIR"},
	"ci/builder-image.sh":  {"IMAGE_NAME"},
	"ci/docker-engine.sh":  {"start DIR"},
	"ci/install-buildx.sh": {"BIN_DIR"},
	"ci/install-tools.sh":  {"PACKAGE"},
}

// TestScriptHelp: every script of scripts/ and scripts/ci/ answers -h and
// --help with its usage, naming itself, and exit status 0; a script without
// a row in scriptHelp, or a row without its script, fails.
func TestScriptHelp(t *testing.T) {
	root := repoRoot(t)
	var found []string
	for _, glob := range []string{"*.sh", "ci/*.sh"} {
		m, err := filepath.Glob(filepath.Join(root, "scripts", glob))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range m {
			rel, _ := filepath.Rel(filepath.Join(root, "scripts"), p)
			found = append(found, filepath.ToSlash(rel))
			if _, ok := scriptHelp[filepath.ToSlash(rel)]; !ok {
				t.Errorf("scripts/%s has no row in scriptHelp", rel)
			}
		}
	}
	for script, want := range scriptHelp {
		if !slices.Contains(found, script) {
			t.Errorf("scriptHelp names scripts/%s, which is not there", script)
			continue
		}
		for _, flag := range []string{"-h", "--help"} {
			t.Run(script+" "+flag, func(t *testing.T) {
				// A bound for a script that waits instead of answering, not a
				// speed check: local-stack.sh compiles its Go command first.
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
				defer cancel()
				out, err := exec.CommandContext(ctx, "sh", filepath.Join(root, "scripts", script), flag).CombinedOutput()
				usage := strings.ToLower(string(out))
				if err != nil || !strings.Contains(usage, "usage:") || !strings.Contains(string(out), path.Base(script)) {
					t.Fatalf("%v, want exit status 0 and the usage, naming %s:\n%s", err, path.Base(script), out)
				}
				for _, w := range want {
					if !strings.Contains(string(out), w) {
						t.Errorf("the usage does not say %q:\n%s", w, out)
					}
				}
			})
		}
	}
}

// runServe starts the SDK's proxy as the README shows it and downloads the
// pinned version's module list from it.
func runServe(t *testing.T, root, stack, command string) {
	stop, out := serve(t, root, stack, command)
	stop()
	if !strings.Contains(out.String(), "http://127.0.0.1:3000") {
		t.Errorf("sdk.sh serve did not print its URL:\n%s", out.String())
	}
}

// runExport sets GOPROXY and GONOSUMDB as the README's line does, with the
// README's proxy serving, and downloads the pinned SDK into an empty module
// and module cache. It needs both: the public proxy refuses the module, and
// the public checksum database does not know it.
func runExport(t *testing.T, root, stack, command string) {
	stop, _ := serve(t, root, stack, "scripts/sdk.sh serve -addr 127.0.0.1:3000")
	defer stop()
	version := strings.TrimSpace(mustOutput(t, filepath.Join(root, "scripts", "sdk.sh"), "version"))
	download := fmt.Sprintf("%s && cd '%s' && go mod init example.com/check && go mod download github.com/inproc-go/templates/watchdog@%s",
		command, t.TempDir(), version)
	cmd := shell(context.Background(), root, stack, download)
	// What the line must set is unset first.
	cmd.Env = append(os.Environ(), "GOMODCACHE="+t.TempDir(), "GOFLAGS=-modcacherw", "GOPROXY=off", "GONOSUMDB=", "GOPRIVATE=", "GOSUMDB=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", download, err, out)
	}
}

// serve starts the SDK's proxy with command (an "sdk.sh serve -addr
// 127.0.0.1:3000") and waits until it lists the pinned version. stop sends
// SIGTERM and waits for it to exit.
func serve(t *testing.T, root, stack, command string) (stop func(), out *output) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := shell(ctx, root, stack, command)
	out = &output{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("sdk.sh serve did not stop on SIGTERM")
		}
	}
	t.Cleanup(stop)
	version := strings.TrimSpace(mustOutput(t, filepath.Join(root, "scripts", "sdk.sh"), "version"))
	list := waitFor(t, done, out, command, func() (string, bool) {
		return answer(http.MethodGet, "http://127.0.0.1:3000/github.com/inproc-go/templates/watchdog/@v/list", "")
	})
	if strings.TrimSpace(list) != version {
		t.Errorf("the proxy lists %q, want the pinned %s", list, version)
	}
	return stop, out
}

// runTicker makes the ticker function of docs/streaming.md as the page
// says: a folder faas-cli new made, with the page's Go blocks that name a
// ticker/ file written into it; then runs the command, its tests.
func runTicker(t *testing.T, root, stack, command string) {
	dir := filepath.Join(stack, "ticker")
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(stack, "template", "golang-middleware-inproc", "function"))); err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(filepath.Join(root, "docs", "streaming.md"))
	if err != nil {
		t.Fatal(err)
	}
	written := 0
	for _, block := range regexp.MustCompile("(?s)```go\n// ticker/(\\S+)\n(.*?)```").FindAllStringSubmatch(string(page), -1) {
		if err := os.WriteFile(filepath.Join(dir, block[1]), []byte(block[2]), 0o644); err != nil {
			t.Fatal(err)
		}
		written++
	}
	if written != 2 {
		t.Fatalf("docs/streaming.md: %d Go blocks name a ticker/ file, want 2 (handler.go, handler_test.go)", written)
	}
	runShell(t, root, stack, command)
}

// output collects a running command's stdout and stderr, which its own
// goroutines write while the test reads.
type output struct {
	mu sync.Mutex
	b  strings.Builder
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.Write(p)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
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
func waitFor(t *testing.T, done <-chan error, out *output, what string, try func() (string, bool)) string {
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
