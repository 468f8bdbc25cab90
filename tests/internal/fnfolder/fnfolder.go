// Package fnfolder makes function folders the way faas-cli makes them, and
// the edits a function author makes to them, for the layout and e2e tests.
package fnfolder

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Langs are the templates of the repository.
var Langs = []string{"golang-middleware-inproc", "golang-http-inproc"}

// New lays out a stack as "faas-cli template pull" then "faas-cli new
// --lang LANG NAME" do, in a new folder under t.TempDir(): template/LANG/
// (a copy of the repository's), NAME/ (a copy of its function/ folder) and
// stack.yaml. It returns the stack folder.
//
// LANG may name a ref, as TEMPLATE@REF: faas-cli 0.18 pulls a template
// pinned by ref ("faas-cli template pull URL#REF", or lang: TEMPLATE@REF in
// stack.yaml) into template/TEMPLATE@REF/, with the meta.json it writes
// there, and its build finds that folder by the function's lang.
func New(t testing.TB, root, lang, name string) string {
	t.Helper()
	stack := t.TempDir()
	base, ref, pinned := strings.Cut(lang, "@")
	template := filepath.Join(stack, "template", lang)
	if err := os.CopyFS(template, os.DirFS(filepath.Join(root, "template", base))); err != nil {
		t.Fatal(err)
	}
	if pinned {
		meta := fmt.Sprintf(`{"repository":"https://github.com/inproc-go/templates","ref_name":%q,"written_at":"2026-01-01T00:00:00Z"}`, ref)
		Write(t, filepath.Join(template, "meta.json"), meta)
	}
	if err := os.CopyFS(filepath.Join(stack, name), os.DirFS(filepath.Join(template, "function"))); err != nil {
		t.Fatal(err)
	}
	yaml := fmt.Sprintf("version: 1.0\nprovider:\n  name: openfaas\n  gateway: http://127.0.0.1:8080\nfunctions:\n  %s:\n    lang: %s\n    handler: ./%s\n    image: %s:latest\n", name, lang, name, name)
	Write(t, filepath.Join(stack, "stack.yaml"), yaml)
	return stack
}

// Edit is what a function author does to the folder faas-cli new made.
type Edit struct {
	Name   string
	Files  map[string]string // written, relative to the folder
	Remove []string          // removed, relative to the folder
	// Fails names the test whose failure must fail the build; "" for an
	// edit that must build.
	Fails string
	// Answer is what the built function answers to a POST of "hello", for
	// tests that run it.
	Answer string
}

// Apply makes e's changes in dir.
func (e Edit) Apply(t testing.TB, dir string) {
	t.Helper()
	for _, name := range e.Remove {
		if err := os.Remove(filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	for name, body := range e.Files {
		Write(t, filepath.Join(dir, name), body)
	}
}

// Edits are the first hour of a function author, for lang: the handler
// rewritten with its example test deleted, with a passing test of its own,
// and with a failing one.
func Edits(lang string) []Edit {
	handler, ownTest := middlewareHandler, middlewareTest
	if lang == "golang-http-inproc" {
		handler, ownTest = httpHandler, httpTest
	}
	return []Edit{{
		Name:   "own handler, example test deleted",
		Files:  map[string]string{"handler.go": handler},
		Remove: []string{"handler_test.go"},
		Answer: "HELLO",
	}, {
		Name:   "own handler, own passing test, example test kept",
		Files:  map[string]string{"handler.go": handler, "upper_test.go": ownTest},
		Answer: "HELLO",
	}, {
		Name:   "own handler, own failing test",
		Files:  map[string]string{"handler.go": handler, "upper_test.go": failingTest},
		Remove: []string{"handler_test.go"},
		Fails:  "TestUpperOnPurposeFails",
	}}
}

// Write writes body to name, making its folder.
func Write(t testing.TB, name, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

const middlewareHandler = `package function

import (
	"bytes"
	"io"
	"net/http"
)

// Handle answers the body in upper case.
func Handle(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Write(bytes.ToUpper(body))
}
`

const middlewareTest = `package function

import (
	"net/http/httptest"
	"strings"
	"testing"
)

func TestUpper(t *testing.T) {
	rec := httptest.NewRecorder()
	Handle(rec, httptest.NewRequest("POST", "/", strings.NewReader("hello")))
	if rec.Body.String() != "HELLO" {
		t.Fatalf("body = %q, want HELLO", rec.Body.String())
	}
}
`

const httpHandler = `package function

import (
	"bytes"
	"net/http"

	handler "github.com/inproc-go/templates/watchdog/go-http"
)

// Handle answers the body in upper case.
func Handle(req handler.Request) (handler.Response, error) {
	return handler.Response{Body: bytes.ToUpper(req.Body), StatusCode: http.StatusOK}, nil
}
`

const httpTest = `package function

import (
	"testing"

	handler "github.com/inproc-go/templates/watchdog/go-http"
)

func TestUpper(t *testing.T) {
	res, err := Handle(handler.Request{Body: []byte("hello")})
	if err != nil || string(res.Body) != "HELLO" {
		t.Fatalf("Handle = %q, %v; want HELLO", res.Body, err)
	}
}
`

const failingTest = `package function

import "testing"

func TestUpperOnPurposeFails(t *testing.T) {
	t.Fatal("this test fails on purpose: the build must stop here")
}
`
