// Package store checks templates.json, the faas-cli template store file at
// the root of the repository, against the templates that actually exist in
// template/.
package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

const (
	storeFile    = "../../templates.json"
	templateRoot = "../../template"
)

// supportedPlatforms are the store platforms every template must be listed
// for. The templates build a static Go binary, so they run on amd64 and
// arm64; faas-cli calls those "x86_64" and "arm64" in the store.
var supportedPlatforms = []string{"x86_64", "arm64"}

// knownPlatforms are the platform names faas-cli's template store uses.
var knownPlatforms = map[string]bool{"x86_64": true, "arm64": true, "armhf": true}

// templateInfo mirrors faas-cli's TemplateInfo (commands/template_store_list.go):
// the same JSON names and the same Go types, so anything that decodes here
// decodes in faas-cli too. "official" is a string there, "recommended" a bool.
type templateInfo struct {
	TemplateName string `json:"template"`
	Platform     string `json:"platform"`
	Language     string `json:"language"`
	Source       string `json:"source"`
	Description  string `json:"description"`
	Repository   string `json:"repo"`
	Official     string `json:"official"`
	Recommended  bool   `json:"recommended"`
}

// templateName is what faas-cli accepts as a template directory name.
var templateName = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

// decodeStore decodes a store file strictly: unknown fields, a non-array
// document and trailing data are all errors.
func decodeStore(data []byte) ([]templateInfo, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var entries []templateInfo
	if err := dec.Decode(&entries); err != nil {
		return nil, fmt.Errorf("decode store: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("decode store: trailing data after the JSON array")
	}
	if entries == nil {
		return nil, errors.New("decode store: document is null, want an array")
	}
	return entries, nil
}

// templateDirs lists the directories directly under root.
func templateDirs(root string) ([]string, error) {
	des, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	var dirs []string
	for _, de := range des {
		if de.IsDir() && !strings.HasPrefix(de.Name(), ".") {
			dirs = append(dirs, de.Name())
		}
	}
	return dirs, nil
}

// checkEntry validates one entry on its own.
func checkEntry(e templateInfo, root string) []error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("entry %q/%q: "+format, append([]any{e.TemplateName, e.Platform}, args...)...))
	}

	if !templateName.MatchString(e.TemplateName) {
		bad("template name must be lower-case letters, digits and single hyphens")
	} else {
		dir := filepath.Join(root, e.TemplateName)
		for _, f := range []string{"Dockerfile", "template.yml"} {
			fi, err := os.Stat(filepath.Join(dir, f))
			switch {
			case err != nil:
				bad("template directory %s: %v", dir, err)
			case !fi.Mode().IsRegular():
				bad("%s is not a regular file", filepath.Join(dir, f))
			case fi.Size() == 0:
				bad("%s is empty", filepath.Join(dir, f))
			}
		}
	}
	if !knownPlatforms[e.Platform] {
		bad("platform %q is not one faas-cli knows (x86_64, arm64, armhf)", e.Platform)
	}
	if e.Language != "Go" {
		bad("language = %q, want %q", e.Language, "Go")
	}
	if e.Source != "inproc-go" {
		bad("source = %q, want %q", e.Source, "inproc-go")
	}
	if strings.TrimSpace(e.Description) == "" {
		bad("description is empty")
	}
	if e.Official != "true" && e.Official != "false" {
		bad("official = %q, want the string \"true\" or \"false\"", e.Official)
	}
	if err := checkRepo(e.Repository); err != nil {
		bad("repo: %v", err)
	}
	return errs
}

// checkRepo requires an https URL that faas-cli can clone and that a store
// pull can pin with "#ref" (so it must carry no fragment of its own).
func checkRepo(repo string) error {
	u, err := url.Parse(repo)
	if err != nil {
		return err
	}
	switch {
	case u.Scheme != "https":
		return fmt.Errorf("%q: scheme %q, want https", repo, u.Scheme)
	case u.Host == "":
		return fmt.Errorf("%q: no host", repo)
	case u.User != nil:
		return fmt.Errorf("%q: must not carry credentials", repo)
	case strings.Trim(u.Path, "/") == "":
		return fmt.Errorf("%q: no repository path", repo)
	case u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("%q: must have no query or fragment", repo)
	}
	return nil
}

