package main

import (
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// The simulator package gets CloneVMTo and MoveVMTo (and CloneVMTask and
// RelocateVMTask calling this file) from tools/vcsim/_overlay; this line
// stops a build that does not see them.
var _ = simulator.CloneVMTo

// vmPlacement implements CloneVM_Task and RelocateVM_Task as vCenter does
// (vSphere API, VirtualMachineRelocateSpec): the VM goes to the requested
// host, pool and datastore, each defaulting as the API says, and a request
// vCenter cannot carry out fails the task with vCenter's fault (see
// docs/simulator.md, "Placement"). The overlay moves the VM.
type vmPlacement struct{}

// CloneVM implements CloneVM_Task: the clone is registered at
// spec.location, and powered on if spec.powerOn. A spec.snapshot that is not
// one of the source's snapshots fails the task with InvalidArgument
// (spec.snapshot).
func (vmPlacement) CloneVM(ctx *simulator.Context, vm *simulator.VirtualMachine, req *types.CloneVM_Task) soap.HasFault {
	task := simulator.CreateTask(vm, "cloneVm", func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
		if ref := req.Spec.Snapshot; ref != nil && !snapshotOf(vm, *ref) {
			return nil, &types.InvalidArgument{InvalidProperty: "spec.snapshot"}
		}
		loc := req.Spec.Location
		pool := loc.Pool
		if pool == nil && !vm.Config.Template {
			pool = vm.ResourcePool // "the current resource pool of virtual machine is used"
		}
		if pool == nil { // a template's clone needs a pool
			return nil, &types.InvalidArgument{InvalidProperty: "spec.location.pool"}
		}
		p, fault := place(vm, target{host: loc.Host, pool: *pool, poolGiven: loc.Pool != nil, datastore: loc.Datastore}, "spec.location.")
		if fault != nil {
			return nil, fault
		}
		return simulator.CloneVMTo(ctx, vm, req, p)
	})
	return &methods.CloneVM_TaskBody{Res: &types.CloneVM_TaskResponse{Returnval: task.Run()}}
}

// snapshotOf tells whether ref is a snapshot of vm: a clone is based on one
// of the source's own snapshots (VirtualMachineCloneSpec.snapshot).
func snapshotOf(vm *simulator.VirtualMachine, ref types.ManagedObjectReference) bool {
	snap, ok := simulator.Map.Get(ref).(*simulator.VirtualMachineSnapshot)
	return ok && snap.Vm == vm.Self
}

// RelocateVM implements RelocateVM_Task: the VM moves to spec's host and
// pool, and its files to spec's datastore.
func (vmPlacement) RelocateVM(ctx *simulator.Context, vm *simulator.VirtualMachine, req *types.RelocateVM_Task) soap.HasFault {
	task := simulator.CreateTask(vm, "relocateVm", func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
		spec := req.Spec
		if len(spec.Disk) > 0 {
			// vCenter places each disk where its locator says; the
			// simulator cannot, and says so rather than ignore them.
			return nil, &types.NotSupported{}
		}
		pool := spec.Pool
		if pool == nil {
			pool = vm.ResourcePool
		}
		if pool == nil { // a template: the root pool of the target host's compute resource
			pool = rootPoolOf(spec.Host, vm)
		}
		if pool == nil {
			return nil, &types.InvalidArgument{InvalidProperty: "spec.pool"}
		}
		p, fault := place(vm, target{host: spec.Host, pool: *pool, poolGiven: spec.Pool != nil, datastore: spec.Datastore}, "spec.")
		if fault != nil {
			return nil, fault
		}
		if ref := spec.Folder; ref != nil {
			folder, ok := simulator.Map.Get(*ref).(*simulator.Folder)
			if !ok {
				return nil, &types.InvalidArgument{InvalidProperty: "spec.folder"}
			}
			folder.MoveIntoFolderTask(ctx, &types.MoveIntoFolder_Task{This: folder.Self, List: []types.ManagedObjectReference{vm.Self}})
		}
		return nil, simulator.MoveVMTo(ctx, vm, p)
	})
	return &methods.RelocateVM_TaskBody{Res: &types.RelocateVM_TaskResponse{Returnval: task.Run()}}
}

// target is what a clone's location or a relocation asks for.
type target struct {
	host      *types.ManagedObjectReference // nil: chosen as the API says
	pool      types.ManagedObjectReference  // the given pool, or the VM's
	poolGiven bool
	datastore *types.ManagedObjectReference // nil: the VM's current datastore
}

