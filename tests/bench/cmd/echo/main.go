// Command echo is the benchmark's bare net/http server: it answers every
// request 200 with the request body, nothing else. Alone in a scratch image it
// is the physical limit the templates are measured against; behind
// cmd/proxy it is the handler process of the two-process baseline.
package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
)

// Echo writes the request body back, as every variant's handler does.
func Echo(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

func main() {
	listen := flag.String("listen", ":8080", "address to listen on")
	flag.Parse()
	if err := http.ListenAndServe(*listen, http.HandlerFunc(Echo)); err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		os.Exit(1)
	}
}
