package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// gateway serves the OpenFaaS gateway's routes for the stack's functions:
// /function/<name>[/<path>], /system/functions and /healthz.
type gateway struct {
	services map[string]*service
	order    []string // function names, sorted
	proxy    *httputil.ReverseProxy
}

func newGateway(services []*service) *gateway {
	g := &gateway{services: map[string]*service{}}
	for _, s := range services {
		g.services[s.fn.Name] = s
		g.order = append(g.order, s.fn.Name)
	}
	g.proxy = &httputil.ReverseProxy{
		Rewrite:        rewrite,
		FlushInterval:  -1, // each write of the function reaches the caller at once (SSE)
		ModifyResponse: modifyResponse,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			name, _ := r.Context().Value(functionName{}).(string)
			internalError(w, http.StatusBadGateway, fmt.Sprintf("Can't reach service for: %s.", name))
		},
		Transport: &http.Transport{
			Proxy:               nil, // loopback only: no HTTP_PROXY
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     90 * time.Second,
		},
	}
	return g
}

// functionName is the context key of the called function's name, for the
// proxy's error answer.
type functionName struct{}

func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case strings.HasPrefix(r.URL.Path, "/function/"):
		g.invoke(w, r)
	case r.URL.Path == "/system/functions":
		g.list(w, r)
	case r.URL.Path == "/healthz":
		w.Write([]byte("OK"))
	default:
		http.NotFound(w, r)
	}
}

// allowedMethods are the methods faas-provider's proxy passes on.
var allowedMethods = map[string]bool{
	http.MethodGet: true, http.MethodPost: true, http.MethodPut: true, http.MethodPatch: true,
	http.MethodDelete: true, http.MethodOptions: true, http.MethodHead: true,
}

// invoke passes the call to the function's current process as the gateway
// and faas-provider's proxy do: the function sees /<path> and the query,
// with X-Call-Id (kept when sent), X-Start-Time, X-Forwarded-For and
// X-Forwarded-Host; the answer streams back as it is written.
func (g *gateway) invoke(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.EscapedPath(), "/function/")
	name, sub, _ := strings.Cut(rest, "/")
	if ns, ok := strings.CutSuffix(name, "."+namespace); ok {
		name = ns
	}
	if name == "" {
		internalError(w, http.StatusBadRequest, "Provide function name in the request path")
		return
	}
	s, ok := g.services[name]
	if !ok {
		// The gateway's answer for a function the provider does not know.
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, "error finding function %s: not found in this stack (it serves: %s)", name, strings.Join(g.order, ", "))
		return
	}
	if !allowedMethods[r.Method] {
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	in := s.current.Load()
	if in == nil {
		// faas-provider's answer when no replica is ready.
		internalError(w, http.StatusServiceUnavailable, fmt.Sprintf("No endpoints available for: %s.", name))
		return
	}
	s.invocations.Add(1)

	out := r.Clone(context.WithValue(r.Context(), functionName{}, name))
	out.URL.Scheme, out.URL.Host = in.url.Scheme, in.url.Host
	out.URL.RawPath = "/" + sub
	var err error
	if out.URL.Path, err = url.PathUnescape(out.URL.RawPath); err != nil {
		internalError(w, http.StatusBadRequest, fmt.Sprintf("path %q: %v", r.URL.EscapedPath(), err))
		return
	}
	out.Host, out.RequestURI = "", ""
	h := out.Header
	callID := h.Get("X-Call-Id")
	if callID == "" {
		callID = uuid.NewString()
		h.Set("X-Call-Id", callID)
	}
	start := strconv.FormatInt(time.Now().UTC().UnixNano(), 10)
	h.Add("X-Start-Time", start)
	if h.Get("X-Forwarded-For") == "" {
		if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
			h.Set("X-Forwarded-For", host)
		}
	}
	if h.Get("X-Forwarded-Host") == "" && r.Host != "" {
		h.Set("X-Forwarded-Host", r.Host)
	}
	w.Header().Set("X-Call-Id", callID)
	w.Header().Set("X-Start-Time", start)
	g.proxy.ServeHTTP(w, out)
}

// rewrite keeps the X-Forwarded-* headers invoke set, which ReverseProxy
// removes before Rewrite.
func rewrite(pr *httputil.ProxyRequest) {
	for _, k := range []string{"X-Forwarded-For", "X-Forwarded-Host"} {
		if v := pr.In.Header.Values(k); len(v) > 0 {
			pr.Out.Header[k] = v
		}
	}
}

// modifyResponse sets Content-Type as faas-provider's proxy does: the
// function's, else the request's, else text/plain.
func modifyResponse(res *http.Response) error {
	if res.Header.Get("Content-Type") == "" {
		ct := res.Request.Header.Get("Content-Type")
		if ct == "" {
			ct = "text/plain"
		}
		res.Header.Set("Content-Type", ct)
	}
	res.Header.Del("X-Call-Id") // the gateway's value is set already
	return nil
}

// internalError answers as the platform's own components do, marked with
// X-OpenFaaS-Internal so callers tell it from the function's answer.
func internalError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("X-OpenFaaS-Internal", "proxy")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	fmt.Fprintln(w, msg)
}

// functionStatus is an element of /system/functions, in the JSON shape of
// faas-provider's types.FunctionStatus that faas-cli list reads.
type functionStatus struct {
	Name              string            `json:"name"`
	Image             string            `json:"image"`
	Namespace         string            `json:"namespace,omitempty"`
	Labels            map[string]string `json:"labels,omitempty"`
	Annotations       map[string]string `json:"annotations,omitempty"`
	InvocationCount   float64           `json:"invocationCount,omitempty"`
	Replicas          uint64            `json:"replicas,omitempty"`
	AvailableReplicas uint64            `json:"availableReplicas,omitempty"`
	CreatedAt         time.Time         `json:"createdAt,omitempty"`
}

// list answers GET /system/functions: every function of the stack that
// runs here, with one replica once a build serves it.
func (g *gateway) list(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	if ns := r.URL.Query().Get("namespace"); ns != "" && ns != namespace {
		http.Error(w, fmt.Sprintf("namespace %q: this local stack has only %q", ns, namespace), http.StatusBadRequest)
		return
	}
	list := make([]functionStatus, 0, len(g.order))
	for _, name := range g.order {
		s := g.services[name]
		st := functionStatus{Name: name, Image: s.fn.Image, Namespace: namespace,
			Labels: s.fn.Labels, Annotations: s.fn.Annotations,
			InvocationCount: float64(s.invocations.Load())}
		if in := s.current.Load(); in != nil {
			st.Replicas, st.AvailableReplicas, st.CreatedAt = 1, 1, in.started
		}
		list = append(list, st)
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(list)
}
