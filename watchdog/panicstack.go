package watchdog

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strconv"
	"strings"
)

// panicStack is the stack of a goroutine that panicked, as debug.Stack
// writes it in the function that recovered. As a log value it is that text,
// whole, in one string: a JSON record stays one line, and a logger given by
// WithLogger gets it as that one string. The watchdog's own text logger prints it
// readably instead (see stackText).
type panicStack []byte

func (s panicStack) LogValue() slog.Value { return slog.StringValue(string(s)) }

// sdkFramePrefixes name the frames a function's author did not write: the
// watchdog's own (its subpackages too) and net/http's serving of the call.
var sdkFramePrefixes = []string{"github.com/inproc-go/templates/watchdog", "net/http."}

// readable is s as a text log prints it after the record's line: each line
// indented by a tab, the recovery's own frames (those above the panic)
// left out, and each run of the watchdog's and net/http's frames left out
// and marked with a line that counts them. The handler's frames and the
// runtime's (the panic itself, a nil dereference's signal) stay as Go
// prints them.
func (s panicStack) readable() []byte {
	text := strings.TrimRight(string(s), "\n")
	if text == "" {
		return nil
	}
	lines := strings.Split(text, "\n")
	var b bytes.Buffer
	if len(lines) > 0 && strings.HasPrefix(lines[0], "goroutine ") {
		b.WriteString("\t" + lines[0] + "\n")
		lines = lines[1:]
	}
	// A frame is a function line and, indented, its file line; a frame
	// without a file line ("created by" of a goroutine made by the runtime)
	// stands alone.
	var frames [][]string
	for i := 0; i < len(lines); i++ {
		frame := []string{lines[i]}
		if i+1 < len(lines) && strings.HasPrefix(lines[i+1], "\t") {
			frame = append(frame, lines[i+1])
			i++
		}
		frames = append(frames, frame)
	}
	for i, f := range frames {
		if strings.HasPrefix(f[0], "panic(") {
			frames = frames[i:]
			break
		}
	}
	left := 0
	flush := func() {
		if left > 0 {
			noun := " frames"
			if left == 1 {
				noun = " frame"
			}
			b.WriteString("\t... " + strconv.Itoa(left) + noun + " of the watchdog and net/http left out\n")
			left = 0
		}
	}
	for _, f := range frames {
		if isSDKFrame(f[0]) {
			left++
			continue
		}
		flush()
		for _, line := range f {
			b.WriteString("\t" + line + "\n")
		}
	}
	flush()
	return b.Bytes()
}

// isSDKFrame reports whether a frame's function line (or its "created by"
// line) names a function of the watchdog or of net/http.
func isSDKFrame(line string) bool {
	line = strings.TrimPrefix(line, "created by ")
	for _, p := range sdkFramePrefixes {
		if strings.HasPrefix(line, p) {
			return true
		}
	}
	return false
}

// stackText is the watchdog's text handler. A record with a panicStack
// among its attributes is written as its line without the stack, followed
// by the stack's readable lines, in one write to out, so no other record
// lands between them; every other record goes to the text handler as it
// is. out must be safe for concurrent use, as the watchdog's log batch is.
type stackText struct {
	slog.Handler
	out io.Writer
	// over builds the same handler, with the same attributes and groups,
	// over another writer: the line of a record with a stack is formatted
	// into a buffer through it.
	over func(io.Writer) slog.Handler
}

func newStackText(out io.Writer, opts *slog.HandlerOptions) stackText {
	over := func(w io.Writer) slog.Handler { return slog.NewTextHandler(w, opts) }
	return stackText{Handler: over(out), out: out, over: over}
}

func (h stackText) Handle(ctx context.Context, r slog.Record) error {
	var stack panicStack
	if r.NumAttrs() > 0 {
		r.Attrs(func(a slog.Attr) bool {
			stack = stackOf(a)
			return stack == nil
		})
	}
	if stack == nil {
		return h.Handler.Handle(ctx, r)
	}
	line := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		if stackOf(a) == nil {
			line.AddAttrs(a)
		}
		return true
	})
	var b bytes.Buffer
	if err := h.over(&b).Handle(ctx, line); err != nil {
		return err
	}
	b.Write(stack.readable())
	_, err := h.out.Write(b.Bytes())
	return err
}

// stackOf is a's panicStack, or nil. Only a LogValuer is asked for its
// value: Any would allocate for a string.
func stackOf(a slog.Attr) panicStack {
	if a.Value.Kind() != slog.KindLogValuer {
		return nil
	}
	s, _ := a.Value.Any().(panicStack)
	return s
}

func (h stackText) WithAttrs(attrs []slog.Attr) slog.Handler {
	over := h.over
	return stackText{Handler: h.Handler.WithAttrs(attrs), out: h.out,
		over: func(w io.Writer) slog.Handler { return over(w).WithAttrs(attrs) }}
}

func (h stackText) WithGroup(name string) slog.Handler {
	over := h.over
	return stackText{Handler: h.Handler.WithGroup(name), out: h.out,
		over: func(w io.Writer) slog.Handler { return over(w).WithGroup(name) }}
}
