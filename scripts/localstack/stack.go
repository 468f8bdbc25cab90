package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// stackFile is the part of a faas-cli stack.yaml that a local run reads;
// other fields (build_args, constraints, ...) are ignored.
type stackFile struct {
	Functions map[string]stackFunction `yaml:"functions"`
}

type stackFunction struct {
	Lang            string            `yaml:"lang"`
	Handler         string            `yaml:"handler"`
	Image           string            `yaml:"image"`
	Environment     map[string]string `yaml:"environment"`
	EnvironmentFile []string          `yaml:"environment_file"`
	Secrets         []string          `yaml:"secrets"`
	Labels          map[string]string `yaml:"labels"`
	Annotations     map[string]string `yaml:"annotations"`
	Limits          struct {
		Memory string `yaml:"memory"`
	} `yaml:"limits"`
}

// function is one function of the stack that runs here: its folder, the
// template it builds with and the environment the stack gives it.
type function struct {
	Name        string
	Lang        string
	Image       string
	Handler     string // absolute path of the function's folder
	Template    string // absolute path of template/<lang>
	Env         []string
	Labels      map[string]string
	Annotations map[string]string
}

// stack is what load makes of a stack file.
type stack struct {
	Dir       string      // the folder holding the stack file: build/ and .secrets/ are there
	Functions []*function // sorted by name
	Skipped   []string    // one line per function not run, saying why
}

// namespace is the one namespace a local stack serves, as faas-netes' default.
const namespace = "openfaas-fn"

