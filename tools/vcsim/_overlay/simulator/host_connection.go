// This file is compiled into govmomi's simulator package: `make vcsim` builds
// against a shadow GOPATH (build/gopath) that links it into Debian's
// simulator source, which is never changed (see the Makefile). The Go tools
// skip directories starting with "_", so it is never built on its own.
//
// govmomi 0.24.2's HostSystem lacks ReconnectHost_Task and DisconnectHost_Task,
// and the simulator finds a method by name on the Go type of the object in its
// registry, so the methods must be on *HostSystem itself: replacing the host
// objects with a wrapper type would break the simulator's own type assertions.
// The methods only delegate to functions that the vcsim main sets.

package simulator

import (
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// HostConnectionHandler implements the host connection methods. The vcsim
// main sets it before serving.
type HostConnectionHandler interface {
	ReconnectHost(ctx *Context, host *HostSystem, req *types.ReconnectHost_Task) soap.HasFault
	DisconnectHost(ctx *Context, host *HostSystem, req *types.DisconnectHost_Task) soap.HasFault
}

// HostConnection handles ReconnectHost_Task and DisconnectHost_Task; with
// none set, both fault as unimplemented methods do.
var HostConnection HostConnectionHandler

// ReconnectHostTask implements HostSystem.ReconnectHost_Task.
func (h *HostSystem) ReconnectHostTask(ctx *Context, req *types.ReconnectHost_Task) soap.HasFault {
	if HostConnection == nil {
		return &serverFaultBody{Reason: Fault("", &types.MethodNotFound{Receiver: h.Self, Method: "ReconnectHost_Task"})}
	}
	return HostConnection.ReconnectHost(ctx, h, req)
}

// DisconnectHostTask implements HostSystem.DisconnectHost_Task.
func (h *HostSystem) DisconnectHostTask(ctx *Context, req *types.DisconnectHost_Task) soap.HasFault {
	if HostConnection == nil {
		return &serverFaultBody{Reason: Fault("", &types.MethodNotFound{Receiver: h.Self, Method: "DisconnectHost_Task"})}
	}
	return HostConnection.DisconnectHost(ctx, h, req)
}
