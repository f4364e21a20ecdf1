// This file is compiled into govmomi's simulator package through the shadow
// GOPATH (see host_connection.go and the Makefile).
//
// vCenter connects to a host it is asked to add: it refuses a host it cannot
// reach (NoHost) or whose certificate it cannot verify (SSLVerifyFault), and
// Folder.AddStandaloneHost_Task returns the new ComputeResource. govmomi
// 0.24.2 adds any name and returns the HostSystem. The Makefile renames the
// stock methods stockAddStandaloneHostTask and stockAddHostTask in the shadow
// copies of folder.go and cluster_compute_resource.go; the methods below take
// their names and delegate to the handler that the vcsim main sets, which
// checks the host and then calls AddStandaloneHostNow or AddClusterHostNow.

package simulator

import (
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// HostAddingHandler implements Folder.AddStandaloneHost_Task and
// ClusterComputeResource.AddHost_Task.
type HostAddingHandler interface {
	AddStandaloneHost(ctx *Context, folder *Folder, req *types.AddStandaloneHost_Task) soap.HasFault
	AddHost(ctx *Context, cluster *ClusterComputeResource, req *types.AddHost_Task) soap.HasFault
}

// HostAdding handles both; with none set (while the vcsim main builds its
// world), the stock methods do.
var HostAdding HostAddingHandler

// AddStandaloneHostTask implements Folder.AddStandaloneHost_Task.
func (f *Folder) AddStandaloneHostTask(ctx *Context, req *types.AddStandaloneHost_Task) soap.HasFault {
	if HostAdding == nil {
		return f.stockAddStandaloneHostTask(ctx, req)
	}
	return HostAdding.AddStandaloneHost(ctx, f, req)
}

// AddHostTask implements ClusterComputeResource.AddHost_Task.
func (c *ClusterComputeResource) AddHostTask(ctx *Context, req *types.AddHost_Task) soap.HasFault {
	if HostAdding == nil {
		return c.stockAddHostTask(req)
	}
	return HostAdding.AddHost(ctx, c, req)
}

// AddStandaloneHostNow does the stock AddStandaloneHost_Task's work: a new
// HostSystem from the template in a ComputeResource of its own, connected if
// req.AddConnected. Call it inside the task, with f locked.
func AddStandaloneHostNow(ctx *Context, f *Folder, req *types.AddStandaloneHost_Task) (*HostSystem, types.BaseMethodFault) {
	if !folderHasChildType(&f.Folder, "ComputeResource") || !folderHasChildType(&f.Folder, "Folder") {
		return nil, &types.NotSupported{}
	}
	res, fault := (&addStandaloneHost{f, ctx, req}).Run(nil)
	if fault != nil {
		return nil, fault
	}
	return Map.Get(res.(types.ManagedObjectReference)).(*HostSystem), nil
}

// AddClusterHostNow does the stock AddHost_Task's work: a new HostSystem
// from the template in cluster c. Call it inside the task, with c locked.
func AddClusterHostNow(c *ClusterComputeResource, req *types.AddHost_Task) (*HostSystem, types.BaseMethodFault) {
	res, fault := (&addHost{c, req}).Run(nil)
	if fault != nil {
		return nil, fault
	}
	return Map.Get(res.(types.ManagedObjectReference)).(*HostSystem), nil
}