// place resolves t for vm as VirtualMachineRelocateSpec says: without a host,
// the VM's host if no pool is given, else the pool's standalone host, or a
// host DRS picks in the pool's cluster (InvalidArgument without DRS). A host
// must belong to the pool's compute resource (InvalidArgument naming the pool
// otherwise, as vCenter does) and mount the datastore (InvalidDatastore, the
// fault the API gives when "the operation cannot be performed on the target
// datastores"). prefix is the spec's path in the request, for the faults'
// invalidProperty.
func place(vm *simulator.VirtualMachine, t target, prefix string) (simulator.Placement, types.BaseMethodFault) {
	var none simulator.Placement
	ds := datastoreOf(vm)
	if t.datastore != nil {
		var ok bool
		if ds, ok = simulator.Map.Get(*t.datastore).(*simulator.Datastore); !ok {
			return none, &types.InvalidArgument{InvalidProperty: prefix + "datastore"}
		}
	}
	if ds == nil {
		return none, &types.InvalidArgument{InvalidProperty: prefix + "datastore"}
	}
	owner, ok := poolOwner(t.pool)
	if !ok {
		return none, &types.InvalidArgument{InvalidProperty: prefix + "pool"}
	}
	var host *simulator.HostSystem
	switch {
	case t.host != nil:
		if host, ok = simulator.Map.Get(*t.host).(*simulator.HostSystem); !ok {
			return none, &types.InvalidArgument{InvalidProperty: prefix + "host"}
		}
		if host.Parent == nil || *host.Parent != owner {
			return none, &types.InvalidArgument{InvalidProperty: prefix + "pool"}
		}
	case !t.poolGiven:
		if host = hostOf(vm); host == nil {
			return none, &types.InvalidArgument{InvalidProperty: prefix + "host"}
		}
	default:
		var fault types.BaseMethodFault
		if host, fault = pickHost(vm, owner, ds, prefix); fault != nil {
			return none, fault
		}
	}
	if !mounts(host, ds) {
		return none, &types.InvalidDatastore{Datastore: &ds.Self, Name: ds.Name}
	}
	return simulator.Placement{Host: host.Self, Pool: t.pool, Datastore: ds}, nil
}

// pickHost chooses the host of a compute resource for a VM whose pool but not
// host is given: a standalone resource's host; in a cluster with DRS, a
// connected host out of maintenance that mounts ds (the VM's own host if it
// qualifies, else the first in the cluster's order; vCenter's DRS weighs
// load, which the simulator does not); without DRS none
// (VirtualMachineRelocateSpec: InvalidArgument).
func pickHost(vm *simulator.VirtualMachine, owner types.ManagedObjectReference, ds *simulator.Datastore, prefix string) (*simulator.HostSystem, types.BaseMethodFault) {
	switch cr := simulator.Map.Get(owner).(type) {
	case *mo.ComputeResource:
		if len(cr.Host) == 1 {
			if host, ok := simulator.Map.Get(cr.Host[0]).(*simulator.HostSystem); ok {
				return host, nil
			}
		}
	case *simulator.ClusterComputeResource:
		if config, ok := cr.ConfigurationEx.(*types.ClusterConfigInfoEx); !ok ||
			config.DrsConfig.Enabled == nil || !*config.DrsConfig.Enabled {
			return nil, &types.InvalidArgument{InvalidProperty: prefix + "host"}
		}
		var candidates []*simulator.HostSystem
		for _, ref := range cr.Host {
			host, ok := simulator.Map.Get(ref).(*simulator.HostSystem)
			if ok && host.Runtime.ConnectionState == hostConnected && !host.Runtime.InMaintenanceMode && mounts(host, ds) {
				if own := hostOf(vm); own != nil && own.Self == host.Self {
					return host, nil
				}
				candidates = append(candidates, host)
			}
		}
		if len(candidates) == 0 {
			return nil, &types.NoActiveHostInCluster{ComputeResource: cr.Self}
		}
		return candidates[0], nil
	}
	return nil, &types.InvalidArgument{InvalidProperty: prefix + "pool"}
}

// datastoreOf returns the datastore of vm's configuration file.
func datastoreOf(vm *simulator.VirtualMachine) *simulator.Datastore {
	var p object.DatastorePath
	if vm.Config == nil || !p.FromString(vm.Config.Files.VmPathName) {
		return nil
	}
	for _, ref := range vm.Datastore {
		if ds, ok := simulator.Map.Get(ref).(*simulator.Datastore); ok && ds.Name == p.Datastore {
			return ds
		}
	}
	return nil
}

// poolOwner returns the compute resource of a resource pool or vApp.
func poolOwner(ref types.ManagedObjectReference) (types.ManagedObjectReference, bool) {
	switch p := simulator.Map.Get(ref).(type) {
	case *simulator.ResourcePool:
		return p.Owner, true
	case *simulator.VirtualApp:
		return p.Owner, true
	}
	return types.ManagedObjectReference{}, false
}

// rootPoolOf returns the root resource pool of the compute resource of host,
// or of vm's host if host is nil.
func rootPoolOf(host *types.ManagedObjectReference, vm *simulator.VirtualMachine) *types.ManagedObjectReference {
	h := hostOf(vm)
	if host != nil {
		h, _ = simulator.Map.Get(*host).(*simulator.HostSystem)
	}
	if h == nil {
		return nil
	}
	cr, err := computeResourceOf(h)
	if err != nil {
		return nil
	}
	return cr.ResourcePool
}
