package main

import "syscall"

const tmpfsMagic = 0x01021994

// tmpfsFree returns the bytes available on dir if it is a writable tmpfs,
// else 0.
func tmpfsFree(dir string) uint64 {
	var st syscall.Statfs_t
	if syscall.Statfs(dir, &st) != nil || st.Type != tmpfsMagic {
		return 0
	}
	if syscall.Access(dir, 2 /* W_OK */) != nil {
		return 0
	}
	return st.Bavail * uint64(st.Bsize)
}
