// Package handler gives the golang-http-inproc template the request and
// response types of the classic golang-http template, so a function written
// for it ports by changing only its import line.
package handler

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/inproc-go/templates/watchdog"
)

// Request is one call, its body read in full.
type Request struct {
	Body        []byte      // the whole body, read before Handle is called
	Header      http.Header // the request's headers, X-Call-Id among them
	QueryString string      // the raw query, without "?", e.g. "id=7&full=1"
	Method      string      // e.g. "POST"
	Host        string      // the host the caller named
	Path        string      // the URL path the function was called with, e.g. "/" or "/orders/7"
	ctx         context.Context
}

// Context carries the call's deadline (exec_timeout), its cancellation when
// the caller goes away, and its call id for watchdog.Logger.
func (r *Request) Context() context.Context {
	if r.ctx == nil {
		return context.Background()
	}
	return r.ctx
}

// WithContext sets the request's context.
func (r *Request) WithContext(ctx context.Context) {
	if ctx == nil {
		panic("handler: nil context")
	}
	r.ctx = ctx
}

// Response is the function's answer. A zero StatusCode means 200.
type Response struct {
	Body       []byte      // the answer's body
	StatusCode int         // 0 is 200; outside 200 to 999, the call is answered 500
	Header     http.Header // added to the answer's headers
}

// FunctionHandler is implemented by a function with a Handle method.
type FunctionHandler interface {
	Handle(req Request) (Response, error) // answers one call
}

// HandlerFunc adapts a Handle function to http.Handler. A returned error
// answers 500 (with the response's headers and body, as golang-http does)
// and is logged with the call id.
type HandlerFunc func(Request) (Response, error)

// ServeHTTP reads the body (400 if it can't, 413 over max_body_bytes),
// calls f and writes its Response.
func (f HandlerFunc) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r)
	if err != nil {
		status := http.StatusBadRequest
		if watchdog.IsBodyTooLarge(err) {
			status = http.StatusRequestEntityTooLarge
		}
		http.Error(w, fmt.Sprintf("reading the request body: %v", err), status)
		return
	}
	req := Request{
		Body:        body,
		Header:      r.Header,
		QueryString: r.URL.RawQuery,
		Method:      r.Method,
		Host:        r.Host,
		Path:        r.URL.Path,
		ctx:         r.Context(),
	}
	res, err := f(req)

	for k, v := range res.Header {
		w.Header()[k] = v
	}
	status := res.StatusCode
	if status == 0 {
		status = http.StatusOK
	}
	if err != nil {
		watchdog.Logger(r.Context()).Error("function returned an error", slog.String("error", err.Error()))
		status = http.StatusInternalServerError
	} else if status < 200 || status > 999 {
		// net/http panics on a status that isn't three digits, and a 1xx
		// is not an answer: net/http would send 200 after it
		watchdog.Logger(r.Context()).Error("function returned an invalid status code", slog.Int("status", status))
		status = http.StatusInternalServerError
	}
	w.WriteHeader(status)
	_, _ = w.Write(res.Body)
}

// maxPresize bounds what a declared Content-Length reserves up front, so a
// caller can't make the function hold memory for a body it never sends.
const maxPresize = 1 << 20

// readBody reads the whole body. A declared Content-Length sizes the buffer
// once, where io.ReadAll grows it step by step from a small one
// (BenchmarkHandlerFuncBody compares the two). A body shorter than declared
// is an error, as it is from net/http.
func readBody(r *http.Request) ([]byte, error) {
	n := r.ContentLength
	if n <= 0 || n > maxPresize {
		return io.ReadAll(r.Body)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r.Body, body); err != nil {
		return nil, err
	}
	return body, nil
}
