package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// fileModel is what the lab knows of the VMs' files, beside vCenter's
// inventory: which files a running VM process holds locked, the leases a
// dead host's locks still have, the processes of VMs that left the inventory
// while running, and what each set of files holds for a registration (its
// configuration, snapshot tree, the host it last ran on). A VM's files are
// named by its config.files.vmPathName. Guarded by the lab's mu.
//
// A running VM's files are locked by its host (VMFS leases renewed by the
// host's heartbeat, NFS lock files): another registration of the same files
// cannot be powered on while the lock is held, nor for lock_lease_seconds
// after its host lost power (Broadcom KB 330024).
type fileModel struct {
	lost    map[types.ManagedObjectReference]time.Time // VMs whose host lost power while they ran
	leases  map[string]lease                           // vmx path -> lock of a process that died
	orphans []*orphan                                  // running processes of VMs removed from vCenter
	records map[string]*fileRecord                     // vmx path -> what the files hold
}

// lease is a lock left by a process that died with its host.
type lease struct {
	holder  types.ManagedObjectReference
	host    string
	expires time.Time
}

// orphan is a VM process that runs on although vCenter removed the VM (with
// its host) from the inventory: it keeps its lock, and its guest its address.
type orphan struct {
	host, path, ip string
}

// fileRecord is what a VM's files say about it, for the next registration.
type fileRecord struct {
	lastHost  string                          // the host the VM last ran on (uuid.location)
	config    *types.VirtualMachineConfigInfo // the configuration (.vmx), once unregistered
	snapshots *simulator.SnapshotFiles        // the snapshot tree (.vmsd, .vmsn), once unregistered
	ip        string                          // the address its guest reports
	left      types.ManagedObjectReference    // the registration that last left the inventory
}

func newFileModel() *fileModel {
	return &fileModel{
		lost:    map[types.ManagedObjectReference]time.Time{},
		leases:  map[string]lease{},
		records: map[string]*fileRecord{},
	}
}

// vmxPath is the files a VM uses.
func vmxPath(vm *simulator.VirtualMachine) string {
	if vm.Config == nil {
		return ""
	}
	return strings.TrimSpace(vm.Config.Files.VmPathName)
}

func (f *fileModel) record(path string) *fileRecord {
	r, ok := f.records[path]
	if !ok {
		r = &fileRecord{}
		f.records[path] = r
	}
	return r
}

// runs tells whether a VM's process runs (and holds its lock): vCenter's
// power state says so and its host did not lose power under it.
func (f *fileModel) runs(vm *simulator.VirtualMachine) bool {
	_, lost := f.lost[vm.Self]
	return vm.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOn && !lost
}

// cutPower stops the processes of a host that lost power: its VMs and its
// orphans. Their locks expire after lease. Returns the addresses of the
// orphans that stopped.
func (f *fileModel) cutPower(host string, leaseFor time.Duration) (silenced []string) {
	now := time.Now()
	for _, vm := range allVMs() {
		if h := hostOf(vm); h != nil && h.Name == host && f.runs(vm) {
			f.lost[vm.Self] = now
			f.leases[vmxPath(vm)] = lease{holder: vm.Self, host: host, expires: now.Add(leaseFor)}
		}
	}
	kept := f.orphans[:0]
	for _, o := range f.orphans {
		if o.host == host {
			f.leases[o.path] = lease{host: host, expires: now.Add(leaseFor)}
			silenced = append(silenced, o.ip)
			continue
		}
		kept = append(kept, o)
	}
	f.orphans = kept
	return silenced
}

// powerBack is a host's power coming back: it boots without its VMs, which
// are returned for vCenter to show powered off, and it no longer holds any
// lock.
func (f *fileModel) powerBack(host string) []*simulator.VirtualMachine {
	var stopped []*simulator.VirtualMachine
	for ref := range f.lost {
		vm, ok := simulator.Map.Get(ref).(*simulator.VirtualMachine)
		if !ok {
			delete(f.lost, ref)
			continue
		}
		if h := hostOf(vm); h != nil && h.Name == host {
			delete(f.lost, ref)
			stopped = append(stopped, vm)
		}
	}
	for path, l := range f.leases {
		if l.host == host {
			delete(f.leases, path)
		}
	}
	return stopped
}

