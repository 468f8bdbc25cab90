// Package jwtauth is OpenFaaS IAM function authentication (jwt_auth) for
// the in-process watchdog: every call on the function route needs a token
// from the gateway's issuer whose "function" claim grants
// <namespace>:<name>; /_/health and /_/ready stay open.
//
// It is a separate package because it links Go's HTTP client and a JWT
// library, about 1 MB that functions without jwt_auth need not carry. The
// templates wire it in when built with the "jwt" build tag:
//
//	watchdog.Main(h, watchdog.WithAuth(jwtauth.New))
package jwtauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"

	"github.com/inproc-go/templates/watchdog"
)

const (
	authRealm = `Bearer realm=IAM function invoke`
	// internalHeader marks the watchdog's own answers, as the limiter's.
	internalHeader = "X-OpenFaaS-Internal"
	internalSource = "faas-middleware"

	// namespaceFile is the fallback when OPENFAAS_NAMESPACE is unset (CE).
	namespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

	// Unlike upstream, keys are refreshed, so a rotation needs no restart:
	// periodically, and when a token names an unknown kid, at most this often.
	jwksRefreshInterval   = 10 * time.Minute
	jwksUnknownKIDRefresh = 10 * time.Second
	tokenLeeway           = time.Second
	discoveryTimeout      = 10 * time.Second
)

// jwtAuth verifies tokens against the issuer's published keys. Its fields
// are set by Start, before the server accepts calls, and only read after.
type jwtAuth struct {
	cfg    watchdog.Config
	logger *slog.Logger
	client *http.Client

	issuer   string
	resource string // "<namespace>:<name>"
	keys     keyfunc.Keyfunc
}

// New is the watchdog.WithAuth constructor for jwt_auth.
func New(cfg watchdog.Config, logger *slog.Logger) watchdog.Authenticator {
	return &jwtAuth{cfg: cfg, logger: logger, client: &http.Client{Timeout: discoveryTimeout}}
}

// Start runs OpenID discovery at the issuer, then loads its key set. Keys
// refresh in the background until ctx is done. An error says what was
// tried, so a start-up failure can be read from one log line.
func (a *jwtAuth) Start(ctx context.Context) error {
	cfg, logger, client := a.cfg, a.logger, a.client
	if cfg.FunctionName == "" {
		return errors.New("jwt_auth: OPENFAAS_NAME is not set: it names the function tokens must grant (OpenFaaS Pro sets it; set it under environment: otherwise)")
	}
	namespace := cfg.FunctionNamespace
	if namespace == "" {
		b, err := os.ReadFile(namespaceFile)
		if err != nil {
			return fmt.Errorf("jwt_auth: OPENFAAS_NAMESPACE is not set and %s can't be read: %w", namespaceFile, err)
		}
		namespace = strings.TrimSpace(string(b))
	}

	discovery := strings.TrimSuffix(cfg.JWTIssuer, "/") + "/.well-known/openid-configuration"
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := getJSON(ctx, client, discovery, &doc); err != nil {
		return fmt.Errorf("jwt_auth: OpenID discovery: %w", err)
	}
	if doc.Issuer == "" || doc.JWKSURI == "" {
		return fmt.Errorf("jwt_auth: OpenID discovery at %s: want issuer and jwks_uri, got %+v", discovery, doc)
	}

	noError := false
	keys, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{doc.JWKSURI}, keyfunc.Override{
		Client:                    client,
		HTTPTimeout:               discoveryTimeout,
		NoErrorReturnFirstHTTPReq: &noError, // a key set that can't be read stops the start
		RefreshInterval:           jwksRefreshInterval,
		RefreshUnknownKID:         rate.NewLimiter(rate.Every(jwksUnknownKIDRefresh), 1),
		// The limiter refuses at once when the next refresh is further off
		// than this, so a call is held at most 1s. (1ms was too tight: under
		// load the deadline passed before the limiter looked, refusing
		// refreshes it had tokens for.)
		RateLimitWaitMax: time.Second,
		RefreshErrorHandlerFunc: func(u string) func(context.Context, error) {
			return func(ctx context.Context, err error) {
				logger.Error("jwt_auth: refreshing the key set failed; keeping the keys we have", slog.String("jwks_uri", u), slog.String("error", err.Error()))
			}
		},
	})
	if err != nil {
		return fmt.Errorf("jwt_auth: key set at %s (from %s): %w", doc.JWKSURI, discovery, err)
	}
	a.issuer, a.resource, a.keys = doc.Issuer, namespace+":"+cfg.FunctionName, keys
	logger.Info("jwt_auth: on", slog.String("issuer", a.issuer), slog.String("function", a.resource))
	return nil
}

func getJSON(ctx context.Context, client *http.Client, url string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, discoveryTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "openfaas-watchdog")
	res, err := client.Do(req)
	if err != nil {
		return err // names the method and URL already
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, res.Status)
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(v); err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return nil
}

// functionClaims are the token's claims, with OpenFaaS' "function" grant.
type functionClaims struct {
	jwt.RegisteredClaims
	Function struct {
		Permissions []string `json:"permissions"`
		Audience    []string `json:"audience"`
	} `json:"function"`
}

// Wrap guards next: 401 without a valid token, 403 without the grant.
func (a *jwtAuth) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || token == "" {
			a.deny(w, r, http.StatusUnauthorized, "Bearer must be present in Authorization header")
			return
		}
		var claims functionClaims
		_, err := jwt.ParseWithClaims(token, &claims, a.keyFor,
			jwt.WithIssuer(a.issuer),
			jwt.WithAudience(a.issuer),
			jwt.WithLeeway(tokenLeeway),
			jwt.WithExpirationRequired(),
			jwt.WithValidMethods([]string{"RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "EdDSA"}))
		if err != nil {
			a.deny(w, r, http.StatusUnauthorized, "failed to parse JWT token: "+err.Error())
			return
		}
		if !a.granted(claims) {
			a.deny(w, r, http.StatusForbidden, "insufficient permissions")
			return
		}
		r.Header.Set("X-Auth-Seconds", strconv.FormatFloat(time.Since(start).Seconds(), 'f', 6, 64))
		next.ServeHTTP(w, r)
	})
}

// keyFor picks the signing key by the token's kid, which must be present.
func (a *jwtAuth) keyFor(t *jwt.Token) (any, error) {
	if kid, ok := t.Header["kid"].(string); !ok || kid == "" {
		return nil, fmt.Errorf("invalid kid: %v", t.Header["kid"])
	}
	return a.keys.Keyfunc(t)
}

// granted: the permissions must match this function, and the audience, if
// any is given, too.
func (a *jwtAuth) granted(c functionClaims) bool {
	return matchAny(c.Function.Permissions, a.resource) &&
		(len(c.Function.Audience) == 0 || matchAny(c.Function.Audience, a.resource))
}

// matchAny reports whether a pattern, where "*" stands for any run of
// characters, matches resource.
func matchAny(patterns []string, resource string) bool {
	for _, p := range patterns {
		expr := "^" + strings.ReplaceAll(regexp.QuoteMeta(p), `\*`, ".*") + "$"
		if ok, _ := regexp.MatchString(expr, resource); ok {
			return true
		}
	}
	return false
}

func (a *jwtAuth) deny(w http.ResponseWriter, r *http.Request, status int, reason string) {
	if a.cfg.JWTAuthDebug {
		watchdog.Logger(r.Context()).Info("jwt_auth: denied", slog.Int("status", status), slog.String("reason", reason))
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", authRealm)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set(internalHeader, internalSource)
	w.WriteHeader(status)
	_, _ = io.WriteString(w, reason+"\n")
}
