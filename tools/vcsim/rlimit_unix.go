//go:build unix

package main

import (
	"log"
	"syscall"
)

// raiseFileLimit raises the soft limit on open files to the hard limit: a
// probe listener per VM address needs more descriptors than the usual soft
// limit of 1,024 in a lab of thousands of VMs.
func raiseFileLimit() {
	var limit syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &limit); err != nil {
		log.Printf("reading the open-file limit: %v", err)
		return
	}
	if limit.Cur >= limit.Max {
		return
	}
	limit.Cur = limit.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &limit); err != nil {
		log.Printf("raising the open-file limit to %d: %v", limit.Max, err)
	}
}
