package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"sync"
)

// output is where every function's lines go, one line at a time.
type output struct {
	mu     sync.Mutex
	w      io.Writer
	colour bool
	width  int // of the longest function name, so the lines align
}

// colours are ANSI foreground colours, one per function in turn.
var colours = []string{"36", "33", "35", "32", "34", "31"}

// newOutput writes to w, in colour when w is a terminal and NO_COLOR
// (no-color.org) is unset.
func newOutput(w io.Writer, names []string) *output {
	o := &output{w: w}
	if f, ok := w.(*os.File); ok && os.Getenv("NO_COLOR") == "" {
		if info, err := f.Stat(); err == nil && info.Mode()&os.ModeCharDevice != 0 {
			o.colour = true
		}
	}
	for _, n := range names {
		o.width = max(o.width, len(n))
	}
	return o
}

// prefix is an io.Writer that puts a function's name in front of each line
// the function writes; a line is written once it is complete.
type prefix struct {
	out  *output
	head string
	mu   sync.Mutex
	part []byte
}

func (o *output) prefix(name string, i int) *prefix {
	head := fmt.Sprintf("%-*s | ", o.width, name)
	if o.colour {
		head = "\x1b[" + colours[i%len(colours)] + "m" + head + "\x1b[0m"
	}
	return &prefix{out: o, head: head}
}

func (p *prefix) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.part = append(p.part, b...)
	for {
		i := bytes.IndexByte(p.part, '\n')
		if i < 0 {
			return len(b), nil
		}
		p.line(p.part[:i])
		p.part = p.part[i+1:]
	}
}

func (p *prefix) line(l []byte) {
	p.out.mu.Lock()
	defer p.out.mu.Unlock()
	fmt.Fprintf(p.out.w, "%s%s\n", p.head, l)
}

// note writes the stack's own message about the function, each of its
// lines prefixed.
func (p *prefix) note(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range bytes.Split([]byte(fmt.Sprintf("local-stack: "+format, args...)), []byte("\n")) {
		p.line(l)
	}
}
