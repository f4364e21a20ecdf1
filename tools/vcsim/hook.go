package main

import (
	"strings"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// alarmHook is the registry handler through which the alarm manager follows
// what clients do: the simulator calls it for every object put in, changed in
// or removed from its registry, so it must stay cheap.
type alarmHook struct {
	alarms *alarmManager
}

// Reference identifies the handler in the registry; no client can reach it.
func (*alarmHook) Reference() types.ManagedObjectReference {
	return types.ManagedObjectReference{Type: "VcsimAlarmHook", Value: "alarm-hook"}
}

// PutObject is part of simulator.RegisterObject; new objects start green.
func (*alarmHook) PutObject(mo.Reference) {}

// UpdateObject follows property changes. obj is the simulator's embedded mo
// struct (e.g. *mo.VirtualMachine), not the registry object.
func (h *alarmHook) UpdateObject(obj mo.Reference, changes []types.PropertyChange) {
	h.alarms.propertyChanged(obj, changes)
}

// RemoveObject forgets a destroyed VM or host.
func (h *alarmHook) RemoveObject(ref types.ManagedObjectReference) {
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
