package jwtauth

import (
	"regexp"
	"strings"
	"testing"
)

func TestMatchAny(t *testing.T) {
	const fn = "openfaas-fn:echo"
	tests := []struct {
		patterns []string
		want     bool
	}{
		{nil, false},
		{[]string{}, false},
		{[]string{""}, false},
		{[]string{fn}, true},
		{[]string{"openfaas-fn:ech"}, false},
		{[]string{"openfaas-fn:echo2"}, false},
		{[]string{"*"}, true},
		{[]string{"**"}, true},
		{[]string{"openfaas-fn:*"}, true},
		{[]string{"*:echo"}, true},
		{[]string{"*echo*"}, true},
		{[]string{"openfaas-*:e*o"}, true},
		{[]string{"o*o"}, true},
		{[]string{"o*o*o"}, false},
		{[]string{"*fn:ech"}, false},
		{[]string{"staging:*"}, false},
		{[]string{"openfaas.fn:echo"}, false}, // regexp characters are literal
		{[]string{"openfaas-fn:ech."}, false},
		{[]string{"openfaas-fn:(echo)"}, false},
		{[]string{"staging:*", "openfaas-fn:*"}, true},
		{[]string{"OPENFAAS-FN:ECHO"}, false},
	}
	for _, tt := range tests {
		if got := matchAny(tt.patterns, fn); got != tt.want {
			t.Errorf("matchAny(%q, %q) = %t, want %t", tt.patterns, fn, got, tt.want)
		}
	}
}

// FuzzMatchAny holds the wildcard matcher to the regexp it replaces:
// "*" is any run of characters, everything else literal.
func FuzzMatchAny(f *testing.F) {
	for _, seed := range [][2]string{{"openfaas-fn:*", "openfaas-fn:echo"}, {"a*b*c", "aXbYc"}, {"*.*", "a.b"}, {"**a", "ba"}, {"", ""}} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, pattern, resource string) {
		expr := "^" + strings.ReplaceAll(regexp.QuoteMeta(pattern), `\*`, ".*") + "$"
		re, err := regexp.Compile("(?s)" + expr)
		if err != nil {
			t.Skip()
		}
		if got, want := matchAny([]string{pattern}, resource), re.MatchString(resource); got != want {
			t.Errorf("matchAny(%q, %q) = %t, regexp %s says %t", pattern, resource, got, expr, want)
		}
	})
}

// BenchmarkGranted is the permission check of one call with a typical
// grant: a wildcard permission and an exact audience.
func BenchmarkGranted(b *testing.B) {
	a := &jwtAuth{resource: "openfaas-fn:echo"}
	var c functionClaims
	c.Function.Permissions = []string{"staging:*", "openfaas-fn:*"}
	c.Function.Audience = []string{"openfaas-fn:echo"}
	b.ReportAllocs()
	for b.Loop() {
		if !a.granted(c) {
			b.Fatal("not granted")
		}
	}
}
