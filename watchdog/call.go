package watchdog

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"net/http"
	"sync/atomic"
	"time"
	"unsafe"
)

// CallIDHeader carries the call id set by the gateway, kept end to end.
const CallIDHeader = "X-Call-Id"

type callKey struct{}

// call is what the watchdog keeps for one call, in one allocation: its id,
// the recorder its answer goes through and, under exec_timeout, the guard
// around the handler's writer and the handler's deadline. It is also the
// context the handler sees, so CallID and Logger find it in one lookup (and,
// under exec_timeout, the handler's deadline context: see exectimeout.go).
// One allocation in place of one for each part keeps a call cheap; the
// guards are TestChainAllocations and tests/instructions.
type call struct {
	context.Context // the request's own
	id              string
	scope           *scope // the Server's logger and secrets, see scope.go
	rec             recorder
	timed           timedCall   // used by execTimeout only
	trace           TraceParent // the caller's traceparent, if valid
	// The observer's span (SetCallSpan): trace id and span id in hex, one
	// string; nil until one is named. Atomic, as a handler's goroutines may
	// log while it is set.
	span atomic.Pointer[string]
	// Backing arrays for the X-Call-Id values set on the request and the
	// response: each header gets its own, so neither allocates.
	requestID, responseID [1]string
	idBuf                 [36]byte // a generated id's text; see newID
}

func (c *call) Value(key any) any {
	if key == (callKey{}) {
		return c
	}
	return c.current().Value(key)
}

// callFrom returns the call whose context is ctx, or nil outside one or
// for a nil ctx.
func callFrom(ctx context.Context) *call {
	if ctx == nil {
		return nil
	}
	c, _ := ctx.Value(callKey{}).(*call)
	return c
}

// logIDs are the trace id and span id the call's log lines carry: the
// observer's span, else the caller's, else "" (a nil c included). The one
// place the logs take them from.
func (c *call) logIDs() (traceID, spanID string) {
	if c == nil {
		return "", ""
	}
	if ids := c.span.Load(); ids != nil {
		return (*ids)[:32], (*ids)[32:]
	}
	return c.trace.TraceID(), c.trace.ParentID()
}

// CallID returns the call id of the request whose context is ctx, or ""
// outside a call (a nil ctx included).
func CallID(ctx context.Context) string {
	if c := callFrom(ctx); c != nil {
		return c.id
	}
	return ""
}

// callHandler is a layer of the chain between withCall and the limiter: it
// is handed the call's recorder, as the ResponseWriter, and writes through it
// alone, so no layer has to find the recorder again.
type callHandler func(rec *recorder, r *http.Request)

// handler is h as the innermost callHandler: from there on the recorder is
// just the ResponseWriter.
func handler(h http.Handler) callHandler {
	return func(rec *recorder, r *http.Request) { h.ServeHTTP(rec, r) }
}

// withCall starts the watchdog's record of a call: the time it arrived, its
// id (the caller's X-Call-Id or a new one, on the request the handler sees
// and on the response), and the recorder every later step writes through.
func withCall(sc *scope, streamWriteTimeout time.Duration, arrived func(time.Time), next callHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := &call{Context: r.Context(), scope: sc}
		c.rec = recorder{ResponseWriter: w, start: time.Now(), streamWriteTimeout: streamWriteTimeout}
		arrived(c.rec.start)
		// The constant keys are canonical already: reading the map directly
		// skips Header.Get's canonicalisation.
		if v := r.Header[CallIDHeader]; len(v) > 0 {
			c.id = v[0]
		}
		if c.id == "" {
			c.id = c.newID()
			c.requestID[0] = c.id
			r.Header[CallIDHeader] = c.requestID[:]
		}
		c.responseID[0] = c.id
		w.Header()[CallIDHeader] = c.responseID[:]
		c.trace = traceFrom(r.Header)
		next(&c.rec, r.WithContext(c))
		c.rec.setDuration() // for an answer net/http sends itself: no write at all
		c.dropIfAborted()
	})
}

// newID makes a random (version 4, RFC 9562) UUID for a call that came
// without an id. The bits come from math/rand/v2, the runtime's ChaCha8
// generator seeded from the system's randomness: a call id needs to be
// unique, not secret, and crypto/rand (google/uuid's source) would need a
// system call per call, or a process-wide pool. The text is
// written into the call's own bytes, once, here, and the string is read over
// them, as the recorder's X-Duration-Seconds is (see setDuration): a call is
// never reused.
func (c *call) newID() string {
	var u [16]byte
	binary.BigEndian.PutUint64(u[:8], rand.Uint64())
	binary.BigEndian.PutUint64(u[8:], rand.Uint64())
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // variant 10
	b := &c.idBuf
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return unsafe.String(&b[0], len(b))
}
