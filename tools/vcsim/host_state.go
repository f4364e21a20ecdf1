package main

import (
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// Host connection states, as vCenter reports them.
const (
	hostConnected     = types.HostSystemConnectionStateConnected
	hostDisconnected  = types.HostSystemConnectionStateDisconnected
	hostNotResponding = types.HostSystemConnectionStateNotResponding
)

// refreshHost brings vCenter's view of a host in line with the model: a host
// that failed stops responding once vCenter notices (see host_power.go), one
// that recovered is connected again (vCenter reconnects a host that answers
// again by itself), and a host that a user disconnected stays disconnected
// either way. Its VMs, the datastores it mounts, and the probe listeners of
// the host and its VMs, follow. Call with mu held.
func (l *lab) refreshHost(name string) {
	if host := findHost(l.world, name); host != nil {
		want := host.Runtime.ConnectionState
		failed := l.hostFailed(name)
		switch {
		case failed && want == hostConnected && l.noticed(name, l.health(name)):
			want = hostNotResponding
		case !failed && want == hostNotResponding:
			want = hostConnected
		}
		l.setHostConnection(nil, host, want)
		l.refreshVMsOn(host)
		l.refreshDatastores()
	}
	l.syncAddress(l.addrs.hostIP[name])
	l.files.syncOrphans(l)
}

// refreshVMsOn refreshes the VMs of a host and their probe listeners. Call
// with mu held.
func (l *lab) refreshVMsOn(host *simulator.HostSystem) {
	for _, vm := range vmsOnHost(host.Self) {
		l.refreshVM(vm)
		l.syncAddress(guestIP(vm))
	}
}

// setHostConnection changes a host's connection state and posts the event
// vCenter posts for that change, as ctx's user (the system's if ctx is nil).
// The caller refreshes the host's VMs. Call with mu held.
func (l *lab) setHostConnection(ctx *simulator.Context, host *simulator.HostSystem, state types.HostSystemConnectionState) {
	if host.Runtime.ConnectionState == state {
		return
	}
	simulator.Map.Update(host, []types.PropertyChange{
		{Name: "runtime.connectionState", Val: state},
		{Name: "summary.runtime.connectionState", Val: state},
	})
	postEvents(ctx, hostConnectionEvent(host, state))
}

// hostConnectionEvent is the event vCenter posts when a host enters state,
// with vCenter's message (the simulator has no template for these events).
func hostConnectionEvent(host *simulator.HostSystem, state types.HostSystemConnectionState) types.BaseEvent {
	event := hostEvent(host)
	where := host.Name
	if dc := event.Datacenter; dc != nil {
		where += " in " + dc.Name
	}
	switch state {
	case hostNotResponding:
		event.FullFormattedMessage = "Host " + where + " is not responding"
		return &types.HostConnectionLostEvent{HostEvent: event}
	case hostDisconnected:
		event.FullFormattedMessage = "Disconnected from " + where + ". Reason: userRequest"
		return &types.HostDisconnectedEvent{HostEvent: event, Reason: "userRequest"}
	}
	event.FullFormattedMessage = "Connected to " + where
	return &types.HostConnectedEvent{HostEvent: event}
}

// hostConnectionOf returns the connection state of the host a VM runs on.
func hostConnectionOf(vm *simulator.VirtualMachine) types.HostSystemConnectionState {
	if host := hostOf(vm); host != nil {
		return host.Runtime.ConnectionState
	}
	return hostConnected
}

// hostOf returns the host a VM runs on, nil if it has none.
func hostOf(vm *simulator.VirtualMachine) *simulator.HostSystem {
	if vm.Runtime.Host == nil {
		return nil
	}
	host, _ := simulator.Map.Get(*vm.Runtime.Host).(*simulator.HostSystem)
	return host
}

// vmsOnHost returns the VMs whose runtime.host is host. It reads
// runtime.host rather than the host's vm list, which the simulator's
// RelocateVM_Task does not update.
func vmsOnHost(host types.ManagedObjectReference) []*simulator.VirtualMachine {
	var vms []*simulator.VirtualMachine
	for _, vm := range allVMs() {
		if vm.Runtime.Host != nil && *vm.Runtime.Host == host {
			vms = append(vms, vm)
		}
	}
	return vms
}

// findHost returns the HostSystem named name, nil if vCenter has none (a
// spare host not added yet).
func findHost(w *World, name string) *simulator.HostSystem {
	if ref, ok := w.Hosts[name]; ok {
		if host, ok := simulator.Map.Get(ref).(*simulator.HostSystem); ok && host.Name == name {
			return host
		}
	}
	for _, e := range simulator.Map.All("HostSystem") {
		if host, ok := e.(*simulator.HostSystem); ok && host.Name == name {
			return host
		}
	}
	return nil
}
