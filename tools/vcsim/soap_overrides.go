package main

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// SOAP calls the lab answers before the simulator does, where the stock
// simulator cannot be extended per method (its methods are found by name on
// its own Go types, which already have them, or its types are not ours):
//
//   - PowerOnVM_Task of a VM whose files last ran on another host: the task
//     waits for the moved or copied question (registration.go);
//   - RegisterVM_Task: vCenter's checks of the path, its datastore and the
//     host (the stock simulator panics on an unknown datastore and may pick a
//     dead host);
//   - RelocateVM_Task and CloneVM_Task to a host that is not connected;
//   - HostSystem.Destroy_Task and ComputeResource.Destroy_Task, which remove
//     the host and its VMs from the inventory (the stock one refuses a host
//     with VMs; a ComputeResource has none);
//   - ShutdownGuest, RebootGuest and StandbyGuest on a VM whose host is not
//     connected.
//
// Everything else, and these when no rule applies, goes to the simulator as
// sent.
type soapOverrides struct {
	lab  *lab
	next http.Handler
}

// overridden are the method names worth decoding a request for.
var overridden = [][]byte{
	[]byte("PowerOnVM_Task"), []byte("RegisterVM_Task"), []byte("RelocateVM_Task"), []byte("CloneVM_Task"),
	[]byte("Destroy_Task"), []byte("ShutdownGuest"), []byte("RebootGuest"), []byte("StandbyGuest"),
}

func (o *soapOverrides) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/sdk" {
		o.next.ServeHTTP(w, r)
		return
	}
	body, err := io.ReadAll(r.Body)
	_ = r.Body.Close()
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	if !mentionsOverridden(body) {
		o.next.ServeHTTP(w, r)
		return
	}
	method, err := simulator.UnmarshalBody(types.TypeFunc(), body)
	if err != nil {
		o.next.ServeHTTP(w, r)
		return
	}
	ctx := simulator.RequestContext(w, r)
	if ctx.Session == nil { // the simulator's NotAuthenticated
		o.next.ServeHTTP(w, r)
		return
	}
	if res := o.answer(ctx, method); res != nil {
		simulator.WriteSOAP(w, res)
		return
	}
	o.next.ServeHTTP(w, r)
}

func mentionsOverridden(body []byte) bool {
	for _, name := range overridden {
		if bytes.Contains(body, name) {
			return true
		}
	}
	return false
}

// answer is the lab's answer to a call, nil to let the simulator answer.
func (o *soapOverrides) answer(ctx *simulator.Context, m *simulator.Method) soap.HasFault {
	obj := simulator.Map.Get(m.This)
	switch req := m.Body.(type) {
	case *types.PowerOnVM_Task:
		if vm, ok := obj.(*simulator.VirtualMachine); ok {
			return o.powerOn(ctx, vm)
		}
	case *types.RegisterVM_Task:
		if f, ok := obj.(*simulator.Folder); ok {
			return o.register(ctx, f, req)
		}
	case *types.RelocateVM_Task:
		return o.destination(obj, m.Name, req.Spec.Host)
	case *types.CloneVM_Task:
		return o.destination(obj, m.Name, req.Spec.Location.Host)
	case *types.Destroy_Task:
		return o.destroy(ctx, obj)
	case *types.ShutdownGuest, *types.RebootGuest, *types.StandbyGuest:
		if vm, ok := obj.(*simulator.VirtualMachine); ok {
			o.lab.mu.Lock()
			fault := o.lab.hostRefusal(vm, false)
			o.lab.mu.Unlock()
			if fault != nil {
				return simulator.FaultBody(fault)
			}
		}
	}
	return nil
}

// failedTask is a task on obj that fails with fault, as the answer of method.
func failedTask(obj mo.Reference, method, id string, fault types.BaseMethodFault) soap.HasFault {
	task := simulator.CreateTask(obj, id, func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
		return nil, fault
	})
	return simulator.TaskBody(method, task.Run())
}

// powerOn asks the moved or copied question when the VM's files last ran on
// another host; any other power-on (refused or not) is the simulator's.
func (o *soapOverrides) powerOn(ctx *simulator.Context, vm *simulator.VirtualMachine) soap.HasFault {
	l := o.lab
	l.mu.Lock()
	ask := vm.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOn &&
		l.hostRefusal(vm, false) == nil && l.files.lockHolder(vm) == "" && l.ranElsewhere(vm) &&
		l.pending[vm.Self] == nil
	l.mu.Unlock()
	if !ask {
		return nil
	}
	return simulator.TaskBody("PowerOnVM_Task", l.askQuestion(ctx, vm))
}

