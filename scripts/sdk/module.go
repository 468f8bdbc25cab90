package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/dirhash"
	"golang.org/x/mod/zip"
)

const (
	modulePath = "github.com/inproc-go/templates/watchdog"
	moduleDir  = "watchdog"
)

// repo is a checkout of this repository.
type repo struct{ root string }

// openRepo finds the repository root: dir, or the first folder above the
// working directory that holds watchdog/go.mod and template/.
func openRepo(dir string) (*repo, error) {
	if dir != "" {
		if !isRepo(dir) {
			return nil, fmt.Errorf("-repo %q: not this repository (want a folder with %s/go.mod and template/)", dir, moduleDir)
		}
		return &repo{root: dir}, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	for d := wd; ; d = filepath.Dir(d) {
		if isRepo(d) {
			return &repo{root: d}, nil
		}
		if filepath.Dir(d) == d {
			return nil, fmt.Errorf("no repository above %s (want a folder with %s/go.mod and template/); pass -repo DIR", wd, moduleDir)
		}
	}
}

func isRepo(dir string) bool {
	_, err1 := os.Stat(filepath.Join(dir, moduleDir, "go.mod"))
	st, err2 := os.Stat(filepath.Join(dir, "template"))
	return err1 == nil && err2 == nil && st.IsDir()
}

// sums are the two go.sum hashes of the SDK at one version.
type sums struct{ zip, mod string }

// moduleFile is a file of watchdog/ for zip.Create.
type moduleFile struct{ root, rel string }

func (f moduleFile) Path() string                 { return f.rel }
func (f moduleFile) Lstat() (os.FileInfo, error)  { return os.Lstat(filepath.Join(f.root, f.rel)) }
func (f moduleFile) Open() (io.ReadCloser, error) { return os.Open(filepath.Join(f.root, f.rel)) }

// files lists watchdog/ as a commit would hold it: in a git checkout the
// tracked files and the untracked ones git does not ignore (so test
// binaries and editor files never change the hash), elsewhere every file.
func (r *repo) files() ([]zip.File, error) {
	dir := filepath.Join(r.root, moduleDir)
	var rels []string
	out, err := exec.Command("git", "-C", dir, "ls-files", "-z", "--cached", "--others", "--exclude-standard", ".").Output()
	if err == nil {
		for _, rel := range strings.Split(string(out), "\x00") {
			// A file deleted but not yet staged is still listed as cached.
			if _, statErr := os.Lstat(filepath.Join(dir, rel)); rel != "" && statErr == nil {
				rels = append(rels, filepath.ToSlash(rel))
			}
		}
	} else {
		err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, err := filepath.Rel(dir, path)
			rels = append(rels, filepath.ToSlash(rel))
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	if len(rels) == 0 {
		return nil, fmt.Errorf("%s/ has no files", moduleDir)
	}
	files := make([]zip.File, len(rels))
	for i, rel := range rels {
		files[i] = moduleFile{root: dir, rel: rel}
	}
	return files, nil
}

// zip writes the module zip of watchdog/ as version v.
func (r *repo) zip(w io.Writer, v string) error {
	files, err := r.files()
	if err != nil {
		return err
	}
	if err := zip.Create(w, module.Version{Path: modulePath, Version: v}, files); err != nil {
		return fmt.Errorf("zipping %s/ as %s@%s: %w", moduleDir, modulePath, v, err)
	}
	return nil
}

// goMod returns watchdog/go.mod.
func (r *repo) goMod() ([]byte, error) {
	return os.ReadFile(filepath.Join(r.root, moduleDir, "go.mod"))
}

// sums computes what go.sum must say of watchdog/ as version v, as the go
// command computes it from a downloaded module.
func (r *repo) sums(v string) (sums, error) {
	tmp, err := os.CreateTemp("", "sdk-*.zip")
	if err != nil {
		return sums{}, err
	}
	defer os.Remove(tmp.Name())
	err = r.zip(tmp, v)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return sums{}, err
	}
	zipHash, err := dirhash.HashZip(tmp.Name(), dirhash.Hash1)
	if err != nil {
		return sums{}, err
	}
	mod, err := r.goMod()
	if err != nil {
		return sums{}, err
	}
	modHash, err := dirhash.Hash1([]string{"go.mod"}, func(string) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(mod)), nil
	})
	if err != nil {
		return sums{}, err
	}
	return sums{zip: zipHash, mod: modHash}, nil
}

// commitTime is when watchdog/ last changed in git, for the .info file; the
// current time outside a checkout.
func (r *repo) commitTime() time.Time {
	out, err := exec.Command("git", "-C", r.root, "log", "-1", "--format=%cI", "--", moduleDir).Output()
	if err == nil {
		if t, err := time.Parse(time.RFC3339, strings.TrimSpace(string(out))); err == nil {
			return t.UTC()
		}
	}
	return time.Now().UTC().Truncate(time.Second)
}

var errNoPins = errors.New("no go.mod in the repository requires " + modulePath)
