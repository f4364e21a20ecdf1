package main

import (
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// The simulator package gets ReconnectHostTask and DisconnectHostTask from
// tools/vcsim/_overlay, which `make vcsim` links into it through a shadow
// GOPATH. This line stops a build that does not see them.
var _ = (*simulator.HostSystem).ReconnectHostTask

// ReconnectHost implements HostSystem.ReconnectHost_Task as vCenter does: a
// host that does not answer cannot be reconnected (the task fails with
// NoHost, "cannot contact the specified host"); any other host, disconnected
// or already connected, ends up connected. A host the topology backs with a
// VM answers only once that VM runs and the host has booted.
func (l *lab) ReconnectHost(ctx *simulator.Context, host *simulator.HostSystem, _ *types.ReconnectHost_Task) soap.HasFault {
	task := simulator.CreateTask(host, "reconnect", func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.hostFailed(host.Name) {
			return nil, &types.NoHost{Name: host.Name}
		}
		l.setHostConnection(ctx, host, hostConnected)
		l.refreshVMsOn(host)
		l.refreshDatastores()
		l.settle()
		return nil, nil
	})
	return &methods.ReconnectHost_TaskBody{Res: &types.ReconnectHost_TaskResponse{Returnval: task.Run()}}
}

// DisconnectHost implements HostSystem.DisconnectHost_Task: vCenter stops
// managing the host, which shows as disconnected, and so do its VMs. The host
// itself keeps running: its address and those of its running VMs still answer
// probes. A host that does not respond can be disconnected too.
func (l *lab) DisconnectHost(ctx *simulator.Context, host *simulator.HostSystem, _ *types.DisconnectHost_Task) soap.HasFault {
	task := simulator.CreateTask(host, "disconnect", func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.setHostConnection(ctx, host, hostDisconnected)
		l.refreshVMsOn(host)
		l.refreshDatastores()
		l.settle()
		return nil, nil
	})
	return &methods.DisconnectHost_TaskBody{Res: &types.DisconnectHost_TaskResponse{Returnval: task.Run()}}
}
