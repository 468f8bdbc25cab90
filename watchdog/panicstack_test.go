package watchdog

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/inproc-go/templates/watchdog/internal/testkit"
)

// A stack as debug.Stack writes it in withRecover, for a handler of the
// function's own package.
const recoveredStack = `goroutine 7 [running]:
runtime/debug.Stack()
	/usr/lib/go/src/runtime/debug/stack.go:26 +0x5e
github.com/inproc-go/templates/watchdog.withRecover.func1.1()
	github.com/inproc-go/templates/watchdog@v0.3.8/timeout.go:389 +0x9a
panic({0x6f1e20?, 0xc000012345?})
	/usr/lib/go/src/runtime/panic.go:783 +0x132
handler/function.parse(...)
	handler/function/parse.go:7
handler/function.Handle({0x7f3c20, 0xc0000a2000}, 0xc0000b4000)
	handler/function/handler.go:12 +0x25
net/http.HandlerFunc.ServeHTTP(0x0?, {0x7f3c20, 0xc0000a2000}, 0xc0000b4000)
	net/http/server.go:2294 +0x29
github.com/inproc-go/templates/watchdog.(*execTimeout).serve(0xc0000c0000, {0x7f3c20, 0xc0000a2000}, 0xc0000b4000)
	github.com/inproc-go/templates/watchdog@v0.3.8/timeout.go:150 +0x1f4
github.com/inproc-go/templates/watchdog/handler.Adapter.ServeHTTP(...)
	github.com/inproc-go/templates/watchdog@v0.3.8/handler/adapter.go:40 +0x1
handler/function.Middleware.func1({0x7f3c20, 0xc0000a2000}, 0xc0000b4000)
	handler/function/middleware.go:20 +0x40
net/http.(*conn).serve(0xc0000f6000, {0x7f4000, 0xc0000a0000})
	net/http/server.go:2286 +0x1
created by net/http.(*Server).Serve in goroutine 1
	net/http/server.go:3454 +0x485
`

func TestPanicStackReadable(t *testing.T) {
	for _, tt := range []struct {
		name, stack, want string
	}{
		{"recovered in the watchdog", recoveredStack, `	goroutine 7 [running]:
	panic({0x6f1e20?, 0xc000012345?})
		/usr/lib/go/src/runtime/panic.go:783 +0x132
	handler/function.parse(...)
		handler/function/parse.go:7
	handler/function.Handle({0x7f3c20, 0xc0000a2000}, 0xc0000b4000)
		handler/function/handler.go:12 +0x25
	... 3 frames of the watchdog and net/http left out
	handler/function.Middleware.func1({0x7f3c20, 0xc0000a2000}, 0xc0000b4000)
		handler/function/middleware.go:20 +0x40
	... 2 frames of the watchdog and net/http left out
`},
		{"no panic frame: every frame is the function's or marked", "goroutine 1 [running]:\nmain.main()\n\t/src/main.go:5 +0x1\nnet/http.Get()\n\tnet/http/client.go:1 +0x1\n", `	goroutine 1 [running]:
	main.main()
		/src/main.go:5 +0x1
	... 1 frame of the watchdog and net/http left out
`},
		{"empty", "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(panicStack(tt.stack).readable()); got != tt.want {
				t.Errorf("readable():\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

// In log_format=text the panic's record is its line and, below it in the
// same write, the stack's lines, each starting with a tab; in JSON it stays
// one record on one line with the whole stack as a string.
func TestPanicStackInLogs(t *testing.T) {
	// strings.Repeat panics on a negative count: a frame of a package other
	// than the watchdog's, as a function's own would be.
	panicking := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = strings.Repeat("x", -1)
	})
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			var out testkit.Buffer
			ts := newTestServer(t, testConfig(t), panicking, WithLogger(newLogger(&out, format))).serve()
			if status, _ := testkit.Get(t, ts.url+"/"); status != http.StatusInternalServerError {
				t.Fatalf("status %d, want 500", status)
			}
			testkit.WaitFor(t, 5*time.Second, "the panic's record", func() bool { return strings.Contains(out.String(), "handler panicked") })
			logged := out.String()
			if format == "json" {
				records := testkit.Records(t, logged)
				var stack string
				for _, r := range records {
					if r["msg"] == "handler panicked" {
						stack, _ = r["stack"].(string)
					}
				}
				if !strings.Contains(stack, "strings.Repeat") || !strings.Contains(stack, "withRecover") {
					t.Errorf("JSON stack is not the whole stack:\n%s", stack)
				}
				return
			}
			start := strings.Index(logged, "level=ERROR")
			if start < 0 {
				t.Fatalf("no ERROR record:\n%s", logged)
			}
			lines := strings.Split(logged[start:], "\n")
			if strings.Contains(lines[0], "stack=") || !strings.Contains(lines[0], `msg="handler panicked"`) {
				t.Errorf("record line: %s", lines[0])
			}
			var stack []string
			for _, l := range lines[1:] {
				if !strings.HasPrefix(l, "\t") {
					break
				}
				stack = append(stack, l)
			}
			text := strings.Join(stack, "\n")
			for _, want := range []string{"\tgoroutine ", "\tpanic(", "\tstrings.Repeat(", " of the watchdog and net/http left out"} {
				if !strings.Contains(text, want) {
					t.Errorf("the stack below the record lacks %q:\n%s", want, text)
				}
			}
			if strings.Contains(text, "withRecover") || strings.Contains(text, "runtime/debug.Stack") {
				t.Errorf("the stack shows the watchdog's own frames:\n%s", text)
			}
		})
	}
}
