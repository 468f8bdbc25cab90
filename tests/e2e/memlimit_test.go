package e2e

import (
	"math"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/inproc-go/templates/tests/internal/container"
	"github.com/inproc-go/templates/tests/internal/fnfolder"
)

// memlimitHandler answers the Go memory limit the function runs with.
const memlimitHandler = `package function

import (
	"fmt"
	"net/http"
	"runtime/debug"
)

func Handle(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, debug.SetMemoryLimit(-1)) }
`

// TestMemoryLimitUnreadable runs a function under --memory 64m with an
// empty tmpfs over /sys/fs/cgroup, as faasd runs containers (no cgroup files
// to read): it starts, warns naming GOMEMLIMIT and what to set, and runs
// without a Go memory limit; given GOMEMLIMIT, as the warning says, it runs
// with that one and says so.
func TestMemoryLimitUnreadable(t *testing.T) {
	requireE2E(t)
	root, err := container.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	hello := filepath.Join(fnfolder.New(t, root, "golang-middleware-inproc", "hello"), "hello")
	fnfolder.Edit{Files: map[string]string{"handler.go": memlimitHandler}, Remove: []string{"handler_test.go"}}.Apply(t, hello)
	image := "localhost/inproc-e2e/memlimit:latest"
	container.BuildFunction(t, container.Function{Lang: "golang-middleware-inproc", Handler: hello, Tag: image})
	noCgroup := container.Args("--memory", "64m", "--mount", "type=tmpfs,destination=/sys/fs/cgroup")

	c := container.Run(t, image, noCgroup)
	expect(t, do(t, http.MethodGet, c.URL("/"), "", nil), http.StatusOK, strconv.FormatInt(math.MaxInt64, 10))
	logs := waitLogs(t, c, "level=WARN", "memory limit: not set from the cgroup:", "is not mounted in this container",
		`hint="set GOMEMLIMIT to 90% of the container's memory limit`, "GOMEMLIMIT=57MiB")
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, "memory limit:") {
			t.Logf("the warning: %s", line)
		}
	}

	given := container.Run(t, image, noCgroup, container.Env("GOMEMLIMIT=57MiB"))
	expect(t, do(t, http.MethodGet, given.URL("/"), "", nil), http.StatusOK, strconv.Itoa(57<<20))
	waitLogs(t, given, "memory limit: set already (GOMEMLIMIT), left as it is", "gomemlimit=57MiB")
}
