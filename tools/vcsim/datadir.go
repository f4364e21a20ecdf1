package main

import "os"

// The simulator backs every datastore with a real directory and creates a
// directory and five to eight small files per VM (.vmx, .nvram, vmware.log,
// disk, snapshot files). On a disk file system that dominates start-up (10,000
// VMs: about 30 s on this project's ext4 machines, under 10 s on tmpfs), so a
// memory file system is preferred when it has room.
const (
	shmDir          = "/dev/shm"
	dataBytesPerVM  = 8 << 10 // vmware.log takes one 4 KiB page; the rest are empty files
	dataBytesPerRun = 4 << 20
)

// dataDirParent returns where to create the run's data directory: the
// -data-dir flag if given, else /dev/shm when it is a tmpfs with room for
// twice the estimate, else the usual temporary directory.
func dataDirParent(flagValue string, vms int) string {
	if flagValue != "" {
		return flagValue
	}
	need := uint64(dataBytesPerRun) + uint64(vms)*dataBytesPerVM
	if tmpfsFree(shmDir) >= 2*need {
		return shmDir
	}
	return os.TempDir()
}
