package main

import (
	"net/http"
	"reflect"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// Injected task faults (chaos task_fault, task_ok): every task on a VM fails
// with a given vSphere fault, as when its datastore is full or a quiesce
// fails, until the fault is lifted. The stock simulator's tasks never fail.

// taskFault checks a chaos request's fault: the vim type name of a method
// fault (e.g. "NoDiskSpace"), required for task_fault and refused elsewhere.
func taskFault(req chaosRequest) error {
	if req.Action != "task_fault" {
		if req.Fault != "" {
			return chaosErrorf(http.StatusBadRequest, "%q takes no \"fault\"", req.Action)
		}
		return nil
	}
	if req.Fault == "" {
		return chaosErrorf(http.StatusBadRequest, "task_fault needs a \"fault\", e.g. \"NoDiskSpace\"")
	}
	if newFault(req.Fault) == nil {
		return chaosErrorf(http.StatusBadRequest, "%q is not a vSphere method fault", req.Fault)
	}
	return nil
}

// newFault returns a new fault of the named vim type, nil if there is none.
func newFault(name string) types.BaseMethodFault {
	t, ok := types.TypeFunc()(name)
	if !ok || t.Kind() != reflect.Struct {
		return nil
	}
	fault, _ := reflect.New(t).Interface().(types.BaseMethodFault)
	return fault
}

// setTaskFault makes every later task on vm fail with the named fault, or
// lifts the injected fault when name is "".
func (l *lab) setTaskFault(vm *simulator.VirtualMachine, name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if name == "" {
		delete(l.taskFaults, vm.Self)
	} else {
		l.taskFaults[vm.Self] = name
	}
}

// failIfInjected makes a new task fail at once if its entity (a VM, see
// setTaskEntity) has an injected fault. Called before the task runs.
func (l *lab) failIfInjected(task *simulator.Task) {
	if task.Info.Entity == nil {
		return
	}
	l.mu.Lock()
	name := l.taskFaults[*task.Info.Entity]
	l.mu.Unlock()
	if name == "" {
		return
	}
	task.Execute = func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
		return nil, newFault(name)
	}
}
