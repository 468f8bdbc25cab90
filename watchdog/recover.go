package watchdog

import (
	"errors"
	"log/slog"
	"net/http"
	"runtime/debug"
)

// withRecover answers 500 to a panicking call if nothing was sent yet, logs
// the stack with the call id, and keeps the process alive. The limiter slot
// and in-flight gauge are released by their own defers on the way out.
//
//go:noinline (a layer: see Server.build)
func withRecover(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(http.ErrAbortHandler) // the handler asked net/http to drop the connection
			}
			jp, fromJSON := v.(jsonPanic)
			if fromJSON {
				v = jp.v
			}
			Logger(r.Context()).Error("handler panicked", slog.Any("panic", v), slog.Any("stack", panicStack(debug.Stack())))
			if c := callFrom(r.Context()); c != nil && c.rec.status != 0 {
				// The answer has begun: it is aborted, so the caller can't
				// take it for a whole one (see abort.go).
				abortAnswer(r.Context(), abortedPanic)
				return
			}
			msg := "the function panicked; its logs have the details under call id " + CallID(r.Context())
			if fromJSON {
				writeProblem(w, http.StatusInternalServerError, errors.New(msg)) // the shape of the JSON handler's other errors
				return
			}
			http.Error(w, msg, http.StatusInternalServerError)
		}()
		next.ServeHTTP(w, r)
	})
}
