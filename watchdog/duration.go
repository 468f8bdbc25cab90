package watchdog

import (
	"net/http"
	"strconv"
	"time"
	"unsafe"
)

// DurationHeader is on every answer, as of-watchdog's http mode sets it:
// the seconds from the call's arrival to the start of its answer, with six
// decimals. A header goes out before the body, so for a streamed answer it
// is the time to the first byte, not to the end; the access log and
// http_request_duration_seconds have the whole call.
const DurationHeader = "X-Duration-Seconds"

// setDuration sets DurationHeader on the answer about to begin, once: the
// recorder calls it as the final status goes out, and withCall once the
// handler has returned, for an answer net/http sends itself. A switch of
// protocols is no answer of the function's, and may have left HTTP behind.
func (r *recorder) setDuration() {
	if r.duration[0] != "" || r.status == http.StatusSwitchingProtocols {
		return
	}
	// 'f' with 6 digits is fmt's %f, of-watchdog's format.
	b := strconv.AppendFloat(r.durationBuf[:0], time.Since(r.start).Seconds(), 'f', 6, 64)
	// A string over the recorder's own bytes, so the header costs no
	// allocation per call. Sound because they are written once, here, and
	// a recorder is never reused (keep it out of any pool); while the
	// header map holds the string, it keeps the recorder alive.
	r.duration[0] = unsafe.String(unsafe.SliceData(b), len(b))
	r.ResponseWriter.Header()[DurationHeader] = r.duration[:]
}
