package main

import (
	"fmt"
	"net"
	"strconv"
)

// loopbackListenAddr checks a -listen value and returns it as IP:PORT.
// Only loopback addresses are accepted: this project must never expose the
// simulator (which accepts any credentials) beyond the machine. "localhost"
// is taken as 127.0.0.1 rather than resolved.
func loopbackListenAddr(listen string) (string, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("-listen %q: %v (want IP:PORT, e.g. 127.0.0.1:0)", listen, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return "", fmt.Errorf("-listen %q: port %q is not a number between 0 and 65535", listen, port)
	}
	if host == "localhost" {
		host = "127.0.0.1"
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return "", fmt.Errorf("-listen %q: refusing to listen on non-loopback address %q (use 127.0.0.1 or ::1)", listen, host)
	}
	return net.JoinHostPort(ip.String(), port), nil
}
