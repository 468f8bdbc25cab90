// Package function is the e2e probe handler: "/" echoes the body,
// "/sleep?ms=N" sleeps ignoring its context, "/panic" panics, "/error"
// returns an error and "/static" answers static/hello.txt by its relative
// path, as functions read their static/ folder.
package function

import (
	"errors"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	handler "github.com/inproc-go/templates/watchdog/go-http"
)

func Handle(req handler.Request) (handler.Response, error) {
	switch req.Path {
	case "/sleep":
		q, _ := url.ParseQuery(req.QueryString)
		ms, _ := strconv.Atoi(q.Get("ms"))
		time.Sleep(time.Duration(ms) * time.Millisecond)
		return handler.Response{Body: []byte("slept")}, nil
	case "/panic":
		panic("e2e probe panic")
	case "/error":
		return handler.Response{}, errors.New("e2e probe error")
	case "/static":
		body, err := os.ReadFile("static/hello.txt")
		return handler.Response{Body: body, StatusCode: http.StatusOK}, err
	}
	return handler.Response{Body: req.Body, StatusCode: http.StatusOK}, nil
}
