//go:build jwt

package main

import (
	"github.com/inproc-go/templates/watchdog"
	"github.com/inproc-go/templates/watchdog/jwtauth"
)

// jwt_auth (OpenFaaS IAM function authentication); the "jwt" build tag
// selects this file, adding about 1 MB to the binary.
func init() { options = append(options, watchdog.WithAuth(jwtauth.New)) }
