//go:build !linux

package main

// tmpfsFree reports no tmpfs outside Linux: data goes to the temporary
// directory.
func tmpfsFree(string) uint64 {
	return 0
}
