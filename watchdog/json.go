package watchdog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"strconv"
	"strings"
)

// JSON adapts a typed function to an http.Handler: the request body is
// decoded into In, fn's Out is the answer, encoded with Content-Type
// application/json. fn gets the call's context, with its exec_timeout
// deadline and the logger Logger(ctx) finds.
//
// In and Out are usually the function's own types. To read the request's
// headers, query or path, make In a Request[T] (or *Request[T]): the body is
// decoded into its Body and the request is at hand. To choose the status
// or headers of the answer, make Out a *Response[T] (or Response[T]), e.g.
// NewResponse(http.StatusCreated, receipt) with a Location header.
//
// What callers get:
//   - 2xx with the answer: 200 unless a Response says otherwise, with no
//     body for 204 and 304;
//   - an empty body (none at all, or zero bytes) decodes to the zero In,
//     whatever the method, so GET, DELETE and HEAD calls need no body;
//     the function sees no difference between an empty body and {} for a
//     struct, so a field it needs is for it to check;
//   - 415 when a request with a body is not application/json or a +json
//     type (parameters such as charset are accepted);
//   - 400 naming what did not decode: the JSON Pointer of the value and
//     the JSON type wanted there, never a Go type; 413 for a body of no
//     declared length that runs over max_body_bytes;
//   - for an error from fn, the status of an *Error in its chain (see
//     StatusError), with its text and field list; else 500 with a generic
//     message, the error itself going to the log rather than to the caller;
//   - for a panic in fn, behind the watchdog, 500 in the same shape (the
//     stack goes to the log as for any handler).
//
// Every error it answers is an RFC 9457 problem (Content-Type
// application/problem+json): {"title", "status", "detail", "errors":
// [{"pointer", "detail"}]}, where errors lists the fields at fault, if any.
// docs/typed-json.md has the JSON Schema. The watchdog's own answers in
// front of it are plain text: 413 for a declared Content-Length over
// max_body_bytes, 429 over max_inflight, and 504 when fn has not answered
// by exec_timeout.
func JSON[In, Out any](fn func(ctx context.Context, in In) (Out, error), opts ...JSONOption) http.Handler {
	h := &jsonHandler[In, Out]{fn: fn, bind: bindFor[In](), answer: answerFor[Out]()}
	for _, o := range opts {
		o(&h.jsonOptions)
	}
	return h
}

// JSONOption changes how JSON decodes.
type JSONOption func(*jsonOptions)

type jsonOptions struct {
	strict bool
}

// DisallowUnknownFields answers 400 to a body with a field In lacks, rather
// than ignoring it: a typo in a field name is then the caller's error
// instead of a zero value.
func DisallowUnknownFields() JSONOption {
	return func(o *jsonOptions) { o.strict = true }
}

// Request is a decoded body with the request it came in: a JSON function
// whose In is a Request[T] (or *Request[T]) reads headers as
// req.Header.Get("Idempotency-Key"), the query as req.URL.Query() and the
// path as req.URL.Path or req.PathValue("id") (under an http.ServeMux
// pattern). Body is the decoded body; the embedded request's own body has
// been read by then.
type Request[T any] struct {
	*http.Request
	Body T
}

// bind points req at r and returns where the body decodes to.
func (req *Request[T]) bind(r *http.Request) any {
	req.Request = r
	return &req.Body
}

// Response is an answer with its status and headers: a JSON function whose
// Out is a *Response[T] (or Response[T]) chooses them, e.g. 201 with a
// Location, 202, or 204 with no body, and Cache-Control or ETag headers.
type Response[T any] struct {
	// Status is 200 to 399; 0 means 200. The body is not sent for 204 and
	// 304. Errors are not answered here but returned, as an *Error.
	Status int
	// Header is added to the answer's headers. Content-Type is
	// application/json unless Header sets a +json type of its own;
	// Content-Length is the encoded Body's.
	Header http.Header
	Body   T // the answer, encoded as JSON
}

