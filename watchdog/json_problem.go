package watchdog

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"reflect"
	"strconv"
	"strings"
)

// Error is an error with the HTTP status a JSON handler answers it with,
// and, for a request that is wrong in several places, the fields at fault.
// Its text and fields are sent to the caller, so keep them fit for them.
type Error struct {
	Status int          // 400 to 599
	Err    error        // the problem's detail; nil for the status text
	Fields []FieldError // the problem's "errors", if any
}

// FieldError is one field at fault, an item of a problem's "errors".
type FieldError struct {
	// Pointer is the JSON Pointer (RFC 6901) of the value in the request
	// body, such as "/items/0/qty"; empty for something outside the body,
	// which Detail then names (a query parameter, a header).
	Pointer string `json:"pointer,omitempty"`
	Detail  string `json:"detail"` // what is wrong and what is accepted
}

// StatusError wraps err to be answered with status, e.g.
// StatusError(http.StatusNotFound, fmt.Errorf("order %q: no such order", id)).
func StatusError(status int, err error) error { return &Error{Status: status, Err: err} }

// Error is Err's text, or the status's for a nil Err.
func (e *Error) Error() string {
	if e.Err == nil {
		return http.StatusText(e.Status)
	}
	return e.Err.Error()
}

// Unwrap returns Err, for errors.Is and errors.As.
func (e *Error) Unwrap() error { return e.Err }

// problem is the body of every error answer of a JSON handler: an RFC 9457
// problem with the type left out, which means about:blank (the status says
// it all), and the "errors" extension RFC 9457 shows for validation errors.
type problem struct {
	Title  string       `json:"title"`
	Status int          `json:"status"`
	Detail string       `json:"detail"`
	Errors []FieldError `json:"errors,omitempty"`
}

// writeProblem answers status with err as an application/problem+json
// body: its text as detail and, for an *Error, its fields as errors.
func writeProblem(w http.ResponseWriter, status int, err error) {
	p := problem{Title: http.StatusText(status), Status: status, Detail: err.Error()}
	if e, ok := err.(*Error); ok {
		p.Errors = e.Fields
	}
	b, _ := json.Marshal(p)
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

var errMoreValues = errors.New("request body: want one JSON value, found more after it")

// decodeError turns an error of encoding/json decoding body into one fit
// for the caller: where in the body, in JSON terms, and never a Go type,
// which is the function's business, not its caller's.
func decodeError(body []byte, err error) error {
	var (
		syntax *json.SyntaxError
		typ    *json.UnmarshalTypeError
	)
	switch {
	case err == errMoreValues:
		return err
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("request body is not JSON: it ends in the middle of a value")
	case errors.As(err, &syntax):
		switch msg := syntax.Error(); {
		case strings.Contains(msg, "after top-level value"):
			return errMoreValues
		case strings.Contains(msg, "unexpected end of JSON input"):
			return errors.New("request body is not JSON: it ends in the middle of a value")
		default:
			return fmt.Errorf("request body is not JSON: %s at byte %d", msg, syntax.Offset)
		}
	case errors.As(err, &typ):
		want := "want " + jsonType(typ.Type, typ.Value) + ", got " + jsonValue(typ.Value)
		ptr := pointerAt(body, typ.Offset)
		if ptr == "" {
			return errors.New("request body: " + want)
		}
		return &Error{
			Status: http.StatusBadRequest,
			Err:    fmt.Errorf("request body at %s: %s", ptr, want),
			Fields: []FieldError{{Pointer: ptr, Detail: want}},
		}
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return &Error{
			Status: http.StatusBadRequest,
			Err:    fmt.Errorf("request body: unknown field %s", name),
			Fields: []FieldError{{Detail: "unknown field " + name + ": not one this function takes"}},
		}
	}
	// Anything else comes from a type's own UnmarshalJSON or
	// UnmarshalText, or from a ",string" tag, and may name Go types: the
	// caller learns which value, not why.
	return errors.New("request body: a value is not in the form this function takes")
}

// jsonType names the JSON a Go type t decodes from, as "want ..." says it.
func jsonType(t reflect.Type, got string) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(reflect.TypeFor[encoding.TextUnmarshaler]()) {
		return "a string"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if strings.HasPrefix(got, "number ") {
			max := int64(math.MaxInt64 >> (64 - t.Bits()))
			return fmt.Sprintf("an integer from %d to %d", -max-1, max)
		}
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if strings.HasPrefix(got, "number ") {
			return "an integer from 0 to " + strconv.FormatUint(math.MaxUint64>>(64-t.Bits()), 10)
		}
		return "an integer"
	case reflect.Float32, reflect.Float64:
		if strings.HasPrefix(got, "number ") {
			return fmt.Sprintf("a number of at most %.3g", maxFloat(t.Bits()))
		}
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return "a base64 string"
		}
		return "an array"
	case reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "another JSON type"
}

func maxFloat(bits int) float64 {
	if bits == 32 {
		return math.MaxFloat32
	}
	return math.MaxFloat64
}

// jsonValue names what an UnmarshalTypeError's Value says was found.
func jsonValue(v string) string {
	switch v {
	case "string":
		return "a string"
	case "number":
		return "a number"
	case "bool":
		return "true or false"
	case "array":
		return "an array"
	case "object":
		return "an object"
	}
	return v // "number 1.5"
}

// pointerAt returns the JSON Pointer of the value in body that ends at or
// just past offset, as encoding/json reports a value of the wrong type: its
// own field path leaves out array indexes. "" for the whole body.
func pointerAt(body []byte, offset int64) string {
	type level struct {
		object bool
		key    string
		index  int
		isKey  bool // an object's next token is a key
	}
	var stack []level
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if err != nil {
			return ""
		}
		if len(stack) > 0 && stack[len(stack)-1].isKey {
			if d, ok := tok.(json.Delim); !ok || d != '}' {
				stack[len(stack)-1].key, _ = tok.(string)
				stack[len(stack)-1].isKey = false
				continue
			}
		}
		d, isDelim := tok.(json.Delim)
		closing := isDelim && (d == '}' || d == ']')
		if !closing && dec.InputOffset() >= offset {
			var b strings.Builder
			for _, l := range stack {
				b.WriteByte('/')
				if l.object {
					b.WriteString(strings.NewReplacer("~", "~0", "/", "~1").Replace(l.key))
				} else {
					b.WriteString(strconv.Itoa(l.index))
				}
			}
			return b.String()
		}
		switch {
		case isDelim && !closing:
			stack = append(stack, level{object: d == '{', isKey: d == '{'})
			continue
		case closing:
			stack = stack[:len(stack)-1]
		}
		// A value has ended: the next one in its container is another key
		// or the next index.
		if len(stack) > 0 {
			top := &stack[len(stack)-1]
			top.isKey = top.object
			top.index++
		}
	}
}
