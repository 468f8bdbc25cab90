package callshape

import (
	"slices"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"plain,gateway", []string{"plain", "gateway"}},
		{"gateway", []string{"gateway"}},
		{" gateway , plain", []string{"gateway", "plain"}},
	} {
		got, err := Parse(tc.in)
		var names []string
		for _, s := range got {
			names = append(names, s.Name)
		}
		if err != nil || !slices.Equal(names, tc.want) {
			t.Errorf("Parse(%q) = %v, %v; want %v", tc.in, names, err, tc.want)
		}
	}
	for _, bad := range []string{"", "plain,", "gw", "plain,plain"} {
		if _, err := Parse(bad); err == nil || !strings.Contains(err.Error(), "want plain, gateway or both") {
			t.Errorf("Parse(%q): error %v, want one naming the accepted shapes", bad, err)
		}
	}
}

// The gateway call carries every header the contract says a function
// receives from the gateway, each once, and the plain call none of them.
func TestGatewayHeaders(t *testing.T) {
	for _, h := range []string{"X-Call-Id", "X-Start-Time", "X-Forwarded-For", "X-Forwarded-Host", "User-Agent", "Content-Type"} {
		if Gateway.Get(h) == "" {
			t.Errorf("the gateway call lacks %s", h)
		}
		if Plain.Get(h) != "" {
			t.Errorf("the plain call carries %s", h)
		}
	}
	if Gateway.Get("Content-Type") != ContentType {
		t.Errorf("Content-Type %q, want %q", Gateway.Get("Content-Type"), ContentType)
	}
	seen := map[string]bool{}
	for _, kv := range Gateway.Header {
		if seen[kv[0]] {
			t.Errorf("%s twice", kv[0])
		}
		seen[kv[0]] = true
	}
}
