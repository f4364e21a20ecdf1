package main

import (
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// perfManager is the simulator's PerformanceManager with vCenter's answer to
// QueryPerf for VMs that have no real-time statistics: vCenter collects a
// VM's real-time samples from its host while the VM runs, so a VM that is not
// powered on, or whose host vCenter cannot reach (the VM shows disconnected),
// is left out of the answer. A spec naming an object that does not exist
// faults with ManagedObjectNotFound, as in vCenter. The stock one answers
// canned values for any reference, existing or not.
//
// The stock manager is embedded by value (not by pointer): the property
// collector finds an object's properties by descending into its first field
// until it reaches the mo type.
type perfManager struct {
	simulator.PerformanceManager
}

// installPerformanceManager replaces the stock PerformanceManager in the
// simulator's registry, keeping its counters and canned sample data.
func installPerformanceManager(content types.ServiceContent) {
	stock := simulator.Map.Get(*content.PerfManager).(*simulator.PerformanceManager)
	simulator.Map.Put(&perfManager{PerformanceManager: *stock})
}

// QueryPerf answers the specs of existing entities that have samples; the
// stock method makes the samples.
func (m *perfManager) QueryPerf(ctx *simulator.Context, req *types.QueryPerf) soap.HasFault {
	sampled := make([]types.PerfQuerySpec, 0, len(req.QuerySpec))
	for _, spec := range req.QuerySpec {
		obj := simulator.Map.Get(spec.Entity)
		if obj == nil {
			body := new(methods.QueryPerfBody)
			body.Fault_ = simulator.Fault("", &types.ManagedObjectNotFound{Obj: spec.Entity})
			return body
		}
		if vm, ok := obj.(*simulator.VirtualMachine); ok && !hasRealtimeSamples(ctx, vm) {
			continue
		}
		sampled = append(sampled, spec)
	}
	return m.PerformanceManager.QueryPerf(ctx, &types.QueryPerf{This: req.This, QuerySpec: sampled})
}

// hasRealtimeSamples tells whether vCenter would have real-time samples of a
// VM: it runs and its host is connected.
func hasRealtimeSamples(ctx *simulator.Context, vm *simulator.VirtualMachine) bool {
	var has bool
	ctx.WithLock(vm, func() {
		has = vm.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOn &&
			vm.Runtime.ConnectionState == types.VirtualMachineConnectionStateConnected
	})
	return has
}
