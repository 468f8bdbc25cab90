// Package freeport asks the kernel for TCP ports free on 127.0.0.1, for the
// test programs that start functions and containers on this machine.
package freeport

import (
	"fmt"
	"net"
)

// Get returns n distinct ports free on 127.0.0.1 at the moment: every
// listener stays open until all n are chosen, so no two are the same.
func Get(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free port on 127.0.0.1: %w", err)
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
