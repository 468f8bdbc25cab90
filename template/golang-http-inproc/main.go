// The function's whole process: the watchdog, in-process, serving Handle.
package main

import (
	"handler/function"

	"github.com/inproc-go/templates/watchdog"
	handler "github.com/inproc-go/templates/watchdog/go-http"
)

func main() {
	watchdog.Main(handler.HandlerFunc(function.Handle), options...)
}
