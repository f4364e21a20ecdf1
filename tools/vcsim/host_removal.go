package main

import (
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// destroy removes a host from the inventory as vCenter does:
// HostSystem.Destroy_Task for a host of a cluster, ComputeResource.Destroy_Task
// for a standalone host (with its ComputeResource). The host's VMs leave the
// inventory with it; their files stay on the datastores, so that they can be
// registered elsewhere (vSphere docs; terraform-provider-vsphere#1083 and
// community.vmware#1212 disconnect a host, then remove it, without touching
// its VMs). A host vCenter still manages must be in maintenance mode first
// (InvalidState otherwise: the fault is not confirmed); a disconnected or
// notResponding one may go at once. Destroying the HostSystem of a
// standalone host faults with NotSupported (not confirmed). Other objects'
// Destroy_Task is the simulator's.
func (o *soapOverrides) destroy(ctx *simulator.Context, obj mo.Reference) soap.HasFault {
	var hosts []*simulator.HostSystem
	switch target := obj.(type) {
	case *simulator.HostSystem:
		if _, standalone := simulator.Map.Get(*target.Parent).(*mo.ComputeResource); standalone {
			return failedTask(target, "Destroy_Task", "destroy", &types.NotSupported{})
		}
		hosts = append(hosts, target)
	case *mo.ComputeResource:
		for _, ref := range target.Host {
			if h, ok := simulator.Map.Get(ref).(*simulator.HostSystem); ok {
				hosts = append(hosts, h)
			}
		}
	default:
		return nil
	}
	for _, h := range hosts {
		if h.Runtime.ConnectionState == hostConnected && !h.Runtime.InMaintenanceMode {
			return failedTask(obj, "Destroy_Task", "destroy", &types.InvalidState{})
		}
	}
	task := simulator.CreateTask(obj, "destroy", func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
		for _, h := range hosts {
			o.lab.removeHost(ctx, h)
		}
		return nil, nil
	})
	return simulator.TaskBody("Destroy_Task", task.Run())
}

// removeHost takes a host and its VMs out of the inventory. A VM that still
// runs there (the host is isolated or merely disconnected) runs on outside
// vCenter, holding its files' lock (see fileModel.vmLeft).
func (l *lab) removeHost(ctx *simulator.Context, host *simulator.HostSystem) {
	for _, vm := range vmsOnHost(host.Self) {
		simulator.Map.WithLock(vm, func() { simulator.RemoveVM(ctx, vm) })
	}
	simulator.Map.WithLock(host, func() { simulator.RemoveHost(ctx, host) })
	l.mu.Lock()
	defer l.mu.Unlock()
	l.refreshDatastores()
	l.files.syncOrphans(l)
}