// destination refuses to clone or relocate onto a host that is not connected
// (InvalidHostState, as for the source host).
func (o *soapOverrides) destination(obj mo.Reference, method string, dest *types.ManagedObjectReference) soap.HasFault {
	if dest == nil || obj == nil {
		return nil
	}
	host, ok := simulator.Map.Get(*dest).(*simulator.HostSystem)
	if !ok || host.Runtime.ConnectionState == hostConnected {
		return nil
	}
	id := "relocateVm"
	if method == "CloneVM_Task" {
		id = "cloneVm"
	}
	return failedTask(obj, method, id, &types.InvalidHostState{Host: &host.Self})
}

// register checks a RegisterVM_Task as vCenter does before the simulator
// registers the files: the path's datastore exists (InvalidDatastorePath,
// "also thrown if a datastore corresponding to the given datastore path is
// not found") and is accessible (InaccessibleDatastore), the host is
// connected (InvalidHostState) and mounts it (InvalidDatastore), the .vmx
// exists (NotFound). Without a host, a connected host of the pool's compute
// resource that mounts the datastore is chosen. AlreadyExists (the path is
// registered) is the simulator's.
func (o *soapOverrides) register(ctx *simulator.Context, folder *simulator.Folder, req *types.RegisterVM_Task) soap.HasFault {
	fail := func(fault types.BaseMethodFault) soap.HasFault {
		return failedTask(folder, "RegisterVM_Task", "registerVm", fault)
	}
	var p object.DatastorePath
	if req.Path == "" || !p.FromString(req.Path) {
		return nil // the simulator's InvalidArgument
	}
	ds := datastoreNamed(p.Datastore)
	if ds == nil {
		return fail(&types.InvalidDatastorePath{InvalidDatastore: types.InvalidDatastore{Name: p.Datastore}, DatastorePath: req.Path})
	}
	invalid := types.InvalidDatastore{Datastore: &ds.Self, Name: ds.Name}
	if !ds.Summary.Accessible {
		return fail(&types.InaccessibleDatastore{InvalidDatastore: invalid})
	}
	if req.Host != nil {
		host, ok := simulator.Map.Get(*req.Host).(*simulator.HostSystem)
		switch {
		case !ok:
			return nil
		case host.Runtime.ConnectionState != hostConnected:
			return fail(&types.InvalidHostState{Host: &host.Self})
		case !mounts(host, ds):
			return fail(&invalid)
		}
	} else if !req.AsTemplate && req.Pool != nil {
		host := poolHostFor(*req.Pool, ds)
		if host == nil {
			return fail(&invalid)
		}
		req.Host = &host.Self
	}
	file := filepath.Join(ds.Info.GetDatastoreInfo().Url, filepath.FromSlash(p.Path))
	if _, err := os.Stat(file); err != nil {
		return fail(&types.NotFound{})
	}
	name := req.Name
	if name == "" {
		name = path.Base(path.Dir(p.Path))
	}
	ensureFiles(filepath.Dir(file), name) // the simulator also opens these
	var res soap.HasFault
	ctx.Caller = &folder.Self
	simulator.Map.WithLock(folder, func() { res = folder.RegisterVMTask(ctx, req) })
	return res
}

// ensureFiles creates the .nvram and vmware.log that the simulator opens on
// registration and that a real registration does without.
func ensureFiles(dir, name string) {
	for _, f := range []string{name + ".nvram", "vmware.log"} {
		p := filepath.Join(dir, f)
		if _, err := os.Stat(p); os.IsNotExist(err) {
			if out, err := os.Create(p); err == nil {
				_ = out.Close()
			}
		}
	}
}

func datastoreNamed(name string) *simulator.Datastore {
	for _, e := range simulator.Map.All("Datastore") {
		if ds, ok := e.(*simulator.Datastore); ok && ds.Name == name {
			return ds
		}
	}
	return nil
}

func mounts(host *simulator.HostSystem, ds *simulator.Datastore) bool {
	for _, m := range ds.Host {
		if m.Key == host.Self {
			return true
		}
	}
	return false
}

// poolHostFor picks a connected host of the pool's compute resource that
// mounts ds, nil if there is none.
func poolHostFor(pool types.ManagedObjectReference, ds *simulator.Datastore) *simulator.HostSystem {
	var hosts []types.ManagedObjectReference
	switch owner := ownerOf(pool).(type) {
	case *simulator.ClusterComputeResource:
		hosts = owner.Host
	case *mo.ComputeResource:
		hosts = owner.Host
	}
	for _, ref := range hosts {
		if h, ok := simulator.Map.Get(ref).(*simulator.HostSystem); ok && h.Runtime.ConnectionState == hostConnected && mounts(h, ds) {
			return h
		}
	}
	return nil
}

func ownerOf(pool types.ManagedObjectReference) mo.Reference {
	if rp, ok := simulator.Map.Get(pool).(*simulator.ResourcePool); ok {
		return simulator.Map.Get(rp.Owner)
	}
	return nil
}
