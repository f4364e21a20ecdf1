package main

import (
	"github.com/vmware/govmomi/simulator"
)

// hostOf returns the host a VM runs on, nil if it has none.
func hostOf(vm *simulator.VirtualMachine) *simulator.HostSystem {
	if vm.Runtime.Host == nil {
		return nil
	}
	host, _ := simulator.Map.Get(*vm.Runtime.Host).(*simulator.HostSystem)
	return host
}
