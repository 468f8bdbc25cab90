// Package function is the streams e2e handler: Server-Sent Events, one
// event every 100ms. "/events?n=N" sends N events and stops at its
// context's end; "/ignore" sends 20 and ignores its context and its write
// errors; "/panic" panics after its first event.
package function

import (
	"fmt"
	"net/http"
	"strconv"
	"time"
)

func Handle(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/event-stream")
	rc := http.NewResponseController(w)
	n, _ := strconv.Atoi(r.URL.Query().Get("n"))
	if r.URL.Path != "/events" {
		n = 20
	}
	for i := 1; i <= n; i++ {
		fmt.Fprintf(w, "data: %d\n\n", i)
		_ = rc.Flush()
		if r.URL.Path == "/panic" {
			panic("e2e streams mid-stream panic")
		}
		if i == n {
			break
		}
		if r.URL.Path == "/ignore" {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		select {
		case <-r.Context().Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}
