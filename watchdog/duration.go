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
	b := appendSeconds(r.durationBuf[:0], time.Since(r.start))
	// A string over the recorder's own bytes, so the header costs no
	// allocation per call. Sound because they are written once, here, and
	// a recorder is never reused (keep it out of any pool); while the
	// header map holds the string, it keeps the recorder alive.
	r.duration[0] = unsafe.String(unsafe.SliceData(b), len(b))
	r.ResponseWriter.Header()[DurationHeader] = r.duration[:]
}

// appendSeconds writes d in seconds with six decimals, fmt's %f and
// of-watchdog's format, in whole numbers rather than through a float64,
// as it is written on every answer. The same digits but where d is a half
// microsecond exactly, rounded up here and to the float's nearest there.
func appendSeconds(b []byte, d time.Duration) []byte {
	if d < 0 || d >= 1<<50 { // past 13 days the float64 rounds coarser: keep its digits
		return strconv.AppendFloat(b, d.Seconds(), 'f', 6, 64)
	}
	us := (d + 500) / time.Microsecond
	b = strconv.AppendInt(b, int64(us/1e6), 10)
	frac := int64(us % 1e6)
	var digits [7]byte
	digits[0] = '.'
	for i := 6; i >= 1; i-- {
		digits[i] = byte('0' + frac%10)
		frac /= 10
	}
	return append(b, digits[:]...)
}
