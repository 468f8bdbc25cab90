//go:build jwt

package main

import (
	"github.com/inproc-go/templates/watchdog"
	"github.com/inproc-go/templates/watchdog/jwtauth"
)

// jwt_auth (OpenFaaS IAM function authentication); the "jwt" build tag
// selects this file, adding the JWT library and Go's HTTP client to the
// binary (docs/jwt.md has the size).
func init() { options = append(options, watchdog.WithAuth(jwtauth.New)) }
