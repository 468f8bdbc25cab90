package watchdog

import (
	"context"
	"log/slog"
	"net/http"
)

// Issuers of OpenFaaS IAM tokens for jwt_auth.
const (
	gatewayIssuer = "http://gateway.openfaas:8080"
	localIssuer   = "http://127.0.0.1:8000" // jwt_auth_local, as faas-cli local-run sets
)

// Authenticator guards the function route when jwt_auth is on; package
// jwtauth has the OpenFaaS IAM one. It sits behind the max_inflight limiter,
// as in of-watchdog, so a full function answers 429 before checking tokens;
// /_/health and /_/ready are never guarded.
type Authenticator interface {
	// Start runs before the ports open (key discovery); an error stops the
	// function. ctx ends when Serve returns.
	Start(ctx context.Context) error
	// Wrap guards next.
	Wrap(next http.Handler) http.Handler
}

// WithAuth gives the constructor New calls when jwt_auth is on, for example
// jwtauth.New. Without it, jwt_auth=true is refused at start rather than
// served unprotected.
func WithAuth(newAuth func(Config, *slog.Logger) Authenticator) Option {
	return func(s *Server) error { s.newAuth = newAuth; return nil }
}
