package main

import (
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// taskSucceeded completes what the simulator's tasks leave undone compared
// with vCenter. It runs without mu: the changes it makes are followed by the
// lab hook like a client's.
func (l *lab) taskSucceeded(info types.TaskInfo) {
	if info.Entity == nil {
		return
	}
	switch info.DescriptionId {
	case "VirtualMachine.cloneVm":
		if clone, ok := info.Result.(types.ManagedObjectReference); ok {
			inheritGuestIP(*info.Entity, clone)
		}
	case "VirtualMachineSnapshot.revertToSnapshot", "VirtualMachine.revertSnapshot":
		powerOffAfterRevert(*info.Entity) // the VM: see setTaskEntity
	case "Folder.registerVm":
		if vm, ok := info.Result.(types.ManagedObjectReference); ok {
			l.restoreFromFiles(vm)
		}
	case "VirtualMachine.destroy":
		l.mu.Lock()
		l.files.deleted(*info.Entity)
		l.mu.Unlock()
	}
	l.followFiles(info)
	publishFreeSpace()
}

// followFiles records where a VM's files last ran: where it was powered on,
// cloned to or moved by vCenter (see registration.go). A registration (whose
// inner task is a Folder.createVm) does not move them.
func (l *lab) followFiles(info types.TaskInfo) {
	ref := *info.Entity
	switch info.DescriptionId {
	case "VirtualMachine.powerOn", "VirtualMachine.relocateVm":
	case "VirtualMachine.cloneVm":
		clone, ok := info.Result.(types.ManagedObjectReference)
		if !ok {
			return
		}
		ref = clone
	default:
		return
	}
	if vm, ok := simulator.Map.Get(ref).(*simulator.VirtualMachine); ok {
		l.mu.Lock()
		l.ranOn(vm)
		l.mu.Unlock()
	}
}

// setTaskEntity makes a new task's entity what vCenter reports. The
// simulator names the snapshot as the entity of a snapshot's tasks
// (RevertToSnapshot_Task, RemoveSnapshot_Task), but TaskInfo.entity is a
// ManagedEntity, which a snapshot is not: pyVmomi refuses to read such a
// task. vCenter names the VM. It also gives the entity's name as entityName,
// where the simulator gives its reference.
func setTaskEntity(info *types.TaskInfo) {
	if info.Entity == nil {
		return
	}
	if snap, ok := simulator.Map.Get(*info.Entity).(*simulator.VirtualMachineSnapshot); ok {
		vm := snap.Vm
		info.Entity = &vm
	}
	if e, ok := simulator.Map.Get(*info.Entity).(mo.Entity); ok && e.Entity().Name != "" {
		info.EntityName = e.Entity().Name
	}
}

// inheritGuestIP gives a clone its source's guest address, unless the clone
// spec set one: a cloned guest boots with its source's network
// configuration. The address answers probes once the clone runs.
func inheritGuestIP(source, clone types.ManagedObjectReference) {
	src, ok := simulator.Map.Get(source).(*simulator.VirtualMachine)
	if !ok || guestIP(src) == "" {
		return
	}
	vm, ok := simulator.Map.Get(clone).(*simulator.VirtualMachine)
	if !ok || vm.Guest == nil || guestIP(vm) != "" {
		return
	}
	ip := guestIP(src)
	changes := []types.PropertyChange{
		{Name: "guest.ipAddress", Val: ip},
		{Name: "summary.guest.ipAddress", Val: ip},
	}
	if len(vm.Guest.Net) > 0 {
		vm.Guest.Net[0].IpAddress = []string{ip}
		changes = append(changes, types.PropertyChange{Name: "guest.net", Val: vm.Guest.Net})
	}
	simulator.Map.Update(vm, changes)
}

// powerOffAfterRevert powers off a VM that was running when it was reverted
// to a snapshot. The simulator's snapshots never hold the VM's memory, and
// vCenter leaves a VM reverted to such a snapshot powered off; the simulator
// would leave it running, and a crashed guest crashed.
func powerOffAfterRevert(ref types.ManagedObjectReference) {
	vm, ok := simulator.Map.Get(ref).(*simulator.VirtualMachine)
	if !ok || vm.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOn {
		return
	}
	off := types.VirtualMachinePowerStatePoweredOff
	simulator.Map.Update(vm, []types.PropertyChange{
		{Name: "runtime.powerState", Val: off},
		{Name: "summary.runtime.powerState", Val: off},
		{Name: "summary.runtime.bootTime", Val: nil},
	})
}
