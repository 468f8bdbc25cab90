package watchdog

import (
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestConfigTable keeps the README's configuration table and the environment
// variables the watchdog reads in step: every variable read has a row, and
// every row names variables that are read. The variables read come from the
// code itself (see readSettings), each confirmed by ConfigFromEnv's behaviour.
func TestConfigTable(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if os.IsNotExist(err) {
		t.Skip("no ../README.md: the package is outside its repository (a module zip)")
	}
	if err != nil {
		t.Fatal(err)
	}
	documented, err := configTable(string(readme))
	if err != nil {
		t.Fatal(err)
	}
	read := readSettings(t)
	for name, where := range read {
		if !documented[name] {
			t.Errorf("%s reads the variable %s, but README.md's configuration table has no row for it", where, name)
		}
	}
	for name := range documented {
		if _, ok := read[name]; !ok {
			t.Errorf("README.md's configuration table documents %s, but the watchdog reads no such variable", name)
		}
	}
}

// configTable returns the variables named in the first column of the table
// under the README's "## Configuration" heading.
func configTable(readme string) (map[string]bool, error) {
	_, section, ok := strings.Cut(readme, "\n## Configuration\n")
	if !ok {
		return nil, errors.New("README.md has no \"## Configuration\" section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	names := map[string]bool{}
	code := regexp.MustCompile("`([^`]+)`")
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 3 || !strings.HasPrefix(line, "| `") {
			continue
		}
		for _, m := range code.FindAllStringSubmatch(cells[1], -1) {
			names[m[1]] = true
		}
	}
	if len(names) == 0 {
		return nil, errors.New("README.md's configuration section has no table rows naming a `variable`")
	}
	return names, nil
}

// readSettings returns, for each environment variable the package reads, the
// place it is read: the name given to an envParser method (ConfigFromEnv's
// typed reads), an index of its vars map, or os.Getenv's argument (a literal
// or a constant of the package). Each name ConfigFromEnv reads must change
// its result (an error naming it, or another Config), so a name found in the
// source but not read fails here rather than passing unseen.
func readSettings(t *testing.T) map[string]string {
	t.Helper()
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var parsed []*ast.File
	consts := map[string]string{}
	parserMethods := map[string]bool{}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		parsed = append(parsed, f)
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Recv != nil && len(d.Recv.List) == 1 && recvType(d.Recv.List[0].Type) == "envParser" {
					parserMethods[d.Name.Name] = true
				}
			case *ast.GenDecl:
				if d.Tok != token.CONST {
					continue
				}
				for _, s := range d.Specs {
					vs := s.(*ast.ValueSpec)
					for i, id := range vs.Names {
						if i < len(vs.Values) {
							if v, ok := stringLit(vs.Values[i]); ok {
								consts[id.Name] = v
							}
						}
					}
				}
			}
		}
	}
	if len(parserMethods) == 0 {
		t.Fatal("found no method of envParser: how ConfigFromEnv reads the environment changed; teach readSettings the new way")
	}
	fromConfig := map[string]string{}
	other := map[string]string{}
	for _, f := range parsed {
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CallExpr:
				sel, ok := n.Fun.(*ast.SelectorExpr)
				if !ok || len(n.Args) == 0 {
					return true
				}
				pkg, _ := sel.X.(*ast.Ident)
				switch {
				case pkg != nil && pkg.Name == "os" && (sel.Sel.Name == "Getenv" || sel.Sel.Name == "LookupEnv"):
					if v, ok := stringLit(n.Args[0]); ok {
						other[v] = fset.Position(n.Pos()).String()
					} else if id, ok := n.Args[0].(*ast.Ident); ok && consts[id.Name] != "" {
						other[consts[id.Name]] = fset.Position(n.Pos()).String()
					} else {
						t.Errorf("%s: os.%s of something other than a literal or a constant: readSettings can't tell which variable", fset.Position(n.Pos()), sel.Sel.Name)
					}
				case parserMethods[sel.Sel.Name]:
					if v, ok := stringLit(n.Args[0]); ok {
						fromConfig[v] = fset.Position(n.Pos()).String()
					}
				}
			case *ast.IndexExpr:
				if id, ok := n.X.(*ast.Ident); ok && id.Name == "vars" {
					if v, ok := stringLit(n.Index); ok {
						fromConfig[v] = fset.Position(n.Pos()).String()
					}
				}
			}
			return true
		})
	}
	base, err := ConfigFromEnv(nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, where := range fromConfig {
		if !changesConfig(base, name) {
			t.Errorf("%s names %s, but no value of it changes what ConfigFromEnv returns", where, name)
		}
	}
	for name, where := range other {
		fromConfig[name] = where
	}
	return fromConfig
}

// changesConfig reports whether some value of name makes ConfigFromEnv
// return an error naming it or a Config other than base.
func changesConfig(base Config, name string) bool {
	for _, v := range []string{"\x01", "x", "1", "true", "/x"} {
		cfg, err := ConfigFromEnv([]string{name + "=" + v})
		if err != nil && strings.Contains(err.Error(), name+"=") || err == nil && !reflect.DeepEqual(cfg, base) {
			return true
		}
	}
	return false
}

// recvType returns the name of a receiver type, without its pointer.
func recvType(e ast.Expr) string {
	if s, ok := e.(*ast.StarExpr); ok {
		e = s.X
	}
	if id, ok := e.(*ast.Ident); ok {
		return id.Name
	}
	return ""
}

func stringLit(e ast.Expr) (string, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	v, err := strconv.Unquote(lit.Value)
	return v, err == nil
}

// TestConfigTableParses: the table reader finds each variable of a row,
// two in one cell included, and nothing outside the section.
func TestConfigTableParses(t *testing.T) {
	readme := "# x\n| `outside` | a |\n## Configuration\ntext `not_a_row`\n\n| variable | default |\n|---|---|\n| `exec_timeout` | `10s` |\n| `log_callid`, `log_call_id` | `false` |\n\n## Next\n| `after` | b |\n"
	got, err := configTable(readme)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for n := range got {
		names = append(names, n)
	}
	slices.Sort(names)
	if want := []string{"exec_timeout", "log_call_id", "log_callid"}; !slices.Equal(names, want) {
		t.Errorf("configTable: %q, want %q", names, want)
	}
	if _, err := configTable("# no section\n"); err == nil {
		t.Error("configTable of a README without the section: no error")
	}
}
