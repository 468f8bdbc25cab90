//go:build !jwt

package main

import "github.com/inproc-go/templates/watchdog"

// options is empty in a default build. Built with the "jwt" tag
// (GOFLAGS=-tags=jwt), options_jwt.go adds jwt_auth support instead.
var options []watchdog.Option
