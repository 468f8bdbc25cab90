package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/inproc-go/templates/tests/internal/callshape"
)

func TestChoose(t *testing.T) {
	all, err := choose("")
	if err != nil || len(all) != len(variants) || all[0] != 1 {
		t.Fatalf(`choose("") = %v, %v; want 1 to %d`, all, err, len(variants))
	}
	got, err := choose("3, 1")
	if err != nil || !slices.Equal(got, []int{3, 1}) {
		t.Errorf(`choose("3, 1") = %v, %v; want [3 1]`, got, err)
	}
	for _, bad := range []string{"0", "x", "1,,2", strconv.Itoa(len(variants) + 1)} {
		if _, err := choose(bad); err == nil || !strings.Contains(err.Error(), "want variant numbers from 1 to") {
			t.Errorf("choose(%q): error %v, want one naming the accepted numbers", bad, err)
		}
	}
}

// The floor is the same server in callcost and in the benchmark's floor
// image: echo with the same flags.
func TestFloorIsTheBenchmarksFloorImage(t *testing.T) {
	floor := variants[floorVariant-1]
	if floor.build != "echo" || variants[bareVariant-1].build != "echo" || len(variants[bareVariant-1].args) != 0 {
		t.Fatalf("bare and floor must be echo, bare without flags: %+v, %+v", variants[bareVariant-1], floor)
	}
	df, err := os.ReadFile("../../images/floor.Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	want := `CMD ["/home/app/handler", "` + strings.Join(floor.args, `", "`) + `"]`
	if !strings.Contains(string(df), want) {
		t.Errorf("images/floor.Dockerfile lacks %s (callcost's floor):\n%s", want, df)
	}
}

func TestTable(t *testing.T) {
	cells := map[cell][]result{
		{1, "plain"}:   {{instructions: 40000, gcPer100k: 60}, {instructions: 41000, gcPer100k: 70}, {instructions: 40500, gcPer100k: 62}},
		{4, "plain"}:   {{instructions: 50000, gcPer100k: 88}},
		{7, "plain"}:   {{instructions: 55000, gcPer100k: 100}},
		{1, "gateway"}: {{instructions: 50000, gcPer100k: 88}},
		{4, "gateway"}: {{instructions: 60000, gcPer100k: 100}},
		{7, "gateway"}: {{instructions: 66000, gcPer100k: 112}},
	}
	got := table([]int{1, 4, 7}, callshape.All, cells)
	for _, want := range []string{
		"| # | variant | plain: instructions per call | to bare | to floor | spread | GCs per 100k calls | gateway: instructions per call |",
		"| 1 | bare net/http | 40.5k | 1.00× | 0.81× | 2.5% | 62 | 50.0k | 1.00× | 0.83× | 0.0% | 88 |",
		"| 4 | + X-Duration-Seconds on the answer: the contract's floor | 50.0k | 1.23× | 1.00× | 0.0% | 88 | 60.0k | 1.20× | 1.00× |",
		"| 7 | golang-middleware-inproc (defaults) | 55.0k | 1.36× | 1.10× | 0.0% | 100 | 66.0k | 1.32× | 1.10× | 0.0% | 112 |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("table lacks\n%s\ngot:\n%s", want, got)
		}
	}
	// Without bare or the floor measured, their ratios are "-".
	delete(cells, cell{4, "plain"})
	if got := table([]int{1}, []callshape.Shape{callshape.Plain}, cells); !strings.Contains(got, "| 40.5k | 1.00× | - |") {
		t.Errorf("without the floor, want its ratio as -:\n%s", got)
	}
}

func TestDumpTotal(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	os.WriteFile(good, []byte("version: 1\ncmd: x\nevents: Ir\nsummary: 123456\ntotals: 123456\n"), 0o644)
	if n, err := dumpTotal(good); err != nil || n != 123456 {
		t.Errorf("dumpTotal = %d, %v; want 123456", n, err)
	}
	bad := filepath.Join(dir, "bad")
	os.WriteFile(bad, []byte("version: 1\n"), 0o644)
	if _, err := dumpTotal(bad); err == nil || !strings.Contains(err.Error(), "no summary line") {
		t.Errorf("dumpTotal of a file without a summary: %v, want 'no summary line'", err)
	}
}

// TestBareRows runs the README's command, from tests/, with bare and the
// floor in both call shapes and a few hundred calls each, and checks the
// table it prints. callcost itself checks every answer: the body echoed and,
// in the gateway shape, the request's Content-Type copied by the handler.
func TestBareRows(t *testing.T) {
	if _, err := exec.LookPath("valgrind"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("valgrind is not installed; CI must run this test")
		}
		t.Skip("valgrind is not installed (apt-get install valgrind)")
	}
	cmd := exec.Command("sh", "-c", "sh ../scripts/sdk.sh run -- go run ./bench/cmd/callcost -runs 1 -only 1,4 -shapes plain,gateway -calls 300 -warmup 100 -conns 4")
	cmd.Dir = "../../.."
	var out, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, stderr.String())
	}
	// | # | variant | then per shape: count | to bare | to floor | spread | GCs |
	shape := ` ([\d.]+)k \| ([^|]+) \| ([^|]+) \| [^|]+ \| \d+ \|`
	row := regexp.MustCompile(`(?m)^\| (\d+) \| [^|]+ \|` + shape + shape + `$`)
	rows := row.FindAllStringSubmatch(out.String(), -1)
	if len(rows) != 2 || rows[0][1] != "1" || rows[1][1] != "4" {
		t.Fatalf("want rows 1 and 4, each with both shapes, got:\n%s", out.String())
	}
	count := func(r []string, shape int) float64 {
		k, _ := strconv.ParseFloat(r[2+3*shape], 64)
		return k
	}
	for _, r := range rows {
		for shape := range 2 {
			// A Go HTTP/1.1 call costs tens of thousands of instructions; a
			// count outside this range is a broken measurement, not a slow
			// server.
			if k := count(r, shape); k < 10 || k > 500 {
				t.Errorf("variant %s, shape %d: %gk instructions per call, want 10k to 500k:\n%s", r[1], shape, k, out.String())
			}
		}
		// The gateway's seven request headers and the Content-Type the
		// handler sets cost net/http thousands of instructions more.
		if count(r, 1) <= count(r, 0) {
			t.Errorf("variant %s: the gateway call counts no more than the plain one; were its headers sent?\n%s", r[1], out.String())
		}
	}
	bare, floor := rows[0], rows[1]
	for shape := range 2 {
		toBare, toFloor := 3+3*shape, 4+3*shape
		if bare[toBare] != "1.00×" || floor[toFloor] != "1.00×" {
			t.Errorf("shape %d: want bare at 1.00× to bare and the floor at 1.00× to the floor:\n%s", shape, out.String())
		}
		// Limits and two answer headers cost net/http thousands of
		// instructions a call: the floor above bare, bare below the floor.
		if count(floor, shape) <= count(bare, shape) || !strings.HasPrefix(bare[toFloor], "0.") {
			t.Errorf("shape %d: want the floor above bare and bare's ratio to it below 1:\n%s", shape, out.String())
		}
	}
}
