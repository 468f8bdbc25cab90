package main

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var testLangs = []string{"golang-http-inproc", "golang-middleware-inproc"}

// writeFiles writes each name -> body under dir, making folders; a name
// ending in / is a folder.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

const oneFunction = `functions:
  hello:
    lang: golang-middleware-inproc
    handler: ./hello
`

// TestLoadRejectsBadInput: every bad stack gets an error naming what is
// wrong and what is accepted.
func TestLoadRejectsBadInput(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string // stack.yaml and the folders beside it; none: no stack file
		want  []string          // in the error
	}{
		{"no stack file", nil, []string{"stack.yaml: not found", "-f FILE"}},
		{"not YAML", map[string]string{"stack.yaml": "functions: [\n"}, []string{"not valid YAML"}},
		{"no functions", map[string]string{"stack.yaml": "version: 1.0\n"}, []string{"no functions"}},
		{"missing folder", map[string]string{"stack.yaml": oneFunction}, []string{"function hello", "handler ./hello: no such folder"}},
		{"no handler", map[string]string{"stack.yaml": "functions:\n  hello:\n    lang: golang-http-inproc\n"}, []string{"no handler", "handler: ./hello"}},
		{"lang not ours", map[string]string{"stack.yaml": "functions:\n  web:\n    lang: node20\n    handler: ./web\n", "web/": ""},
			[]string{"no function uses one of this repository's templates (golang-http-inproc, golang-middleware-inproc)", `web: lang "node20"`}},
		{"bad name", map[string]string{"stack.yaml": "functions:\n  Hello_World:\n    lang: golang-http-inproc\n    handler: ./h\n", "h/": ""},
			[]string{`name "Hello_World"`, "lower-case letters"}},
		{"missing secret", map[string]string{"stack.yaml": oneFunction + "    secrets:\n      - api-key\n      - db\n", "hello/": "", ".secrets/db": "x"},
			[]string{"secrets api-key: not found", ".secrets"}},
		{"missing environment file", map[string]string{"stack.yaml": oneFunction + "    environment_file:\n      - env.yaml\n", "hello/": ""},
			[]string{"environment_file env.yaml"}},
		{"environment file not YAML", map[string]string{"stack.yaml": oneFunction + "    environment_file:\n      - env.yaml\n", "hello/": "", "env.yaml": "environment: [\n"},
			[]string{"environment_file env.yaml: want YAML with an environment: map"}},
		{"bad memory", map[string]string{"stack.yaml": oneFunction + "    limits:\n      memory: 128MB\n", "hello/": ""},
			[]string{`limits.memory: "128MB"`, "128Mi"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, tc.files)
			_, err := load(filepath.Join(dir, "stack.yaml"), "/repo", testLangs)
			if err == nil {
				t.Fatal("load succeeded, want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not say %q", err, w)
				}
			}
		})
	}
}

// TestLoadGivesTheStacksEnvironment: environment, environment_file (which
// wins), the secrets folder and limits.memory reach the function; a
// function of another template is skipped, saying why; the template faas-cli
// pulled into the project wins over the repository's.
func TestLoadGivesTheStacksEnvironment(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"stack.yaml": `functions:
  hello:
    lang: golang-middleware-inproc
    handler: ./hello
    environment:
      greeting: hi
      max_inflight: 4
      colour: red
    environment_file:
      - env.yaml
    secrets:
      - api-key
    limits:
      memory: 128Mi
  web:
    lang: node20
    handler: ./web
`,
		"env.yaml":         "environment:\n  colour: blue\n",
		"hello/":           "",
		".secrets/api-key": "s3cret",
		"template/golang-middleware-inproc/Dockerfile": "FROM scratch\n",
	})
	st, err := load(filepath.Join(dir, "stack.yaml"), "/repo", testLangs)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Functions) != 1 || len(st.Skipped) != 1 || !strings.Contains(st.Skipped[0], `web: lang "node20" is not one of`) {
		t.Fatalf("functions %v, skipped %q; want hello run and web skipped", st.Functions, st.Skipped)
	}
	fn := st.Functions[0]
	for _, want := range []string{"greeting=hi", "max_inflight=4", "colour=blue", "GOMEMLIMIT=134217728",
		"OPENFAAS_NAME=hello", "OPENFAAS_NAMESPACE=openfaas-fn", "secret_mount_path=" + filepath.Join(dir, ".secrets")} {
		if !slices.Contains(fn.Env, want) {
			t.Errorf("environment %q lacks %q", fn.Env, want)
		}
	}
	if want := filepath.Join(dir, "template", "golang-middleware-inproc"); fn.Template != want {
		t.Errorf("template %s, want the project's %s", fn.Template, want)
	}
	if want := filepath.Join(dir, "hello"); fn.Handler != want {
		t.Errorf("handler %s, want %s", fn.Handler, want)
	}
}

func TestMemoryBytes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64 // 0: an error
	}{
		{"128Mi", 128 << 20}, {"1Gi", 1 << 30}, {"512Ki", 512 << 10}, {"100M", 100e6}, {"2G", 2e9},
		{"1000", 1000}, {"64k", 64e3},
		{"", 0}, {"128MB", 0}, {"-1Mi", 0}, {"0", 0}, {"1.5Gi", 0}, {"Mi", 0}, {"99999999999Ti", 0},
	} {
		got, err := memoryBytes(tc.in)
		if tc.want == 0 {
			if err == nil {
				t.Errorf("memoryBytes(%q) = %d, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("memoryBytes(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}

func FuzzMemoryBytes(f *testing.F) {
	for _, s := range []string{"128Mi", "1G", "12", "", "1Ti"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if n, err := memoryBytes(s); err == nil && n <= 0 {
			t.Fatalf("memoryBytes(%q) = %d without an error", s, n)
		}
	})
}

func TestParseArgs(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // in the error; "" for none
	}{
		{[]string{"-repo", "/r"}, ""},
		{[]string{"-repo", "/r", "-listen", "8080"}, `-listen "8080": want HOST:PORT`},
		{[]string{"-repo", "/r", "extra"}, `unexpected argument "extra"`},
		{[]string{"-repo", "/r", "-x"}, "flag provided but not defined: -x"},
		{[]string{}, "-repo is required"},
	} {
		_, err := parseArgs(tc.args)
		if (err == nil) != (tc.want == "") || err != nil && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseArgs(%q) = %v, want %q", tc.args, err, tc.want)
		}
	}
}

// TestRunRefusesBadInput: bad input stops the command with status 2 and a
// clear message before anything is built.
func TestRunRefusesBadInput(t *testing.T) {
	repo := t.TempDir()
	writeFiles(t, repo, map[string]string{"template/golang-middleware-inproc/Dockerfile": "FROM scratch\n"})
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"stack.yaml": oneFunction, "hello/": ""})
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	stackFile := filepath.Join(dir, "stack.yaml")
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"help", []string{"-h"}, 0, "usage: scripts/local-stack.sh"},
		{"no stack file", []string{"-repo", repo, "-f", filepath.Join(dir, "none.yaml")}, 2, "none.yaml: not found"},
		{"not this repository", []string{"-repo", dir, "-f", stackFile}, 2, "no template/*/Dockerfile there"},
		{"gateway port in use", []string{"-repo", repo, "-f", stackFile, "-listen", busy.Addr().String()}, 2, "address already in use"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut strings.Builder
			code := run(tc.args, &out, &errOut)
			if code != tc.code || !strings.Contains(out.String()+errOut.String(), tc.want) {
				t.Errorf("exit %d, output %q%q; want %d and %q", code, out.String(), errOut.String(), tc.code, tc.want)
			}
		})
	}
}
