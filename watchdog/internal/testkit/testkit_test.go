package testkit

import (
	"slices"
	"testing"
)

func TestMetricValue(t *testing.T) {
	const scrape = "# TYPE http_requests_in_flight gauge\n" +
		"http_requests_in_flight 0\n" +
		"http_requests_in_flight_max 9\n" +
		`http_requests_total{code="200",method="get"} 3` + "\n" +
		"broken NaNx\n"
	for _, tt := range []struct {
		series  string
		v       float64
		ok, err bool
	}{
		{"http_requests_in_flight", 0, true, false}, // 0, yet there
		{"http_requests_in_flight_max", 9, true, false},
		{`http_requests_total{code="200",method="get"}`, 3, true, false},
		{`http_requests_total{code="500",method="get"}`, 0, false, false},
		{"http_requests", 0, false, false}, // a prefix is not the series
		{"broken", 0, true, true},
	} {
		v, ok, err := MetricValue(scrape, tt.series)
		if v != tt.v || ok != tt.ok || (err != nil) != tt.err {
			t.Errorf("MetricValue(%s) = %g, %t, %v; want %g, %t, error %t", tt.series, v, ok, err, tt.v, tt.ok, tt.err)
		}
	}
}

func TestParseLogs(t *testing.T) {
	records, other := ParseLogs(`{"msg":"serving","port":8080}` + "\nwatchdog: second signal\nnull\n" + `{"msg":"call"}` + "\n")
	if got := Messages(records); !slices.Equal(got, []string{"serving", "call"}) {
		t.Errorf("messages %q, want serving, call", got)
	}
	if records[0]["port"] != float64(8080) {
		t.Errorf("first record %v, want port 8080", records[0])
	}
	if !slices.Equal(other, []string{"watchdog: second signal", "null"}) {
		t.Errorf("other lines %q, want the text line and null", other)
	}
}
