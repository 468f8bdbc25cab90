//go:build detail_regexp

package main

import "regexp"

// A piece of the metrics library's package init (idleparts -detail): the
// regexp it compiles for metric names.
var nameRegexp *regexp.Regexp

func init() {
	parts = append(parts, func() { nameRegexp = regexp.MustCompile("^[a-zA-Z_:.][a-zA-Z0-9_:.]*$") })
}