// NewResponse returns a Response with status, body and an empty Header to
// set, as in
//
//	res := watchdog.NewResponse(http.StatusCreated, receipt)
//	res.Header.Set("Location", "/orders/"+receipt.ID)
//	return res, nil
func NewResponse[T any](status int, body T) *Response[T] {
	return &Response[T]{Status: status, Header: http.Header{}, Body: body}
}

// parts returns what the answer is made of; ok is false for a nil
// *Response.
func (res *Response[T]) parts() (status int, header http.Header, body any, ok bool) {
	if res == nil {
		return 0, nil, nil, false
	}
	return res.Status, res.Header, res.Body, true
}

type binder interface{ bind(*http.Request) any }

type answerer interface {
	parts() (int, http.Header, any, bool)
}

// bindFor returns how a call fills in an In and where its body decodes to,
// chosen once per handler: into In itself, into a Request[T]'s Body, or
// into a new *Request[T]'s Body.
func bindFor[In any]() func(*In, *http.Request) any {
	var zero In
	if _, ok := any(&zero).(binder); ok {
		return func(in *In, r *http.Request) any { return any(in).(binder).bind(r) }
	}
	if _, ok := any(zero).(binder); ok {
		t := reflect.TypeFor[In]().Elem()
		return func(in *In, r *http.Request) any {
			*in = reflect.New(t).Interface().(In)
			return any(*in).(binder).bind(r)
		}
	}
	return func(in *In, _ *http.Request) any { return in }
}

// answerFor returns how an Out splits into status, headers and body,
// chosen once per handler as bindFor is.
func answerFor[Out any]() func(Out) (int, http.Header, any, bool) {
	var zero Out
	if _, ok := any(&zero).(answerer); ok {
		return func(out Out) (int, http.Header, any, bool) { return any(&out).(answerer).parts() }
	}
	if _, ok := any(zero).(answerer); ok {
		return func(out Out) (int, http.Header, any, bool) { return any(out).(answerer).parts() }
	}
	return func(out Out) (int, http.Header, any, bool) { return http.StatusOK, nil, out, true }
}

type jsonHandler[In, Out any] struct {
	fn     func(context.Context, In) (Out, error)
	bind   func(*In, *http.Request) any
	answer func(Out) (int, http.Header, any, bool)
	jsonOptions
}

func (h *jsonHandler[In, Out]) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var in In
	if status, err := h.decode(r, h.bind(&in, r)); err != nil {
		writeProblem(w, status, err)
		return
	}
	out, err := h.call(r.Context(), in)
	if err != nil {
		answerError(w, r, err)
		return
	}
	status, header, body, ok := h.answer(out)
	switch {
	case !ok:
		Logger(r.Context()).Error("JSON handler: the function returned a nil *watchdog.Response and no error")
		writeProblem(w, http.StatusInternalServerError, errors.New("internal error: the function gave no answer"))
		return
	case status == 0:
		status = http.StatusOK
	case status < 200 || status > 399:
		Logger(r.Context()).Error(fmt.Sprintf("JSON handler: watchdog.Response status %d: want 200 to 399 (return an error for 4xx and 5xx)", status))
		writeProblem(w, http.StatusInternalServerError, errors.New("internal error"))
		return
	}
	var b []byte
	if status != http.StatusNoContent && status != http.StatusNotModified {
		if b, err = json.Marshal(body); err != nil {
			Logger(r.Context()).Error("JSON handler: encoding the answer: "+err.Error(), slog.String("type", fmt.Sprintf("%T", body)))
			writeProblem(w, http.StatusInternalServerError, errors.New("internal error: the answer could not be encoded"))
			return
		}
	}
	wh := w.Header()
	for k, v := range header {
		wh[k] = v
	}
	if b != nil {
		if !isJSONContentType(wh.Get("Content-Type")) {
			wh.Set("Content-Type", "application/json")
		}
		// Declared, as net/http would declare it only for an answer that
		// fits its buffer, and send a longer one chunked.
		wh["Content-Length"] = []string{strconv.Itoa(len(b))}
	}
	if status != http.StatusOK {
		w.WriteHeader(status)
	}
	if b != nil {
		_, _ = w.Write(b) // the whole answer in one Write
	}
}

