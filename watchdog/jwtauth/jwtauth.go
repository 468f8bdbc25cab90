// Package jwtauth is OpenFaaS IAM function authentication (jwt_auth) for
// the in-process watchdog: every call on the function route needs a token
// from the gateway's issuer whose "function" claim grants
// <namespace>:<name>; /_/health and /_/ready stay open.
//
// It is a separate package because it links Go's HTTP client and a JWT
// library, which functions without jwt_auth need not carry. The
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
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"

	"github.com/inproc-go/templates/watchdog"
	k8snamespace "github.com/inproc-go/templates/watchdog/internal/namespace"
)

const (
	authRealm = `Bearer realm=IAM function invoke`
	// internalHeader marks the watchdog's own answers, as the limiter's.
	internalHeader = "X-OpenFaaS-Internal"
	internalSource = "faas-middleware"

	// Unlike upstream, keys are refreshed, so a rotation needs no restart:
	// periodically, and when a token names an unknown kid, at most this often.
	jwksRefreshInterval   = 10 * time.Minute
	jwksUnknownKIDRefresh = 10 * time.Second
	tokenLeeway           = time.Second
	discoveryTimeout      = 10 * time.Second

	// userAgent is what of-watchdog sends to the issuer, on every request.
	userAgent = "openfaas-watchdog"
)

// jwtAuth verifies tokens against the issuer's published keys. New sets
// its configuration, Start the rest, before the server accepts calls; after
// that they are only read.
type jwtAuth struct {
	cfg    watchdog.Config
	logger *slog.Logger
	client *http.Client

	issuer   string
	resource string          // "<namespace>:<name>"
	keys     keyfunc.Keyfunc // reads the keys held, never the issuer

	// An unknown kid asks for a refresh in the background, never held by
	// the call: refresher reads the same key set but refreshes it from the
	// issuer on a miss; refreshLimit spaces refreshes, and pending keeps to
	// one at a time.
	ctx          context.Context // Start's: ends when Serve returns
	refresher    jwkset.Storage
	refreshLimit *rate.Limiter
	pending      atomic.Bool
}

// New is the watchdog.WithAuth constructor for jwt_auth.
func New(cfg watchdog.Config, logger *slog.Logger) watchdog.Authenticator {
	client := &http.Client{Timeout: discoveryTimeout, Transport: userAgentTransport{http.DefaultTransport}}
	return &jwtAuth{cfg: cfg, logger: logger, client: client}
}

// userAgentTransport names the watchdog on discovery and key-set requests
// alike; the key-set library's own requests would say Go-http-client.
type userAgentTransport struct{ base http.RoundTripper }

func (t userAgentTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context()) // a RoundTripper must not change the caller's request
	r.Header.Set("User-Agent", userAgent)
	return t.base.RoundTrip(r)
}

