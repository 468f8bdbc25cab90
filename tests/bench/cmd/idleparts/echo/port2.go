//go:build port2

package main

import "net/http"

// The second port the OpenFaaS contract wants for metrics, serving a
// trivial handler: what the port costs without the metrics library.
func init() {
	second = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
}
