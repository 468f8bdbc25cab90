// Package greet is a package of the function's own module, imported as
// handler/function/internal/greet.
package greet

import "strings"

// Greeting greets name, or "stranger" when name is blank.
func Greeting(name string) string {
	name = strings.TrimSpace(name)
	if name == "" {
		name = "stranger"
	}
	return "Hello, " + name + " (from handler/function/internal/greet)"
}
