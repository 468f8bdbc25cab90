package main

import (
	"context"
	"io/fs"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// settle is how long a function's folder must be quiet after a change
// before the rebuild: an editor's save is often several writes and renames.
const settle = 150 * time.Millisecond

// watch rebuilds a function whenever a .go file, go.mod or go.sum of its
// folder changes, until ctx is done. It waits on the OS's file
// notifications (fsnotify): nothing runs while nothing changes.
func watch(ctx context.Context, services []*service, onError func(error)) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	owner := map[string]*service{} // watched folder -> its function
	add := func(root string, s *service) {
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return nil
			}
			if p != root && skipDir(d.Name()) {
				return filepath.SkipDir
			}
			if err := w.Add(p); err != nil {
				onError(err)
				return nil
			}
			owner[p] = s
			return nil
		})
	}
	for _, s := range services {
		add(s.fn.Handler, s)
	}
	go func() {
		<-ctx.Done()
		w.Close()
	}()
	timers := map[*service]*time.Timer{}
	for {
		select {
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			s := owner[filepath.Dir(ev.Name)]
			if s == nil || ev.Op == fsnotify.Chmod {
				continue
			}
			if ev.Op.Has(fsnotify.Create) && !skipDir(filepath.Base(ev.Name)) {
				add(ev.Name, s) // a new folder: watched too (a no-op for a file)
			}
			if !source(ev.Name) {
				continue
			}
			if t := timers[s]; t != nil {
				t.Reset(settle)
				continue
			}
			timers[s] = time.AfterFunc(settle, func() { s.rebuild(ctx) })
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			onError(err)
		}
	}
}

// source reports whether a change to the file named changes the build.
func source(name string) bool {
	base := filepath.Base(name)
	return strings.HasSuffix(base, ".go") || base == "go.mod" || base == "go.sum"
}

// skipDir names folders whose changes never change the function's build
// as the stack runs it, or that the build itself writes.
func skipDir(name string) bool {
	return strings.HasPrefix(name, ".") || name == "build" || name == "node_modules"
}
