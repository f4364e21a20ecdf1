package main

import (
	"context"
	"fmt"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/types"
)

// World is the simulated vCenter built from a Topology, with the references
// of the objects it created, by name (names are unique, see validate.go).
// HTTP handlers beside /sdk receive it.
type World struct {
	Topology    *Topology
	Model       *simulator.Model
	Datacenters map[string]types.ManagedObjectReference
	Clusters    map[string]types.ManagedObjectReference
	Hosts       map[string]types.ManagedObjectReference
	Datastores  map[string]types.ManagedObjectReference
	VMs         map[string]types.ManagedObjectReference
	// Lab is the failure model (lab.go), set once the world is built.
	Lab *lab
}

// builder creates the world through an in-process vim25 client, i.e. the
// same simulator methods a SOAP client would call, and then sets the few
// properties that the API cannot set (host hardware, vmk0 address,
// datastore mounts and capacity) directly on the simulator objects.
type builder struct {
	ctx     context.Context
	client  *vim25.Client
	dataDir string // parent of the datastores' backing directories
	world   *World
	tasks   []types.ManagedObjectReference // build tasks, dropped once done
}

// dcBuild is the per-datacenter state of the build.
type dcBuild struct {
	topo    *Datacenter
	folders *object.DatacenterFolders
	pools   map[string]*object.ResourcePool // host name -> root pool of its compute resource
}

// buildWorld creates an empty vCenter model and fills it with the topology.
// VM and datastore files go under dataDir, which the caller removes.
func buildWorld(ctx context.Context, topo *Topology, dataDir string) (*World, error) {
	model, err := emptyVPX()
	if err != nil {
		return nil, err
	}
	installPropertyCollector(model.ServiceContent)
	client, err := vim25.NewClient(ctx, model.Service)
	if err != nil {
		return nil, fmt.Errorf("in-process client: %w", err)
	}
	b := &builder{ctx: ctx, client: client, dataDir: dataDir, world: newWorld(topo, model)}
	for i := range topo.Datacenters {
		if err := b.datacenter(&topo.Datacenters[i]); err != nil {
			return nil, fmt.Errorf("datacenter %q: %w", topo.Datacenters[i].Name, err)
		}
	}
	b.dropTasks()
	simulator.Map.AddHandler(newAddedHostHook(topo))
	return b.world, nil
}

// emptyVPX returns a vCenter model with none of the stock inventory (no DC0,
// DC0_C0, LocalDS_0, ...): only the service content and the root folder.
func emptyVPX() (*simulator.Model, error) {
	model := simulator.VPX()
	model.Datacenter = 0
	model.Portgroup = 0
	model.Host = 0
	model.Cluster = 0
	model.ClusterHost = 0
	model.Datastore = 0
	model.Machine = 0
	model.Autostart = false
	if err := model.Create(); err != nil {
		return nil, fmt.Errorf("simulator model: %w", err)
	}
	return model, nil
}

func newWorld(topo *Topology, model *simulator.Model) *World {
	return &World{
		Topology:    topo,
		Model:       model,
		Datacenters: map[string]types.ManagedObjectReference{},
		Clusters:    map[string]types.ManagedObjectReference{},
		Hosts:       map[string]types.ManagedObjectReference{},
		Datastores:  map[string]types.ManagedObjectReference{},
		VMs:         map[string]types.ManagedObjectReference{},
	}
}

// datacenter builds one datacenter: compute resources and hosts first, then
// the datastores mounted on them, then the VMs using both.
func (b *builder) datacenter(topo *Datacenter) error {
	dc, err := object.NewRootFolder(b.client).CreateDatacenter(b.ctx, topo.Name)
	if err != nil {
		return err
	}
	b.world.Datacenters[topo.Name] = dc.Reference()
	folders, err := dc.Folders(b.ctx)
	if err != nil {
		return err
	}
	d := &dcBuild{topo: topo, folders: folders, pools: map[string]*object.ResourcePool{}}
	if err := b.computeResources(d); err != nil {
		return err
	}
	for i := range topo.Datastores {
		if err := b.datastore(d, &topo.Datastores[i]); err != nil {
			return fmt.Errorf("datastore %q: %w", topo.Datastores[i].Name, err)
		}
	}
	for _, host := range topo.allHosts() {
		if err := b.hostVMs(d, host); err != nil {
			return fmt.Errorf("host %q: %w", host.Name, err)
		}
	}
	for _, ds := range topo.Datastores {
		setDatastoreSpace(simulator.Map.Get(b.world.Datastores[ds.Name]).(*simulator.Datastore))
	}
	b.labExtras(d)
	return nil
}
