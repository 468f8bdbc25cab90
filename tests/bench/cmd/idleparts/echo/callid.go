//go:build callid

package main

import (
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
)

// As the watchdog: a call id, a version 4 UUID from math/rand/v2 (the
// runtime's ChaCha8 generator), made once.
func init() {
	parts = append(parts, func() {
		var u [16]byte
		binary.BigEndian.PutUint64(u[:8], rand.Uint64())
		binary.BigEndian.PutUint64(u[8:], rand.Uint64())
		u[6] = u[6]&0x0f | 0x40
		u[8] = u[8]&0x3f | 0x80
		_ = hex.EncodeToString(u[:])
	})
}
