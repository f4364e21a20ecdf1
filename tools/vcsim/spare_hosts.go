package main

import (
	"strings"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// The simulator package gets AddStandaloneHostNow and AddClusterHostNow (and
// the task methods calling this file) from tools/vcsim/_overlay; this line
// stops a build that does not see them.
var _ = simulator.AddStandaloneHostNow

// sslNotVerified is vCenter's message for SSLVerifyFault.
const sslNotVerified = "Authenticity of the host's SSL certificate is not verified."

// hostAdder implements Folder.AddStandaloneHost_Task and
// ClusterComputeResource.AddHost_Task as vCenter does. Asked to connect,
// vCenter contacts the host: a name that is no host of the lab, or a host
// that is down, cannot be contacted (NoHost); a host whose certificate
// thumbprint is not the one in the ConnectSpec is not trusted
// (SSLVerifyFault with the thumbprint it saw: every lab host has a
// self-signed certificate); a host vCenter has already is refused
// (AlreadyConnected). An added host mounts the datastores its topology entry
// lists, and AddStandaloneHost_Task returns its ComputeResource.
type hostAdder struct {
	lab   *lab
	hosts map[string]labHost // every host and spare host of the topology, by name
}

// labHost is what the lab knows of a host that a client may add.
type labHost struct {
	thumbprint string
	datastores []string // names; those of the datacenter it joins are mounted
}

func newHostAdder(l *lab) *hostAdder {
	a := &hostAdder{lab: l, hosts: map[string]labHost{}}
	topo := l.world.Topology
	for i := range topo.Datacenters {
		dc := &topo.Datacenters[i]
		for _, h := range dc.allHosts() {
			a.hosts[h.Name] = labHost{thumbprint: h.Thumbprint, datastores: mountedBy(dc, h.Name)}
		}
	}
	for _, spare := range topo.SpareHosts {
		a.hosts[spare.Name] = labHost{thumbprint: spare.Thumbprint, datastores: spare.Datastores}
	}
	return a
}

// mountedBy returns the datastores of dc that the topology mounts on host.
func mountedBy(dc *Datacenter, host string) []string {
	var names []string
	for _, ds := range dc.Datastores {
		for _, h := range ds.Hosts {
			if h == host {
				names = append(names, ds.Name)
			}
		}
	}
	return names
}

// AddStandaloneHost adds a host in a ComputeResource of its own and returns
// the ComputeResource, as vCenter does.
func (a *hostAdder) AddStandaloneHost(ctx *simulator.Context, folder *simulator.Folder, req *types.AddStandaloneHost_Task) soap.HasFault {
	task := simulator.CreateTask(folder, "addStandaloneHost", func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
		if fault := a.admit(req.Spec, req.AddConnected); fault != nil {
			return nil, fault
		}
		host, fault := simulator.AddStandaloneHostNow(ctx, folder, req)
		if fault != nil {
			return nil, fault
		}
		a.joined(ctx, host)
		return *host.Parent, nil
	})
	return &methods.AddStandaloneHost_TaskBody{Res: &types.AddStandaloneHost_TaskResponse{Returnval: runTask(task)}}
}

// AddHost adds a host to a cluster and returns the HostSystem, as vCenter
// does.
func (a *hostAdder) AddHost(ctx *simulator.Context, cluster *simulator.ClusterComputeResource, req *types.AddHost_Task) soap.HasFault {
	task := simulator.CreateTask(cluster, "addHost", func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
		if fault := a.admit(req.Spec, req.AsConnected); fault != nil {
			return nil, fault
		}
		host, fault := simulator.AddClusterHostNow(cluster, req)
		if fault != nil {
			return nil, fault
		}
		a.joined(ctx, host)
		return host.Self, nil
	})
	return &methods.AddHost_TaskBody{Res: &types.AddHost_TaskResponse{Returnval: runTask(task)}}
}

