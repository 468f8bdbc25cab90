// The function's whole process: the watchdog, in-process, serving Handle.
package main

import (
	"net/http"

	"handler/function"

	"github.com/inproc-go/templates/watchdog"
)

func main() {
	watchdog.Main(http.HandlerFunc(function.Handle), options...)
}
