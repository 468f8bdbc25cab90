package watchdog

import (
	"context"
	"encoding/binary"
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
// the request the handler gets, the recorder its answer goes through and,
// under exec_timeout, the guard around the handler's writer and the
// handler's deadline. It is also the context the handler sees, so CallID and
// Logger find it in one lookup (and, under exec_timeout, the handler's
// deadline context: see exectimeout.go).
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
	// req is the request the handler gets: withCall's r over the call as
	// its context, made here rather than by an allocation of its own.
	req http.Request
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
	switch ctx := ctx.(type) {
	case nil:
		return nil
	case *call: // the handler's context as withCall made it: no lookup
		return ctx
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
//
//go:noinline (a layer: see Server.build)
func handler(h http.Handler) callHandler {
	return func(rec *recorder, r *http.Request) { h.ServeHTTP(rec, r) }
}

// withCall starts the watchdog's record of a call: the time it arrived, its
// id (the caller's X-Call-Id or a new one, on the request the handler sees
// and on the response), and the recorder every later step writes through.
//
//go:noinline (a layer: see Server.build)
func withCall(sc *scope, streamWriteTimeout time.Duration, lastArrival *atomic.Int64, next callHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := &call{Context: r.Context(), scope: sc}
		c.rec = recorder{ResponseWriter: w, start: time.Now(), streamWriteTimeout: streamWriteTimeout}
		if lastArrival != nil {
			lastArrival.Store(c.rec.start.UnixNano())
		}
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
		c.req = *r.WithContext(c) // inlined, its copy is a temporary
		next(&c.rec, &c.req)
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
	hi := rand.Uint64()&^(0xf<<12) | 0x4<<12 // version 4
	lo := rand.Uint64()&^(0x3<<62) | 0x2<<62 // variant 10
	formatUUID(&c.idBuf, hi, lo)
	return unsafe.String(&c.idBuf[0], len(c.idBuf))
}

// madeID reports whether c's id is newID's, which is plain text by
// construction: the access line need not check it (see accessLine.append).
func (c *call) madeID() bool {
	return len(c.id) == len(c.idBuf) && unsafe.StringData(c.id) == &c.idBuf[0]
}

// formatUUID writes the UUID whose bits are hi and lo, most significant
// first, in its text form: 8-4-4-4-12 lower-case hex digits.
func formatUUID(b *[36]byte, hi, lo uint64) {
	be := binary.BigEndian
	be.PutUint64(b[0:], hexDigits(uint32(hi>>32)))
	d := hexDigits(uint32(hi))
	be.PutUint32(b[9:], uint32(d>>32))
	be.PutUint32(b[14:], uint32(d))
	d = hexDigits(uint32(lo >> 32))
	be.PutUint32(b[19:], uint32(d>>32))
	be.PutUint32(b[24:], uint32(d))
	be.PutUint64(b[28:], hexDigits(uint32(lo)))
	b[8], b[13], b[18], b[23] = '-', '-', '-', '-'
}

// hexDigits returns the eight lower-case hex digits of v, the first in the
// top byte, worked out for all eight at once: each nibble is spread to a
// byte of its own, then each byte becomes its digit.
func hexDigits(v uint32) uint64 {
	x := uint64(v)
	x = x&0xffff0000<<16 | x&0xffff
	x = x&0x0000ff000000ff00<<8 | x&0x000000ff000000ff
	x = x&0x00f000f000f000f0<<4 | x&0x000f000f000f000f
	// '0' added to each, and 'a'-'0'-10 more to those over 9.
	over9 := (x + 6*ones) >> 4 & ones
	return x + '0'*ones + over9*('a'-'0'-10)
}
