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

// Every step names a variant that exists and comes before it, so the table
// never diffs against a row that is not there or not yet measured.
func TestVariantsStepOverEarlierOnes(t *testing.T) {
	for i, v := range variants {
		if v.over < 0 || v.over > i {
			t.Errorf("variant %d (%s) steps over %d: want an earlier variant", i+1, v.name, v.over)
		}
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

// TestBareRows runs the README's command, from tests/, with the two cheapest
// variants and a few hundred calls each, and checks the table it prints.
func TestBareRows(t *testing.T) {
	if _, err := exec.LookPath("valgrind"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("valgrind is not installed; CI must run this test")
		}
		t.Skip("valgrind is not installed (apt-get install valgrind)")
	}
	cmd := exec.Command("sh", "-c", "sh ../scripts/sdk.sh run -- go run ./bench/cmd/callcost -runs 1 -only 1,4 -calls 300 -warmup 100 -conns 4")
	cmd.Dir = "../../.."
	var out, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, stderr.String())
	}
	row := regexp.MustCompile(`(?m)^\| (\d+) \| ([^|]+) \| ([\d.]+)k \| ([^|]+) \| ([^|]+) \|`)
	rows := row.FindAllStringSubmatch(out.String(), -1)
	if len(rows) != 2 {
		t.Fatalf("want 2 rows, got:\n%s", out.String())
	}
	for _, r := range rows {
		// A Go HTTP/1.1 call costs tens of thousands of instructions; a count
		// outside this range is a broken measurement, not a slow server.
		if k, _ := strconv.ParseFloat(r[3], 64); k < 10 || k > 500 {
			t.Errorf("variant %s: %sk instructions per call, want 10k to 500k:\n%s", r[1], r[3], out.String())
		}
	}
	if rows[0][4] != "1.00×" || !strings.HasSuffix(rows[1][5], "over 1") {
		t.Errorf("want row 1 at 1.00× and row 4 stepping over 1:\n%s", out.String())
	}
}
