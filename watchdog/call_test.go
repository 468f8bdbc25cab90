package watchdog

import (
	"encoding/binary"
	"encoding/hex"
	"regexp"
	"strings"
	"testing"
)

// FuzzFormatUUID checks the UUID text, worked out eight digits at a time,
// against encoding/hex's.
func FuzzFormatUUID(f *testing.F) {
	f.Add(uint64(0), uint64(0))
	f.Add(^uint64(0), ^uint64(0))
	f.Add(uint64(0x0123456789abcdef), uint64(0xfedcba9876543210))
	f.Add(uint64(0x9a9a9a9a09090909), uint64(0xa0a0a0a00f0f0f0f))
	f.Fuzz(func(t *testing.T, hi, lo uint64) {
		var u [16]byte
		binary.BigEndian.PutUint64(u[:8], hi)
		binary.BigEndian.PutUint64(u[8:], lo)
		h := hex.EncodeToString(u[:])
		want := h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
		var b [36]byte
		formatUUID(&b, hi, lo)
		if got := string(b[:]); got != want {
			t.Errorf("formatUUID(%#x, %#x) = %s, want %s", hi, lo, got, want)
		}
	})
}

// TestNewIDIsVersion4 checks a generated call id's version and variant
// (RFC 9562), and that two calls get different ids.
func TestNewIDIsVersion4(t *testing.T) {
	uuid4 := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for range 1000 {
		id := new(call).newID()
		if !uuid4.MatchString(id) {
			t.Fatalf("newID() = %q, want a version 4 UUID", id)
		}
		if seen[id] {
			t.Fatalf("newID() made %q twice", id)
		}
		seen[id] = true
	}
}

// TestMadeID checks that only an id newID made counts as the watchdog's
// own, so a caller's id, whatever its text, is still checked before the
// access line writes it unquoted.
func TestMadeID(t *testing.T) {
	made := new(call)
	made.id = made.newID()
	tests := []struct {
		name string
		c    *call
		want bool
	}{
		{"made by newID", made, true},
		{"the caller's", &call{id: "3f2a9c1e-7b4d-4e8f-a1c2-5d6e7f809a1b"}, false},
		{"the caller's, not plain", &call{id: `3f2a9c1e-7b4d-4e8f-a1c2-5d6e7f80"a=b`}, false},
		{"a copy of a made id", &call{id: strings.Clone(made.id)}, false},
		{"none", new(call), false},
	}
	for _, tt := range tests {
		if got := tt.c.madeID(); got != tt.want {
			t.Errorf("%s: madeID() = %v, want %v", tt.name, got, tt.want)
		}
	}
}
