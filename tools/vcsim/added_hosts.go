package main

import (
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// addedHostHook gives a host that a client adds after start-up
// (ClusterComputeResource.AddHost_Task, Folder.AddStandaloneHost_Task) the
// management address, and the hardware if listed, that the topology gives its
// name, as a real host brings its own. Without it the simulator clones one
// template host: vmk0 127.0.0.1, 2 cores of 2294 MHz, 4 GiB.
//
// It is a simulator registry handler: PutObject runs for every object put in
// the registry, and the new HostSystem is put (already named) before the
// simulator adds its hardware to the cluster summary.
type addedHostHook struct {
	hosts map[string]Host // spare and topology hosts, by name
}

func newAddedHostHook(topo *Topology) *addedHostHook {
	hook := &addedHostHook{hosts: map[string]Host{}}
	for i := range topo.Datacenters {
		for _, h := range topo.Datacenters[i].allHosts() {
			hook.hosts[h.Name] = *h
		}
	}
	for _, spare := range topo.SpareHosts {
		hook.hosts[spare.Name] = Host{Name: spare.Name, IP: spare.IP, CPUMHz: spare.CPUMHz, MemoryMB: spare.MemoryMB}
	}
	return hook
}

// Reference identifies the handler in the registry; no client can reach it.
func (*addedHostHook) Reference() types.ManagedObjectReference {
	return types.ManagedObjectReference{Type: "VcsimAddedHostHook", Value: "added-host-hook"}
}

// PutObject configures a newly added host whose name the topology knows.
func (h *addedHostHook) PutObject(obj mo.Reference) {
	host, ok := obj.(*simulator.HostSystem)
	if !ok {
		return
	}
	known, ok := h.hosts[host.Name]
	if !ok {
		return
	}
	setManagementIP(host.Config, known.IP)
	if known.CPUMHz > 0 && known.MemoryMB > 0 {
		setHostHardware(host, &known)
	}
}

// UpdateObject is part of simulator.RegisterObject; property changes are not
// of interest.
func (*addedHostHook) UpdateObject(mo.Reference, []types.PropertyChange) {}

// RemoveObject is part of simulator.RegisterObject; removals are not of
// interest.
func (*addedHostHook) RemoveObject(types.ManagedObjectReference) {}