// admit is what vCenter checks before it adds a host. A host added without
// connecting is not contacted, so nothing is checked.
func (a *hostAdder) admit(spec types.HostConnectSpec, connect bool) types.BaseMethodFault {
	name := spec.HostName
	if name == "" {
		return &types.NoHost{}
	}
	if findHost(a.lab.world, name) != nil {
		return &types.AlreadyConnected{Name: name}
	}
	if !connect {
		return nil
	}
	known, ok := a.hosts[name]
	if !ok {
		return &types.NoHost{Name: name}
	}
	a.lab.mu.Lock()
	down := a.lab.hostFailed(name)
	a.lab.mu.Unlock()
	if down {
		return &types.NoHost{Name: name}
	}
	if !strings.EqualFold(spec.SslThumbprint, known.thumbprint) {
		return &types.SSLVerifyFault{SelfSigned: true, Thumbprint: known.thumbprint}
	}
	return nil
}

// joined gives a newly added host its certificate's thumbprint and mounts
// its datastores that its datacenter has.
func (a *hostAdder) joined(ctx *simulator.Context, host *simulator.HostSystem) {
	known, ok := a.hosts[host.Name]
	if !ok {
		return
	}
	simulator.Map.Update(host, []types.PropertyChange{{Name: "summary.config.sslThumbprint", Val: known.thumbprint}})
	dc := datacenterOf(host)
	if dc == nil {
		return
	}
	for _, name := range known.datastores {
		ds, ok := simulator.Map.FindByName(name, dc.Datastore).(*simulator.Datastore)
		if !ok || mounts(host, ds) {
			continue
		}
		if err := mountOnAdded(ctx, ds, host); err != nil {
			continue
		}
		ds.Summary.MultipleHostAccess = types.NewBool(len(ds.Host) > 1)
		simulator.Map.Update(ds, []types.PropertyChange{{Name: "host", Val: ds.Host}})
		simulator.Map.Update(host, []types.PropertyChange{{Name: "datastore", Val: host.Datastore}})
	}
	// The new mounts make a datastore whose only other hosts are dead accessible again.
	a.lab.mu.Lock()
	defer a.lab.mu.Unlock()
	a.lab.refreshDatastores()
}

// mountOnAdded mounts ds on a host being added, as mountDatastore does at
// build time, but through ctx's locks: the call holds the lock of the
// cluster the host joins.
func mountOnAdded(ctx *simulator.Context, ds *simulator.Datastore, host *simulator.HostSystem) error {
	cr, err := computeResourceOf(host)
	if err != nil {
		return err
	}
	dss := simulator.Map.Get(*host.ConfigManager.DatastoreSystem).(*simulator.HostDatastoreSystem)
	dss.Datastore = append(dss.Datastore, ds.Self)
	host.Datastore = append([]types.ManagedObjectReference(nil), dss.Datastore...)
	ctx.WithLock(cr, func() {
		if simulator.FindReference(cr.Datastore, ds.Self) == nil {
			cr.Datastore = append(cr.Datastore, ds.Self)
		}
	})
	simulator.Map.WithLock(ds, func() {
		ds.Host = append(ds.Host, types.DatastoreHostMount{
			Key: host.Self,
			MountInfo: types.HostMountInfo{
				AccessMode: string(types.HostMountModeReadWrite),
				Mounted:    types.NewBool(true),
				Accessible: types.NewBool(true),
			},
		})
	})
	return nil
}

// datacenterOf returns the datacenter holding host.
func datacenterOf(host *simulator.HostSystem) *simulator.Datacenter {
	for _, ref := range ancestors(host) {
		if dc, ok := simulator.Map.Get(ref).(*simulator.Datacenter); ok {
			return dc
		}
	}
	return nil
}

// runTask runs a task and, if it failed with a fault whose message vCenter's
// is known, gives the task that message (the simulator's is the fault's Go
// type).
func runTask(task *simulator.Task) types.ManagedObjectReference {
	ref := task.Run()
	if e := task.Info.Error; e != nil {
		if _, ok := e.Fault.(*types.SSLVerifyFault); ok {
			simulator.Map.Update(task, []types.PropertyChange{{Name: "info.error", Val: types.LocalizedMethodFault{
				Fault: e.Fault, LocalizedMessage: sslNotVerified,
			}}})
		}
	}
	return ref
}
