module github.com/inproc-go/templates/watchdog

go 1.25
