// Package callshape defines the two kinds of call the benchmarks make
// (tests/bench with wrk, tests/bench/cmd/callcost with its own client), so
// both send the same requests.
//
// Every call is a POST with a small body, over keep-alive connections. The
// plain call carries only what HTTP/1.1 needs (Host, Content-Length). The
// gateway call carries what a function receives behind the OpenFaaS gateway
// and provider: both forward the caller's headers, the gateway adds X-Call-Id
// (when absent) and X-Start-Time, gateway and provider add X-Forwarded-For
// and X-Forwarded-Host (when absent), the gateway's transport sets its
// User-Agent (when the caller sent none), and Go's http.Transport, which both
// proxy with, asks for gzip. The Content-Type is the caller's, forwarded.
//
// The benchmarks' handlers answer with the request's Content-Type when it
// has one, as an echo should: so a gateway call also reaches a handler that
// sets Content-Type, as most real handlers do, and a plain call one that
// leaves it to net/http.
package callshape

import (
	"fmt"
	"slices"
	"strings"
)

// A Shape is a kind of call: the request headers sent beyond Host and
// Content-Length, in the order Go's http.Transport writes them.
type Shape struct {
	Name   string // "plain" or "gateway": the word flags and figure keys use
	Label  string // what reports call it
	Header [][2]string
}

// ContentType is the gateway call's Content-Type, which the handlers copy to
// the answer.
const ContentType = "text/plain"

var (
	Plain   = Shape{Name: "plain", Label: "plain calls"}
	Gateway = Shape{Name: "gateway", Label: "calls as the gateway sends them", Header: [][2]string{
		{"User-Agent", "openfaas-ce-gateway/0.27.12"},
		{"Content-Type", ContentType},
		{"X-Call-Id", "4e0c7f1a-2b3d-4c5e-8f60-718293a4b5c6"},
		{"X-Forwarded-For", "10.62.0.1:52368"},
		{"X-Forwarded-Host", "127.0.0.1:8080"},
		{"X-Start-Time", "1765104000123456789"},
		{"Accept-Encoding", "gzip"},
	}}
	// All is every shape, plain first.
	All = []Shape{Plain, Gateway}
)

// Parse returns the shapes a comma-separated list of names picks, in the
// list's order, each once.
func Parse(list string) ([]Shape, error) {
	var out []Shape
	seen := map[string]bool{}
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		i := slices.IndexFunc(All, func(s Shape) bool { return s.Name == name })
		if i < 0 || seen[name] {
			return nil, fmt.Errorf("call shapes %q: want plain, gateway or both, comma-separated, each once", list)
		}
		seen[name] = true
		out = append(out, All[i])
	}
	return out, nil
}

// Get returns the value of the header named key, or "".
func (s Shape) Get(key string) string {
	for _, kv := range s.Header {
		if kv[0] == key {
			return kv[1]
		}
	}
	return ""
}