// call runs fn. Behind the watchdog a panic goes on with its value wrapped
// in jsonPanic, so that withRecover, which logs and counts it, answers it
// as a problem; elsewhere it goes on as it came.
func (h *jsonHandler[In, Out]) call(ctx context.Context, in In) (Out, error) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler || callFrom(ctx) == nil {
				panic(v)
			}
			panic(jsonPanic{v})
		}
	}()
	return h.fn(ctx, in)
}

// jsonPanic is a panic from a JSON function, for withRecover.
type jsonPanic struct{ v any }

// decode reads the whole body and decodes it into target, or leaves target
// zero for an empty body. The body is read in full first so that a decode
// error can be located in it.
func (h *jsonHandler[In, Out]) decode(r *http.Request, target any) (int, error) {
	if r.ContentLength == 0 {
		return 0, nil
	}
	// A body of no declared length is read before its type is judged: an
	// empty one is no body.
	typeErr := checkJSONContentType(r.Header.Get("Content-Type"))
	if typeErr != nil && r.ContentLength > 0 {
		return http.StatusUnsupportedMediaType, typeErr
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		if IsBodyTooLarge(err) {
			return http.StatusRequestEntityTooLarge, fmt.Errorf("request body: %w (max_body_bytes)", err)
		}
		return http.StatusBadRequest, fmt.Errorf("request body: reading it: %w", err)
	}
	if len(body) == 0 {
		return 0, nil
	}
	if typeErr != nil {
		return http.StatusUnsupportedMediaType, typeErr
	}
	if !h.strict {
		err = json.Unmarshal(body, target)
	} else {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err = dec.Decode(target); err == nil {
			if _, next := dec.Token(); next != io.EOF {
				err = errMoreValues
			}
		}
	}
	if err != nil {
		return http.StatusBadRequest, decodeError(body, err)
	}
	return 0, nil
}

// checkJSONContentType accepts what isJSONContentType does, and says what
// is accepted otherwise.
func checkJSONContentType(v string) error {
	if isJSONContentType(v) {
		return nil
	}
	if v == "" {
		return errors.New("Content-Type missing: want application/json (or a +json type) for a request with a body")
	}
	return fmt.Errorf("Content-Type %q: want application/json (or a +json type)", v)
}

// answerError answers an error from the function: a *Error's status, text
// and fields, else 500 and a log line, the error being for the function's
// owner rather than its caller.
func answerError(w http.ResponseWriter, r *http.Request, err error) {
	ctx := r.Context()
	var se *Error
	switch {
	case errors.As(err, &se) && se.Status >= 400 && se.Status <= 599:
		writeProblem(w, se.Status, se)
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		// The caller left: no one reads an answer, and writing none is
		// how the watchdog tells it apart in the log and metrics.
	case ctx.Err() != nil && errors.Is(err, context.DeadlineExceeded):
		writeProblem(w, http.StatusGatewayTimeout, errors.New("the call's deadline passed"))
	default:
		if se != nil {
			err = fmt.Errorf("%w (watchdog.Error status %d is not 400 to 599)", err, se.Status)
		}
		Logger(ctx).Error("JSON handler: "+err.Error(), slog.Int("status", http.StatusInternalServerError))
		writeProblem(w, http.StatusInternalServerError, errors.New("internal error"))
	}
}

// isJSONContentType reports whether v is application/json or a +json type,
// such as application/merge-patch+json, with or without parameters. Parsed
// by hand: mime.ParseMediaType allocates on every call.
func isJSONContentType(v string) bool {
	mt, _, _ := strings.Cut(v, ";")
	mt = strings.TrimSpace(mt)
	typ, sub, ok := strings.Cut(mt, "/")
	return ok && typ != "" && (strings.EqualFold(mt, "application/json") || len(sub) > 5 && strings.EqualFold(sub[len(sub)-5:], "+json"))
}
