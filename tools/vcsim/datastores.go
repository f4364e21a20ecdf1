package main

import (
	"fmt"
	"os"
	"sync"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// Reported size of every datastore. The simulator would otherwise report the
// size of the file system holding the backing directory.
const (
	datastoreCapacity  = int64(1) << 40   // 1 TiB
	datastoreFreeSpace = int64(800) << 30 // 800 GiB
)

// datastore creates a local datastore on the first listed host and mounts it
// on the others. The simulator cannot share one datastore between hosts
// through the API: CreateLocalDatastore on a second host replaces the object
// with one mounted on that host only (the stock model has that bug), so the
// extra mounts are added to the simulator objects directly.
func (b *builder) datastore(d *dcBuild, topo *Datastore) error {
	// One directory per datastore; its name does not depend on the datastore
	// name, which need not be a valid file name.
	dir, err := os.MkdirTemp(b.dataDir, "ds-")
	if err != nil {
		return err
	}
	first := simulator.Map.Get(b.world.Hosts[topo.Hosts[0]]).(*simulator.HostSystem)
	dss := object.NewHostDatastoreSystem(b.client, *first.ConfigManager.DatastoreSystem)
	created, err := dss.CreateLocalDatastore(b.ctx, topo.Name, dir)
	if err != nil {
		return err
	}
	ds := simulator.Map.Get(created.Reference()).(*simulator.Datastore)
	for _, name := range topo.Hosts[1:] {
		if err := mountDatastore(ds, b.world.Hosts[name]); err != nil {
			return fmt.Errorf("mount on host %q: %w", name, err)
		}
	}
	ds.Summary.MultipleHostAccess = types.NewBool(len(ds.Host) > 1)
	b.world.Datastores[topo.Name] = ds.Self
	return nil
}

// mountDatastore adds ds to a host the way HostDatastoreSystem.add does for
// the host it creates the datastore on: the host's and its compute
// resource's datastore lists, and a HostMount on the datastore.
func mountDatastore(ds *simulator.Datastore, hostRef types.ManagedObjectReference) error {
	host := simulator.Map.Get(hostRef).(*simulator.HostSystem)
	dss := simulator.Map.Get(*host.ConfigManager.DatastoreSystem).(*simulator.HostDatastoreSystem)
	dss.Datastore = append(dss.Datastore, ds.Self)
	host.Datastore = append([]types.ManagedObjectReference(nil), dss.Datastore...)

	cr, err := computeResourceOf(host)
	if err != nil {
		return err
	}
	simulator.Map.AddReference(cr, &cr.Datastore, ds.Self)

	ds.Host = append(ds.Host, types.DatastoreHostMount{
		Key: hostRef,
		MountInfo: types.HostMountInfo{
			AccessMode: string(types.HostMountModeReadWrite),
			Mounted:    types.NewBool(true),
			Accessible: types.NewBool(true),
		},
	})
	return nil
}

// computeResourceOf returns the cluster or standalone ComputeResource that
// holds host.
func computeResourceOf(host *simulator.HostSystem) (*mo.ComputeResource, error) {
	switch parent := simulator.Map.Get(*host.Parent).(type) {
	case *simulator.ClusterComputeResource:
		return &parent.ComputeResource, nil
	case *mo.ComputeResource:
		return parent, nil
	default:
		return nil, fmt.Errorf("host %s has parent of type %T", host.Name, parent)
	}
}

// setDatastoreSpace sets the reported capacity and free space. It runs once
// the VMs exist, because the simulator subtracts each new disk's capacity
// from freeSpace (as it will for clones later on). A client call to
// RefreshDatastore reverts both to the backing file system's figures.
func setDatastoreSpace(ds *simulator.Datastore) {
	ds.Summary.Capacity = datastoreCapacity
	ds.Summary.FreeSpace = datastoreFreeSpace
	info := ds.Info.GetDatastoreInfo()
	info.FreeSpace = datastoreFreeSpace
	info.MaxFileSize = datastoreFreeSpace
	info.MaxMemoryFileSize = datastoreFreeSpace
}

// publishFreeSpace reports the datastores' free space to property
// collectors when a task changed it. The stock simulator changes
// summary.freeSpace in place when it creates or destroys a disk (a clone, a
// destroyed VM), which a full read sees but WaitForUpdatesEx never reports;
// vCenter reports a changed freeSpace like any property.
func publishFreeSpace() {
	for _, obj := range simulator.Map.All("Datastore") {
		ds := obj.(*simulator.Datastore)
		free := ds.Summary.FreeSpace
		if published, ok := publishedFree.Load(ds.Self); ok && published.(int64) == free {
			continue
		}
		publishedFree.Store(ds.Self, free)
		simulator.Map.Update(ds, []types.PropertyChange{{Name: "summary.freeSpace", Val: free}})
	}
}

// publishedFree is each datastore's free space as last reported.
var publishedFree sync.Map
