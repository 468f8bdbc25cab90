module github.com/inproc-go/templates/tests

go 1.25
