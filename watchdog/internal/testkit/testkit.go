// Package testkit is what every test of the watchdog module shares, and
// watchdogtest builds on: a buffer for logs written by another goroutine or
// process, a parser of JSON log lines, a reader of one series in a scrape, a
// local listener, a poll on observable state and the wait for /_/health. It imports no package of
// the module, so the watchdog package's own (internal) tests can use it as
// well as watchdogtest, which imports the watchdog.
package testkit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Buffer is a bytes.Buffer safe for concurrent Write and String: a server's
// goroutines or a child process write, the test reads.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String is everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// ParseLogs splits text into the lines that are one JSON object each, parsed,
// and the other lines as they are (a process's stderr mixes both).
func ParseLogs(text string) (records []map[string]any, other []string) {
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(nil, 4<<20) // a record holding a 2 MB header still parses
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && m != nil {
			records = append(records, m)
		} else {
			other = append(other, sc.Text())
		}
	}
	return records, other
}

// Records parses text as ParseLogs does, and fails the test on a line that
// is not one JSON object.
func Records(t testing.TB, text string) []map[string]any {
	t.Helper()
	records, other := ParseLogs(text)
	if len(other) > 0 {
		t.Fatalf("log line %.200q is not a JSON record: logged with log_format=json?", other[0])
	}
	return records
}

// Messages is the msg of each record, in order.
func Messages(records []map[string]any) []string {
	msgs := make([]string, len(records))
	for i, r := range records {
		msgs[i], _ = r["msg"].(string)
	}
	return msgs
}

// MetricValue is the value of the series named exactly series (name and
// labels, e.g. `http_requests_total{code="200",method="get"}`) in a scrape
// in the Prometheus text format. ok is false when the series is not there;
// a value that is not a number is an error.
func MetricValue(scrape, series string) (v float64, ok bool, err error) {
	for line := range strings.SplitSeq(scrape, "\n") {
		if rest, found := strings.CutPrefix(line, series+" "); found {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return v, true, err
		}
	}
	return 0, false, nil
}

// Get is the status and body of a GET of url; a call that gets no answer,
// or whose body can't be read, fails the test.
func Get(t testing.TB, url string) (status int, body string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("GET %s: reading the body: %v", url, err)
	}
	return res.StatusCode, string(b)
}

// Listen is a listener on a free port of 127.0.0.1, closed when the test
// ends if nothing else closed it.
func Listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen on 127.0.0.1:0: %v", err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// ErrNotHealthy is what WaitHealthy's error wraps when /_/health did not
// answer 200 in time.
var ErrNotHealthy = errors.New("/_/health did not answer 200")

// WaitHealthy asks baseURL's /_/health every 10ms, each time on a new
// connection, until it answers 200, and returns nil then. Before each probe
// it asks stopped, if not nil, whether the server has stopped (Serve
// returned, the process exited): an error from stopped is returned as it
// is. If /_/health does not answer 200 within timeout, the error wraps
// ErrNotHealthy. A probe gives up after a second: a listener that nothing
// serves (New refused the options) still accepts. It is the one wait for a server to come up for every test
// and example runner in this module.
func WaitHealthy(baseURL string, timeout time.Duration, stopped func() error) error {
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: time.Second}
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if stopped != nil {
			if err := stopped(); err != nil {
				return err
			}
		}
		res, err := client.Get(baseURL + "/_/health")
		if err != nil {
			continue
		}
		res.Body.Close()
		if res.StatusCode == http.StatusOK {
			return nil
		}
	}
	return fmt.Errorf("%w within %s", ErrNotHealthy, timeout)
}

// WaitFor polls cond every 5ms until it holds, and fails the test, naming
// what it waited for, if it does not within timeout.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Promtool runs promtool check metrics (Debian package prometheus) on a
// scrape and returns the problems it reports, one a line. Without promtool
// the test is skipped, unless CI is set: then it fails.
func Promtool(t testing.TB, scrape string) []string {
	t.Helper()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "" {
			t.Skip("promtool not found (Debian package prometheus); with CI set this fails")
		}
		t.Fatalf("CI is set and promtool is not installed (Debian package prometheus): %v", err)
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(scrape)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	var exit *exec.ExitError
	// promtool exits 3 for lint problems, 1 when it can't parse.
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 3) {
		t.Fatalf("promtool check metrics: %v\n%s\nscrape:\n%s", err, out.String(), scrape)
	}
	return strings.Split(strings.TrimSpace(out.String()), "\n")
}