// checkStore validates a whole store file against the template directories
// under root and returns every problem found.
func checkStore(data []byte, root string) []error {
	entries, err := decodeStore(data)
	if err != nil {
		return []error{err}
	}
	if len(entries) == 0 {
		return []error{errors.New("store has no entries")}
	}

	var errs []error
	type key struct{ template, platform string }
	seen := map[key]int{}
	for _, e := range entries {
		errs = append(errs, checkEntry(e, root)...)
		// faas-cli matches platforms case-insensitively, so duplicates are
		// judged the same way.
		seen[key{strings.ToLower(e.TemplateName), strings.ToLower(e.Platform)}]++
	}

	dirs, err := templateDirs(root)
	if err != nil {
		return append(errs, fmt.Errorf("list template directories: %w", err))
	}
	if len(dirs) == 0 {
		errs = append(errs, fmt.Errorf("no template directories under %s", root))
	}
	for _, dir := range dirs {
		for _, p := range supportedPlatforms {
			if n := seen[key{dir, p}]; n != 1 {
				errs = append(errs, fmt.Errorf("template %q is listed %d times for platform %q, want exactly once", dir, n, p))
			}
		}
	}
	for k, n := range seen {
		if n > 1 && knownPlatforms[k.platform] && !contains(supportedPlatforms, k.platform) {
			errs = append(errs, fmt.Errorf("template %q is listed %d times for platform %q", k.template, n, k.platform))
		}
	}
	return errs
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// TestTemplatesJSON validates the repository's templates.json.
func TestTemplatesJSON(t *testing.T) {
	data, err := os.ReadFile(storeFile)
	if err != nil {
		t.Fatalf("read %s: %v", storeFile, err)
	}
	for _, err := range checkStore(data, templateRoot) {
		t.Error(err)
	}

	entries, err := decodeStore(data)
	if err != nil {
		return // already reported above
	}
	// A flat list of what the store offers, for the test log.
	var names []string
	for _, e := range entries {
		names = append(names, e.TemplateName+"/"+e.Platform)
	}
	sort.Strings(names)
	t.Logf("store lists %d entries: %s", len(entries), strings.Join(names, ", "))
}

// TestCheckStoreRejects proves each check fails on a store that breaks it.
func TestCheckStoreRejects(t *testing.T) {
	root := t.TempDir()
	for _, name := range []string{"alpha", "beta"} {
		dir := filepath.Join(root, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"Dockerfile", "template.yml"} {
			if err := os.WriteFile(filepath.Join(dir, f), []byte("x\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	// "nofile" has a directory but no template.yml.
	if err := os.MkdirAll(filepath.Join(root, "nofile"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "nofile", "Dockerfile"), []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	goodRoot := t.TempDir()
	for _, name := range []string{"alpha", "beta"} {
		if err := os.CopyFS(filepath.Join(goodRoot, name), os.DirFS(filepath.Join(root, name))); err != nil {
			t.Fatal(err)
		}
	}

	entry := func(tmpl, platform string, mod ...func(*templateInfo)) templateInfo {
		e := templateInfo{
			TemplateName: tmpl,
			Platform:     platform,
			Language:     "Go",
			Source:       "inproc-go",
			Description:  "a template",
			Repository:   "https://github.com/inproc-go/templates",
			Official:     "false",
		}
		for _, m := range mod {
			m(&e)
		}
		return e
	}
	full := func(mod ...func(*templateInfo)) []templateInfo {
		return []templateInfo{
			entry("alpha", "x86_64", mod...),
			entry("alpha", "arm64"),
			entry("beta", "x86_64"),
			entry("beta", "arm64"),
		}
	}
	encode := func(t *testing.T, v any) string {
		t.Helper()
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}

	tests := []struct {
		name    string
		store   func(t *testing.T) string
		root    string
		wantErr string // substring of one reported error; "" means valid
	}{
		{
			name:  "valid",
			store: func(t *testing.T) string { return encode(t, full()) },
			root:  goodRoot,
		},
		{
			name:    "unknown field",
			store:   func(t *testing.T) string { return `[{"template":"alpha","path":"x"}]` },
			root:    goodRoot,
			wantErr: `unknown field "path"`,
		},
		{
			name:    "official as bool",
			store:   func(t *testing.T) string { return `[{"template":"alpha","official":false}]` },
			root:    goodRoot,
			wantErr: "cannot unmarshal bool",
		},
		{
			name:    "recommended as string",
			store:   func(t *testing.T) string { return `[{"template":"alpha","recommended":"true"}]` },
			root:    goodRoot,
			wantErr: "cannot unmarshal string",
		},
		{
			name:    "not an array",
			store:   func(t *testing.T) string { return `{"template":"alpha"}` },
			root:    goodRoot,
			wantErr: "cannot unmarshal object",
		},
		{
			name:    "null",
			store:   func(t *testing.T) string { return `null` },
			root:    goodRoot,
			wantErr: "null",
		},
		{
			name:    "trailing data",
			store:   func(t *testing.T) string { return encode(t, full()) + `[]` },
			root:    goodRoot,
			wantErr: "trailing data",
		},
		{
			name:    "empty",
			store:   func(t *testing.T) string { return `[]` },
			root:    goodRoot,
			wantErr: "no entries",
		},
		{
			name: "missing template directory",
			store: func(t *testing.T) string {
				return encode(t, append(full(), entry("gamma", "x86_64")))
			},
			root:    goodRoot,
			wantErr: "gamma",
		},
		{
			name: "directory without template.yml",
			store: func(t *testing.T) string {
				return encode(t, append(full(), entry("nofile", "x86_64"), entry("nofile", "arm64")))
			},
			root:    root,
			wantErr: "template.yml",
		},
		{
			name:    "template directory not in store",
			store:   func(t *testing.T) string { return encode(t, full()[:2]) },
			root:    goodRoot,
			wantErr: `template "beta" is listed 0 times for platform "x86_64"`,
		},
		{
			name:    "platform missing",
			store:   func(t *testing.T) string { return encode(t, full()[:3]) },
			root:    goodRoot,
			wantErr: `template "beta" is listed 0 times for platform "arm64"`,
		},
		{
			name:    "duplicate",
			store:   func(t *testing.T) string { return encode(t, append(full(), entry("beta", "arm64"))) },
			root:    goodRoot,
			wantErr: `template "beta" is listed 2 times for platform "arm64"`,
		},
		{
			name:    "duplicate differing in case",
			store:   func(t *testing.T) string { return encode(t, append(full(), entry("beta", "ARM64"))) },
			root:    goodRoot,
			wantErr: `listed 2 times`,
		},
		{
			name: "duplicate on an unsupported known platform",
			store: func(t *testing.T) string {
				return encode(t, append(full(), entry("beta", "armhf"), entry("beta", "armhf")))
			},
			root:    goodRoot,
			wantErr: `listed 2 times for platform "armhf"`,
		},
		{
			name:    "unknown platform",
			store:   func(t *testing.T) string { return encode(t, append(full(), entry("beta", "amd64"))) },
			root:    goodRoot,
			wantErr: `platform "amd64" is not one faas-cli knows`,
		},
		{
			name: "empty description",
			store: func(t *testing.T) string {
				return encode(t, full(func(e *templateInfo) { e.Description = "  " }))
			},
			root:    goodRoot,
			wantErr: "description is empty",
		},
		{
			name: "http repo",
			store: func(t *testing.T) string {
				return encode(t, full(func(e *templateInfo) { e.Repository = "http://github.com/inproc-go/templates" }))
			},
			root:    goodRoot,
			wantErr: "want https",
		},
		{
			name: "repo without path",
			store: func(t *testing.T) string {
				return encode(t, full(func(e *templateInfo) { e.Repository = "https://github.com/" }))
			},
			root:    goodRoot,
			wantErr: "no repository path",
		},
		{
			name: "repo with fragment",
			store: func(t *testing.T) string {
				return encode(t, full(func(e *templateInfo) { e.Repository = "https://github.com/inproc-go/templates#main" }))
			},
			root:    goodRoot,
			wantErr: "no query or fragment",
		},
		{
			name: "repo not a URL",
			store: func(t *testing.T) string {
				return encode(t, full(func(e *templateInfo) { e.Repository = "inproc-go/templates" }))
			},
			root:    goodRoot,
			wantErr: "want https",
		},
		{
			name: "official not a boolean string",
			store: func(t *testing.T) string {
				return encode(t, full(func(e *templateInfo) { e.Official = "yes" }))
			},
			root:    goodRoot,
			wantErr: `official = "yes"`,
		},
		{
			name: "wrong language",
			store: func(t *testing.T) string {
				return encode(t, full(func(e *templateInfo) { e.Language = "Golang" }))
			},
			root:    goodRoot,
			wantErr: "language",
		},
		{
			name: "wrong source",
			store: func(t *testing.T) string {
				return encode(t, full(func(e *templateInfo) { e.Source = "openfaas" }))
			},
			root:    goodRoot,
			wantErr: "source",
		},
		{
			name: "path traversal in template name",
			store: func(t *testing.T) string {
				return encode(t, full(func(e *templateInfo) { e.TemplateName = "../alpha" }))
			},
			root:    goodRoot,
			wantErr: "template name must be",
		},
		{
			name:    "template root missing",
			store:   func(t *testing.T) string { return encode(t, full()) },
			root:    filepath.Join(goodRoot, "does-not-exist"),
			wantErr: "list template directories",
		},
	}

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			errs := checkStore([]byte(tc.store(t)), tc.root)
			if tc.wantErr == "" {
				for _, err := range errs {
					t.Errorf("unexpected error: %v", err)
				}
				return
			}
			if len(errs) == 0 {
				t.Fatalf("store was accepted, want an error containing %q", tc.wantErr)
			}
			for _, err := range errs {
				if strings.Contains(err.Error(), tc.wantErr) {
					return
				}
			}
			t.Errorf("no error contains %q; got:\n%v", tc.wantErr, errors.Join(errs...))
		})
	}
}