// validName is the function name faas-netes accepts.
var validName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// load reads the stack file at path and checks everything a run needs
// before any build starts: each function of one of langs (this repository's
// templates) has a folder, its environment files and secrets exist and its
// memory limit parses. Functions of other templates are skipped, saying why;
// a stack with none of ours is an error.
func load(path, repo string, langs []string) (*stack, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("stack file %s: not found: run from the folder that holds stack.yaml, or name it with -f FILE", path)
	}
	if err != nil {
		return nil, fmt.Errorf("stack file: %w", err)
	}
	var file stackFile
	if err := yaml.Unmarshal(data, &file); err != nil {
		return nil, fmt.Errorf("stack file %s: not valid YAML: %w", path, err)
	}
	if len(file.Functions) == 0 {
		return nil, fmt.Errorf("stack file %s: no functions: want a functions: map, as faas-cli new writes it", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	st := &stack{Dir: filepath.Dir(abs)}
	names := make([]string, 0, len(file.Functions))
	for name := range file.Functions {
		names = append(names, name)
	}
	sort.Strings(names)
	var errs []error
	for _, name := range names {
		spec := file.Functions[name]
		if !slices.Contains(langs, spec.Lang) {
			st.Skipped = append(st.Skipped, fmt.Sprintf("%s: lang %q is not one of this repository's templates (%s); not run", name, spec.Lang, strings.Join(langs, ", ")))
			continue
		}
		fn, err := st.function(name, spec, repo)
		if err != nil {
			errs = append(errs, fmt.Errorf("function %s: %w", name, err))
			continue
		}
		st.Functions = append(st.Functions, fn)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("stack file %s:\n%w", path, err)
	}
	if len(st.Functions) == 0 {
		return nil, fmt.Errorf("stack file %s: no function uses one of this repository's templates (%s):\n  %s", path, strings.Join(langs, ", "), strings.Join(st.Skipped, "\n  "))
	}
	return st, nil
}

func (st *stack) function(name string, spec stackFunction, repo string) (*function, error) {
	if !validName.MatchString(name) {
		return nil, fmt.Errorf("name %q: want lower-case letters, digits and '-', starting and ending with a letter or digit, as OpenFaaS accepts", name)
	}
	if spec.Handler == "" {
		return nil, errors.New("no handler: want the function's folder, e.g. handler: ./" + name)
	}
	handler := st.path(spec.Handler)
	if info, err := os.Stat(handler); err != nil || !info.IsDir() {
		return nil, fmt.Errorf("handler %s: no such folder", spec.Handler)
	}
	// The template faas-cli pulled into the project comes first, as
	// faas-cli build uses it; this repository's otherwise.
	template := filepath.Join(st.Dir, "template", spec.Lang)
	if _, err := os.Stat(filepath.Join(template, "Dockerfile")); err != nil {
		template = filepath.Join(repo, "template", spec.Lang)
	}
	env, err := st.environment(name, spec)
	if err != nil {
		return nil, err
	}
	return &function{Name: name, Lang: spec.Lang, Image: spec.Image, Handler: handler, Template: template,
		Env: env, Labels: spec.Labels, Annotations: spec.Annotations}, nil
}

// environment is what the platform gives the function, as faas-cli
// local-run passes it: environment, then environment_file's (which win),
// the function's name and namespace, the stack's .secrets folder as the
// secrets folder, and limits.memory as GOMEMLIMIT.
func (st *stack) environment(name string, spec stackFunction) ([]string, error) {
	vars := map[string]string{}
	for k, v := range spec.Environment {
		vars[k] = v
	}
	for _, f := range spec.EnvironmentFile {
		data, err := os.ReadFile(st.path(f))
		if err != nil {
			return nil, fmt.Errorf("environment_file %s: %w", f, err)
		}
		var file struct {
			Environment map[string]string `yaml:"environment"`
		}
		if err := yaml.Unmarshal(data, &file); err != nil {
			return nil, fmt.Errorf("environment_file %s: want YAML with an environment: map: %w", f, err)
		}
		for k, v := range file.Environment {
			vars[k] = v
		}
	}
	secrets := filepath.Join(st.Dir, ".secrets")
	var missing []string
	for _, s := range spec.Secrets {
		if info, err := os.Stat(filepath.Join(secrets, s)); err != nil || !info.Mode().IsRegular() {
			missing = append(missing, s)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("secrets %s: not found: create each as a file of that name in %s, as faas-cli local-run wants them", strings.Join(missing, ", "), secrets)
	}
	if spec.Limits.Memory != "" {
		b, err := memoryBytes(spec.Limits.Memory)
		if err != nil {
			return nil, fmt.Errorf("limits.memory: %w", err)
		}
		vars["GOMEMLIMIT"] = strconv.FormatInt(b, 10)
	}
	vars["OPENFAAS_NAME"] = name
	vars["OPENFAAS_NAMESPACE"] = namespace
	vars["secret_mount_path"] = secrets
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	env := make([]string, 0, len(keys))
	for _, k := range keys {
		env = append(env, k+"="+vars[k])
	}
	return env, nil
}

// path is p relative to the stack's folder, unless absolute.
func (st *stack) path(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(st.Dir, p)
}

// memoryBytes parses a Kubernetes memory quantity as stack.yaml's
// limits.memory holds it: a number of bytes with an optional suffix, binary
// (Ki, Mi, Gi, Ti) or decimal (k, K, M, G, T).
func memoryBytes(q string) (int64, error) {
	units := []struct {
		suffix string
		factor int64
	}{{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"Ti", 1 << 40},
		{"k", 1e3}, {"K", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12}}
	number, factor := q, int64(1)
	for _, u := range units {
		if strings.HasSuffix(q, u.suffix) {
			number, factor = strings.TrimSuffix(q, u.suffix), u.factor
			break
		}
	}
	n, err := strconv.ParseInt(number, 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/factor {
		return 0, fmt.Errorf("%q: want a positive whole number of bytes with an optional suffix Ki, Mi, Gi, Ti, k, M, G or T (e.g. 128Mi)", q)
	}
	return n * factor, nil
}

// templates lists the templates of the repository at repo: the folders of
// template/ that hold a Dockerfile.
func templates(repo string) ([]string, error) {
	dirs, err := filepath.Glob(filepath.Join(repo, "template", "*", "Dockerfile"))
	if err != nil || len(dirs) == 0 {
		return nil, fmt.Errorf("-repo %s: no template/*/Dockerfile there: want this repository's folder", repo)
	}
	var langs []string
	for _, d := range dirs {
		langs = append(langs, filepath.Base(filepath.Dir(d)))
	}
	return langs, nil
}
