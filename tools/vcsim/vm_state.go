package main

import (
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// guestCondition is what became of a running guest OS.
type guestCondition int

const (
	guestRunning guestCondition = iota
	// guestCrashed: the kernel died (a panic). The VM stays powered on, its
	// heartbeat is red and its address stops answering.
	guestCrashed
	// guestHung: the guest's services hung but its TCP stack lives. The
	// heartbeat is red, yet its address still answers probes.
	guestHung
)

func (c guestCondition) String() string {
	switch c {
	case guestCrashed:
		return "crashed"
	case guestHung:
		return "hung"
	}
	return "running"
}

// setGuest records what became of a VM's guest (chaos vm_crash, vm_hang,
// vm_recover) and updates everything that follows. Nothing is posted to the
// event manager: nobody asked for this.
func (l *lab) setGuest(vm *simulator.VirtualMachine, c guestCondition) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c == guestRunning {
		delete(l.guests, vm.Self)
	} else {
		l.guests[vm.Self] = c
	}
	l.refreshVM(vm)
	l.syncAddress(guestIP(vm))
	l.settle()
}

// guest returns the condition of a VM's guest. Call with mu held.
func (l *lab) guest(ref types.ManagedObjectReference) guestCondition {
	return l.guests[ref]
}

// refreshVM brings vCenter's view of a VM in line with the model: a VM is
// connected when its host is (vCenter reports the VMs of a not responding or
// disconnected host as disconnected, with their last known power state), and
// its guest heartbeat and tools status follow its guest. Call with mu held.
func (l *lab) refreshVM(vm *simulator.VirtualMachine) {
	conn := types.VirtualMachineConnectionStateConnected
	if hostConnectionOf(vm) != hostConnected {
		conn = types.VirtualMachineConnectionStateDisconnected
	}
	beat := heartbeat(vm.Runtime.PowerState, conn, l.guest(vm.Self))
	var changes []types.PropertyChange
	if vm.Runtime.ConnectionState != conn {
		changes = append(changes,
			types.PropertyChange{Name: "runtime.connectionState", Val: conn},
			types.PropertyChange{Name: "summary.runtime.connectionState", Val: conn})
	}
	if vm.GuestHeartbeatStatus != beat || vm.Summary.QuickStats.GuestHeartbeatStatus != beat {
		changes = append(changes,
			types.PropertyChange{Name: "guestHeartbeatStatus", Val: beat},
			types.PropertyChange{Name: "summary.quickStats.guestHeartbeatStatus", Val: beat})
	}
	changes = append(changes, toolsChanges(vm, beat)...)
	if len(changes) > 0 {
		simulator.Map.Update(vm, changes)
	}
}

// heartbeat is the guest heartbeat vCenter shows: gray when it cannot know
// (powered off, or the host does not answer), red when the guest's tools
// stopped beating, green otherwise.
func heartbeat(power types.VirtualMachinePowerState, conn types.VirtualMachineConnectionState,
	guest guestCondition) types.ManagedEntityStatus {
	switch {
	case power != types.VirtualMachinePowerStatePoweredOn || conn != types.VirtualMachineConnectionStateConnected:
		return types.ManagedEntityStatusGray
	case guest != guestRunning:
		return types.ManagedEntityStatusRed
	}
	return types.ManagedEntityStatusGreen
}

// toolsChanges makes the guest's tools status agree with its heartbeat: the
// tools run exactly while they beat green.
func toolsChanges(vm *simulator.VirtualMachine, beat types.ManagedEntityStatus) []types.PropertyChange {
	if vm.Guest == nil {
		return nil
	}
	tools, state := string(types.VirtualMachineToolsRunningStatusGuestToolsNotRunning), "notRunning"
	if beat == types.ManagedEntityStatusGreen {
		tools, state = string(types.VirtualMachineToolsRunningStatusGuestToolsRunning), "running"
	}
	if vm.Guest.ToolsRunningStatus == tools && vm.Guest.GuestState == state {
		return nil
	}
	changes := []types.PropertyChange{
		{Name: "guest.toolsRunningStatus", Val: tools},
		{Name: "guest.guestState", Val: state},
	}
	if vm.Summary.Guest != nil {
		changes = append(changes, types.PropertyChange{Name: "summary.guest.toolsRunningStatus", Val: tools})
	}
	return changes
}

// vmAlive tells whether a VM's guest runs and is reachable: powered on, not
// crashed (a hung guest still answers), its host did not lose power under it,
// the host's VM network works (see host_power.go), and one of its network
// adapters is connected (see adapterConnected).
// Call with mu held.
func (l *lab) vmAlive(vm *simulator.VirtualMachine) bool {
	if !l.files.runs(vm) || l.guest(vm.Self) == guestCrashed || !adapterConnected(vm) {
		return false
	}
	return l.guestNetworkUp(hostOf(vm))
}

// adapterConnected tells whether a VM can be reached over its network: it
// has no network adapter (the lab's VMs answer at their address), or one
// whose connectable.connected is true. A guest whose every adapter is
// disconnected (a drill copy, a VM a person cut off) keeps its address in
// guest.ipAddress, as the guest's tools report it, but nothing reaches it
// (vSphere API, VirtualDeviceConnectInfo: "connected: indicates whether the
// device is currently connected"). The lab reads it when the VM's power
// state, address or host changes, not when only its devices do.
func adapterConnected(vm *simulator.VirtualMachine) bool {
	if vm.Config == nil {
		return true
	}
	nics := object.VirtualDeviceList(vm.Config.Hardware.Device).SelectByType((*types.VirtualEthernetCard)(nil))
	for _, nic := range nics {
		if c := nic.GetVirtualDevice().Connectable; c == nil || c.Connected {
			return true
		}
	}
	return len(nics) == 0
}

// vmChanged follows a change of a VM's power state, guest address or host.
// A power-off ends whatever became of the guest: the next power-on boots it
// afresh.
func (l *lab) vmChanged(vm *simulator.VirtualMachine) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if vm.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOn {
		delete(l.guests, vm.Self)
		delete(l.files.lost, vm.Self)
	}
	old := l.addrs.vmIP[vm.Self]
	l.addrs.setVM(vm.Self, guestIP(vm))
	l.refreshVM(vm)
	l.syncAddress(old)
	l.syncAddress(guestIP(vm))
	l.settle()
}

// vmRemoved forgets a VM removed from the inventory (destroyed or
// unregistered); its files remember it (see fileModel.vmLeft).
func (l *lab) vmRemoved(ref types.ManagedObjectReference) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if vm, ok := simulator.Map.Get(ref).(*simulator.VirtualMachine); ok {
		l.files.vmLeft(vm)
	}
	delete(l.guests, ref)
	delete(l.taskFaults, ref)
	delete(l.pending, ref)
	old := l.addrs.vmIP[ref]
	l.addrs.setVM(ref, "")
	l.syncAddress(old)
	l.settle()
}
