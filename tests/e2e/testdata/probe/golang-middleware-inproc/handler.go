// Package function is the e2e probe handler: "/" echoes the body,
// "/sleep?ms=N" sleeps ignoring its context, "/panic" panics and "/stream"
// sends three flushed chunks 300ms apart, "/static" answers static/hello.txt
// by its relative path, as functions read their static/ folder.
package function

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

func Handle(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/sleep":
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		time.Sleep(time.Duration(ms) * time.Millisecond)
		fmt.Fprint(w, "slept")
	case "/panic":
		panic("e2e probe panic")
	case "/stream":
		for i := 1; i <= 3; i++ {
			fmt.Fprintf(w, "chunk %d\n", i)
			_ = http.NewResponseController(w).Flush()
			time.Sleep(300 * time.Millisecond)
		}
	case "/static":
		http.ServeFile(w, r, "static/hello.txt")
	default:
		_, _ = io.Copy(w, r.Body)
	}
}