// lockHolder names who holds the lock on a VM's files against vm (another
// registration running them, a removed VM still running, or the lease of a
// dead host), "" if nobody does.
func (f *fileModel) lockHolder(vm *simulator.VirtualMachine) string {
	path := vmxPath(vm)
	if path == "" {
		return ""
	}
	for _, other := range allVMs() {
		if other.Self != vm.Self && vmxPath(other) == path && f.runs(other) {
			host := "?"
			if h := hostOf(other); h != nil {
				host = h.Name
			}
			return fmt.Sprintf("%s (%s) running on %s", other.Name, other.Self.Value, host)
		}
	}
	for _, o := range f.orphans {
		if o.path == path {
			return "a VM removed from vCenter still running on " + o.host
		}
	}
	if l, ok := f.leases[path]; ok {
		if l.holder != vm.Self && time.Now().Before(l.expires) {
			return fmt.Sprintf("host %s, whose lease ends in %.1f s", l.host, time.Until(l.expires).Seconds())
		}
		if !time.Now().Before(l.expires) {
			delete(f.leases, path)
		}
	}
	return ""
}

// lockedFault is what vCenter answers a power-on whose files are locked: the
// VMX fails to open the disk, "Failed to lock the file" (seen in the fault
// messages of vmware/vic#3183 and #5713, fog/fog-vsphere#121).
func lockedFault(vm *simulator.VirtualMachine) types.BaseMethodFault {
	disk := vmxPath(vm)
	for _, d := range vm.Config.Hardware.Device {
		if vd, ok := d.(*types.VirtualDisk); ok {
			if b, ok := vd.Backing.(types.BaseVirtualDeviceFileBackingInfo); ok {
				disk = b.GetVirtualDeviceFileBackingInfo().FileName
				break
			}
		}
	}
	return &types.GenericVmConfigFault{
		VmConfigFault: types.VmConfigFault{VimFault: types.VimFault{MethodFault: types.MethodFault{
			FaultMessage: []types.LocalizableMessage{
				{Key: "msg.moduletable.powerOnFailed", Arg: []types.KeyAnyValue{{Key: "1", Value: "Disk"}},
					Message: "Module 'Disk' power on failed."},
				{Key: "msg.disk.noBackEnd", Arg: []types.KeyAnyValue{{Key: "1", Value: disk}},
					Message: "Cannot open the disk '" + disk + "' or one of the snapshot disks it depends on."},
				{Key: "msg.fileio.lock", Message: "Failed to lock the file"},
			}}}},
		Reason: "Failed to lock the file",
	}
}

// vmLeft follows a VM leaving the inventory: its files keep its
// configuration and snapshot tree for a later registration, and a process
// still running becomes an orphan, holding its lock.
func (f *fileModel) vmLeft(vm *simulator.VirtualMachine) {
	path := vmxPath(vm)
	if path == "" {
		return
	}
	r := f.record(path)
	r.config, r.ip, r.left = vm.Config, guestIP(vm), vm.Self
	r.snapshots = simulator.ReadSnapshotFiles(vm)
	if f.runs(vm) {
		if h := hostOf(vm); h != nil {
			f.orphans = append(f.orphans, &orphan{host: h.Name, path: path, ip: canonicalIP(guestIP(vm))})
		}
	}
	delete(f.lost, vm.Self)
}

// deleted follows a VM destroyed with its files (Destroy_Task deletes its
// directory, .vmsd included): they hold nothing for a registration any more.
// Call with mu held.
func (f *fileModel) deleted(vm types.ManagedObjectReference) {
	for path, r := range f.records {
		if r.left == vm {
			delete(f.records, path)
		}
	}
}

// syncOrphans updates the probe listeners of the orphans' addresses. Call
// with mu held.
func (f *fileModel) syncOrphans(l *lab) {
	for _, o := range f.orphans {
		l.syncAddress(o.ip)
	}
}

// orphanAlive tells whether an orphan's guest answers at ip. Call with mu
// held.
func (l *lab) orphanAlive(ip string) bool {
	for _, o := range l.files.orphans {
		if o.ip != ip {
			continue
		}
		h, ok := l.hosts[o.host]
		if !ok || (!h.injected && (!h.isolated || h.vmNetwork)) {
			return true
		}
	}
	return false
}
