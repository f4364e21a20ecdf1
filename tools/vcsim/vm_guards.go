package main

import (
	"strings"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// hostTasks are the VM tasks that vCenter carries out through the VM's host,
// by the simulator's descriptionId: vCenter refuses them while the host is
// not connected. Clone and relocate fault with InvalidHostState ("The
// operation is not allowed in the current state of the host", naming the
// host: a VMware engineer in vmware/pyvmomi-community-samples#500); the
// others with HostNotConnected, the fault the API reference gives for "a
// method [that] needs to communicate with a host that has been disconnected"
// (which of the two each of these raises is not confirmed method by method).
var hostTasks = map[string]bool{
	"VirtualMachine.powerOn":                  true,
	"VirtualMachine.powerOff":                 true,
	"VirtualMachine.suspend":                  true,
	"VirtualMachine.reset":                    true,
	"VirtualMachine.reconfigVm":               true,
	"VirtualMachine.upgradeVm":                true,
	"VirtualMachine.destroy":                  true,
	"VirtualMachine.customizeVm":              true,
	"VirtualMachine.createSnapshot":           true,
	"VirtualMachine.revertSnapshot":           true,
	"VirtualMachine.RemoveAllSnapshots":       true,
	"VirtualMachineSnapshot.removeSnapshot":   true,
	"VirtualMachineSnapshot.revertToSnapshot": true,
	"VirtualMachine.cloneVm":                  true,
	"VirtualMachine.relocateVm":               true,
}

// guardTask makes a new task on a VM fail as vCenter's would when it cannot
// be carried out: its host is not connected, or, for a power-on, another
// registration or host holds the lock on its files. The checks run when the
// task runs. Called before it runs.
func (l *lab) guardTask(task *simulator.Task) {
	desc := task.Info.DescriptionId
	if task.Info.Entity == nil || task.Info.Entity.Type != "VirtualMachine" || !hostTasks[desc] {
		return
	}
	ref := *task.Info.Entity
	run := task.Execute
	task.Execute = func(t *simulator.Task) (types.AnyType, types.BaseMethodFault) {
		vm, ok := simulator.Map.Get(ref).(*simulator.VirtualMachine)
		if ok {
			if fault := l.taskRefusal(vm, desc); fault != nil {
				return nil, fault
			}
		}
		return run(t)
	}
}

// taskRefusal is the fault a task on vm fails with, nil if it may run.
func (l *lab) taskRefusal(vm *simulator.VirtualMachine, desc string) types.BaseMethodFault {
	l.mu.Lock()
	defer l.mu.Unlock()
	if fault := l.hostRefusal(vm, strings.HasSuffix(desc, ".cloneVm") || strings.HasSuffix(desc, ".relocateVm")); fault != nil {
		return fault
	}
	if desc == "VirtualMachine.powerOn" && vm.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOn {
		if holder := l.files.lockHolder(vm); holder != "" {
			return lockedFault(vm)
		}
	}
	return nil
}

// hostRefusal is the fault of an operation that needs the VM's host while
// vCenter cannot reach it: invalidHostState for clone and relocate,
// HostNotConnected for the others. While the host is silent but vCenter has
// not noticed yet, vCenter tries and cannot reach it: HostNotReachable (not
// confirmed). Call with mu held.
func (l *lab) hostRefusal(vm *simulator.VirtualMachine, invalidHostState bool) types.BaseMethodFault {
	host := hostOf(vm)
	if host == nil {
		return nil
	}
	switch {
	case host.Runtime.ConnectionState != hostConnected && invalidHostState:
		return &types.InvalidHostState{Host: &host.Self}
	case host.Runtime.ConnectionState != hostConnected:
		return &types.HostNotConnected{}
	case l.hostFailed(host.Name):
		return &types.HostNotReachable{}
	}
	return nil
}
