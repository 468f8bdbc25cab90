package main

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/semver"
)

// pin is a go.mod of the repository that requires the SDK.
type pin struct {
	dir     string // relative to the repository root
	version string
}

// pins finds every go.mod outside watchdog/ that requires the SDK: the
// templates, their function stubs and test functions.
func (r *repo) pins() ([]pin, error) {
	var pins []pin
	err := filepath.WalkDir(r.root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path == r.root {
				return nil // its own name may be one of those below
			}
			switch d.Name() {
			case ".git", "vendor", "node_modules", "build":
				return filepath.SkipDir
			}
			if path == filepath.Join(r.root, moduleDir) {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Name() != "go.mod" {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		f, err := modfile.ParseLax(path, data, nil)
		if err != nil {
			return err
		}
		for _, req := range f.Require {
			if req.Mod.Path == modulePath {
				rel, _ := filepath.Rel(r.root, filepath.Dir(path))
				pins = append(pins, pin{dir: filepath.ToSlash(rel), version: req.Mod.Version})
			}
		}
		return nil
	})
	if err == nil && len(pins) == 0 {
		err = errNoPins
	}
	return pins, err
}

// pinnedVersion is the version every pin names; it fails when they differ.
func (r *repo) pinnedVersion() (string, error) {
	pins, err := r.pins()
	if err != nil {
		return "", err
	}
	var lines []string
	for _, p := range pins {
		if p.version != pins[0].version {
			for _, p := range pins {
				lines = append(lines, fmt.Sprintf("  %s/go.mod: %s", p.dir, p.version))
			}
			return "", fmt.Errorf("the go.mod files pin different versions of %s (run \"scripts/sdk.sh bump\" to pin one):\n%s",
				modulePath, strings.Join(lines, "\n"))
		}
	}
	return pins[0].version, nil
}

// check verifies that every pin's go.sum holds exactly the hashes of
// watchdog/ as the pinned version.
func (r *repo) check(stdout io.Writer) error {
	v, err := r.pinnedVersion()
	if err != nil {
		return err
	}
	want, err := r.sums(v)
	if err != nil {
		return err
	}
	pins, err := r.pins()
	if err != nil {
		return err
	}
	var problems []string
	for _, p := range pins {
		got, err := readSums(filepath.Join(r.root, p.dir, "go.sum"))
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s/go.sum: %v", p.dir, err))
			continue
		}
		for _, line := range sumLines(v, want) {
			if !slices.Contains(got, line) {
				problems = append(problems, fmt.Sprintf("%s/go.sum lacks %q", p.dir, line))
			}
		}
		for _, line := range got {
			if !slices.Contains(sumLines(v, want), line) {
				problems = append(problems, fmt.Sprintf("%s/go.sum has %q, which is not %s/ zipped as %s", p.dir, line, moduleDir, v))
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("the pins of %s@%s do not match %s/:\n  %s\n%s/ changed since %s was pinned: run \"scripts/sdk.sh bump\" to pin a new version",
			modulePath, v, moduleDir, strings.Join(problems, "\n  "), moduleDir, v)
	}
	fmt.Fprintf(stdout, "sdk: %d go.mod files pin %s@%s; their go.sum hashes are %s/ zipped as %s (%s)\n",
		len(pins), modulePath, v, moduleDir, v, want.zip)
	return nil
}

// bump pins next (default: the patch version after the current pin) in
// every go.mod and go.sum that requires the SDK.
func (r *repo) bump(next string, stdout io.Writer) error {
	pins, err := r.pins()
	if err != nil {
		return err
	}
	current := pins[0].version
	for _, p := range pins {
		if semver.Compare(p.version, current) > 0 {
			current = p.version
		}
	}
	if next == "" {
		if next, err = nextPatch(current); err != nil {
			return err
		}
	}
	if !semver.IsValid(next) || semver.Canonical(next) != next || semver.Prerelease(next) != "" {
		return fmt.Errorf("%w: version %q: want a release version vMAJOR.MINOR.PATCH, e.g. v0.2.0", errUsage, next)
	}
	if semver.Compare(next, current) <= 0 {
		return fmt.Errorf("%w: version %s is not above the pinned %s: a published version never changes, so pick a higher one", errUsage, next, current)
	}
	// go mod tidy downloads the new version from a proxy folder of its own,
	// so the go.sum lines and the SDK's own requirements come out as any
	// user's would.
	proxy, err := os.MkdirTemp("", "sdk-bump-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(proxy)
	if err := r.writeProxy(proxy, next); err != nil {
		return err
	}
	for _, p := range pins {
		dir := filepath.Join(r.root, p.dir)
		if err := setRequire(filepath.Join(dir, "go.mod"), next); err != nil {
			return err
		}
		if err := tidy(dir, proxy); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "sdk: %s: %s -> %s\n", p.dir, p.version, next)
	}
	// A version once downloaded is never fetched again: a module cache that
	// already holds another next (an earlier bump, undone) gives its hashes.
	if err := r.check(io.Discard); err != nil {
		return fmt.Errorf("after bumping to %s: %w\n(the module cache may hold an older %s: bump to a higher version)", next, err, next)
	}
	return nil
}

// tidy runs go mod tidy in dir with the SDK from the proxy folder.
func tidy(dir, proxy string) error {
	cmd := exec.Command("go", "mod", "tidy")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), proxyEnv("file://"+filepath.ToSlash(proxy))...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go mod tidy in %s: %v\n%s", dir, err, out)
	}
	return nil
}

// proxyEnv puts the SDK's proxy before the usual one. The SDK is not in
// the public checksum database, so go.sum alone vouches for it.
func proxyEnv(url string) []string {
	upstream := os.Getenv("GOPROXY")
	if upstream == "" {
		out, _ := exec.Command("go", "env", "GOPROXY").Output()
		upstream = strings.TrimSpace(string(out))
	}
	nosumdb := modulePath
	if v := os.Getenv("GONOSUMDB"); v != "" {
		nosumdb = v + "," + modulePath
	}
	return []string{"GOPROXY=" + url + "," + upstream, "GONOSUMDB=" + nosumdb}
}

func nextPatch(v string) (string, error) {
	parts := strings.SplitN(strings.TrimPrefix(semver.Canonical(v), "v"), ".", 3)
	if len(parts) != 3 || semver.Prerelease(v) != "" {
		return "", fmt.Errorf("the pinned version %q is not vMAJOR.MINOR.PATCH: name the next version (scripts/sdk.sh bump vX.Y.Z)", v)
	}
	patch, err := strconv.Atoi(parts[2])
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("v%s.%s.%d", parts[0], parts[1], patch+1), nil
}

// sumLines are the go.sum lines of the SDK at version v.
func sumLines(v string, s sums) []string {
	return []string{modulePath + " " + v + " " + s.zip, modulePath + " " + v + "/go.mod " + s.mod}
}

// readSums returns the go.sum lines about the SDK.
func readSums(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var lines []string
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, modulePath+" ") {
			lines = append(lines, line)
		}
	}
	return lines, nil
}

func setRequire(path, v string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	f, err := modfile.Parse(path, data, nil)
	if err != nil {
		return err
	}
	if err := f.AddRequire(modulePath, v); err != nil {
		return err
	}
	out, err := f.Format()
	if err != nil {
		return err
	}
	return os.WriteFile(path, out, 0o644)
}