// Start runs OpenID discovery at the issuer, then loads its key set. Keys
// refresh in the background until ctx is done. An error says what was
// tried, so a start-up failure can be read from one log line.
func (a *jwtAuth) Start(ctx context.Context) error {
	cfg, logger, client := a.cfg, a.logger, a.client
	if cfg.FunctionName == "" {
		return errors.New("jwt_auth: OPENFAAS_NAME is not set: it names the function tokens must grant (OpenFaaS Pro sets it; set it under environment: otherwise)")
	}
	namespace, err := k8snamespace.Of(cfg.FunctionNamespace, k8snamespace.File)
	if err != nil {
		return fmt.Errorf("jwt_auth: %w", err)
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

	// The first fetch is made here: a key set that can't be read stops the
	// start.
	remote, err := jwkset.NewStorageFromHTTP(doc.JWKSURI, jwkset.HTTPClientStorageOptions{
		Client:          client,
		Ctx:             ctx,
		HTTPTimeout:     discoveryTimeout,
		RefreshInterval: jwksRefreshInterval,
		RefreshErrorHandler: func(ctx context.Context, err error) {
			logger.Error("jwt_auth: refreshing the key set failed; keeping the keys we have", slog.String("jwks_uri", doc.JWKSURI), slog.String("error", err.Error()))
		},
	})
	if err != nil {
		return fmt.Errorf("jwt_auth: key set at %s (from %s): %w", doc.JWKSURI, discovery, err)
	}
	urls := map[string]jwkset.Storage{doc.JWKSURI: remote}
	held, err := jwkset.NewHTTPClient(jwkset.HTTPClientOptions{HTTPURLs: urls})
	if err == nil {
		// Refreshes at once on a miss: refreshLimit has already said when.
		a.refresher, err = jwkset.NewHTTPClient(jwkset.HTTPClientOptions{HTTPURLs: urls, RefreshUnknownKID: rate.NewLimiter(rate.Inf, 1)})
	}
	if err == nil {
		a.keys, err = keyfunc.New(keyfunc.Options{Ctx: ctx, Storage: held})
	}
	if err != nil {
		return fmt.Errorf("jwt_auth: key set at %s (from %s): %w", doc.JWKSURI, discovery, err)
	}
	a.ctx, a.refreshLimit = ctx, rate.NewLimiter(rate.Every(jwksUnknownKIDRefresh), 1)
	a.issuer, a.resource = doc.Issuer, namespace+":"+cfg.FunctionName
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
// A kid not in the key set is refused at once, and the key set refreshed in
// the background, so the caller never waits on the issuer; a call after the
// refresh finds a newly published key.
func (a *jwtAuth) keyFor(t *jwt.Token) (any, error) {
	kid, ok := t.Header["kid"].(string)
	if !ok || kid == "" {
		return nil, fmt.Errorf("invalid kid: %v", t.Header["kid"])
	}
	key, err := a.keys.Keyfunc(t)
	if errors.Is(err, jwkset.ErrKeyNotFound) {
		a.refreshFor(kid)
	}
	return key, err
}

// refreshFor fetches the key set again, in the background, for a kid it
// lacked: at once if the last refresh was more than jwksUnknownKIDRefresh
// ago, else when that much time has passed. One refresh waits or runs at a
// time; kids seen meanwhile are served by it.
func (a *jwtAuth) refreshFor(kid string) {
	if !a.pending.CompareAndSwap(false, true) {
		return
	}
	delay := a.refreshLimit.Reserve().Delay()
	go func() {
		defer a.pending.Store(false)
		if delay > 0 {
			timer := time.NewTimer(delay)
			defer timer.Stop()
			select {
			case <-timer.C:
			case <-a.ctx.Done():
				return
			}
		}
		ctx, cancel := context.WithTimeout(a.ctx, discoveryTimeout)
		defer cancel()
		// A miss makes refresher fetch the set; its errors are logged by
		// the storage's error handler, and the kid may simply not exist.
		_, _ = a.refresher.KeyRead(ctx, kid)
	}()
}

// granted: the permissions must match this function, and the audience, if
// any is given, too.
func (a *jwtAuth) granted(c functionClaims) bool {
	return matchAny(c.Function.Permissions, a.resource) &&
		(len(c.Function.Audience) == 0 || matchAny(c.Function.Audience, a.resource))
}

// matchAny reports whether a pattern, where "*" stands for any run of
// characters, matches resource. Matched directly rather than through a
// regexp, which would be compiled per pattern per call: the patterns come
// with each token.
func matchAny(patterns []string, resource string) bool {
	for _, p := range patterns {
		if wildcardMatch(p, resource) {
			return true
		}
	}
	return false
}

// wildcardMatch matches s against pattern, "*" being any run of characters
// and everything else literal. On a mismatch after a "*", that "*" takes
// one more character and matching resumes: no backtracking beyond the last
// "*", since an earlier one could only absorb what the last one can.
func wildcardMatch(pattern, s string) bool {
	p, i := 0, 0
	star, resume := -1, 0 // the last "*" seen, and where s resumes after it
	for i < len(s) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, resume = p, i
			p++
		case p < len(pattern) && pattern[p] == s[i]:
			p++
			i++
		case star >= 0:
			resume++
			p, i = star+1, resume
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
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
