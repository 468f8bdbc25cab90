package watchdog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
)

// JSON adapts a typed function to an http.Handler: the request body is
// decoded into In, fn's Out is the answer, encoded with Content-Type
// application/json. fn gets the call's context, with its exec_timeout
// deadline and the logger Logger(ctx) finds.
//
// What callers get:
//   - 415 when Content-Type isn't application/json or a +json type
//     (parameters such as charset are accepted);
//   - 400 naming what didn't decode, 413 above max_body_bytes;
//   - for an error from fn, the status of a *Error in its chain (see
//     StatusError) with the error's text, else 500 with a generic message,
//     the error itself going to the log rather than to the caller;
//   - errors as {"error": "..."}.
func JSON[In, Out any](fn func(ctx context.Context, in In) (Out, error), opts ...JSONOption) http.Handler {
	h := &jsonHandler[In, Out]{fn: fn}
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

// Error is an error with the HTTP status a JSON handler answers it with.
// Its text is sent to the caller, so keep it fit for them.
type Error struct {
	Status int   // 400 to 599
	Err    error // the text the caller gets
}

// StatusError wraps err to be answered with status, e.g.
// StatusError(http.StatusNotFound, fmt.Errorf("order %q: no such order", id)).
func StatusError(status int, err error) error { return &Error{Status: status, Err: err} }

func (e *Error) Error() string {
	if e.Err == nil {
		return http.StatusText(e.Status)
	}
	return e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

type jsonHandler[In, Out any] struct {
	fn func(context.Context, In) (Out, error)
	jsonOptions
}

func (h *jsonHandler[In, Out]) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := checkJSONContentType(r.Header.Get("Content-Type")); err != nil {
		writeJSONError(w, http.StatusUnsupportedMediaType, err.Error())
		return
	}
	var in In
	if status, err := h.decode(r.Body, &in); err != nil {
		writeJSONError(w, status, err.Error())
		return
	}
	out, err := h.fn(r.Context(), in)
	if err != nil {
		answerError(w, r, err)
		return
	}
	b, err := json.Marshal(out)
	if err != nil {
		Logger(r.Context()).Error("JSON handler: encoding the answer: "+err.Error(), slog.String("type", fmt.Sprintf("%T", out)))
		writeJSONError(w, http.StatusInternalServerError, "internal error: the answer could not be encoded")
		return
	}
	// One Write of the whole answer: net/http sets Content-Length itself.
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

// decode reads exactly one JSON value into in.
func (h *jsonHandler[In, Out]) decode(body io.Reader, in *In) (int, error) {
	dec := json.NewDecoder(body)
	if h.strict {
		dec.DisallowUnknownFields()
	}
	err := dec.Decode(in)
	if err == nil {
		// One value, not a stream: anything after it but spaces is a
		// mistake.
		if dec.Decode(&struct{}{}) != io.EOF {
			return http.StatusBadRequest, fmt.Errorf("request body: want one JSON value, found more after it")
		}
		return 0, nil
	}
	switch {
	case IsBodyTooLarge(err):
		return http.StatusRequestEntityTooLarge, fmt.Errorf("request body: %w (max_body_bytes)", err)
	case errors.Is(err, io.EOF):
		return http.StatusBadRequest, fmt.Errorf("request body is empty: want a JSON value for %T", *in)
	}
	return http.StatusBadRequest, fmt.Errorf("request body as %T: %w", *in, err)
}

// checkJSONContentType accepts application/json and any +json type, such as
// application/merge-patch+json, with or without parameters. Parsed by hand:
// mime.ParseMediaType allocates on every call.
func checkJSONContentType(v string) error {
	mt, _, _ := strings.Cut(v, ";")
	mt = strings.TrimSpace(mt)
	typ, sub, ok := strings.Cut(mt, "/")
	if ok && typ != "" && (strings.EqualFold(mt, "application/json") || len(sub) > 5 && strings.EqualFold(sub[len(sub)-5:], "+json")) {
		return nil
	}
	if v == "" {
		return errors.New("Content-Type missing: want application/json (or a +json type)")
	}
	return fmt.Errorf("Content-Type %q: want application/json (or a +json type)", v)
}

// answerError answers an error from the function: a *Error's status and
// text, else 500 and a log line, the error being for the function's owner
// rather than its caller.
func answerError(w http.ResponseWriter, r *http.Request, err error) {
	ctx := r.Context()
	var se *Error
	switch {
	case errors.As(err, &se) && se.Status >= 400 && se.Status <= 599:
		writeJSONError(w, se.Status, se.Error())
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		// The caller left: no one reads an answer, and writing none is
		// how the watchdog tells it apart in the log and metrics.
	case ctx.Err() != nil && errors.Is(err, context.DeadlineExceeded):
		writeJSONError(w, http.StatusGatewayTimeout, "the call's deadline passed")
	default:
		if se != nil {
			err = fmt.Errorf("%w (watchdog.Error status %d is not 400 to 599)", err, se.Status)
		}
		Logger(ctx).Error("JSON handler: "+err.Error(), slog.Int("status", http.StatusInternalServerError))
		writeJSONError(w, http.StatusInternalServerError, "internal error")
	}
}

func writeJSONError(w http.ResponseWriter, status int, msg string) {
	b, _ := json.Marshal(struct {
		Error string `json:"error"`
	}{msg})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
