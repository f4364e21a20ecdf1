package main

import (
	"strings"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// labHook is the registry handler through which the lab follows what clients
// do: the simulator calls it for every object put in, changed in or removed
// from its registry. It must stay cheap, as it sees every change (tasks,
// event collectors, ...), and it reacts only to the VM properties the lab
// derives something from (vmTriggers) and to finished tasks; the properties
// the lab itself writes are not among them (see lab's locking rule).
type labHook struct {
	lab    *lab
	alarms *alarmManager
}

// vmTriggers are the VM properties the lab follows; a change to a parent path
// (e.g. "runtime") counts too.
var vmTriggers = []string{"runtime.powerState", "guest.ipAddress", "runtime.host"}

// Reference identifies the handler in the registry; no client can reach it.
func (*labHook) Reference() types.ManagedObjectReference {
	return types.ManagedObjectReference{Type: "VcsimLabHook", Value: "lab-hook"}
}

// PutObject follows a new VM (created, cloned or registered), corrects the
// entity of a new task (see setTaskEntity) and makes it fail if its VM has an
// injected task fault (see failIfInjected).
func (h *labHook) PutObject(obj mo.Reference) {
	switch o := obj.(type) {
	case *simulator.VirtualMachine:
		h.lab.vmChanged(o)
	case *simulator.Task:
		setTaskEntity(&o.Info)
		h.lab.failIfInjected(o)
		h.lab.guardTask(o)
	}
}

// UpdateObject follows property changes. obj is the simulator's embedded mo
// struct (e.g. *mo.VirtualMachine), not the registry object.
func (h *labHook) UpdateObject(obj mo.Reference, changes []types.PropertyChange) {
	switch o := obj.(type) {
	case *mo.VirtualMachine:
		if touches(changes, vmTriggers) {
			if vm, ok := simulator.Map.Get(o.Self).(*simulator.VirtualMachine); ok {
				h.lab.vmChanged(vm)
			}
		}
	case *mo.Task:
		if touches(changes, []string{"info.state"}) && o.Info.State == types.TaskInfoStateSuccess {
			h.lab.taskSucceeded(o.Info)
		}
	}
	h.alarms.propertyChanged(obj, changes)
}

// RemoveObject forgets a destroyed VM or host. A VM's snapshot objects go
// with it (its files keep the tree: see fileModel.vmLeft); the registry calls
// this before it deletes the VM.
func (h *labHook) RemoveObject(ref types.ManagedObjectReference) {
	if ref.Type == "VirtualMachine" {
		h.lab.vmRemoved(ref)
		if vm, ok := simulator.Map.Get(ref).(*simulator.VirtualMachine); ok {
			simulator.DropSnapshots(vm)
		}
	}
	h.alarms.entityRemoved(ref)
}

// touches tells whether a change sets one of paths, or a property above or
// below one of them.
func touches(changes []types.PropertyChange, paths []string) bool {
	for _, c := range changes {
		for _, p := range paths {
			if pathsOverlap(c.Name, p) {
				return true
			}
		}
	}
	return false
}

// pathsOverlap tells whether two property paths are equal or one contains
// the other ("runtime" and "runtime.powerState").
func pathsOverlap(a, b string) bool {
	return a == b || strings.HasPrefix(b, a+".") || strings.HasPrefix(a, b+".")
}
