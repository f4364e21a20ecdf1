package main

import (
	"fmt"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// wait returns the result of a task. Simulator tasks run to completion inside
// the call that creates them, so the task object is read straight from the
// registry: a PropertyCollector wait per task would cost a filter and several
// round trips each, which adds up at 10,000 VMs.
func (b *builder) wait(task *object.Task, err error) (types.AnyType, error) {
	if err != nil {
		return nil, err
	}
	ref := task.Reference()
	b.tasks = append(b.tasks, ref)
	t, ok := simulator.Map.Get(ref).(*simulator.Task)
	if !ok {
		return nil, fmt.Errorf("task %s not found", ref.Value)
	}
	switch t.Info.State {
	case types.TaskInfoStateSuccess:
		return t.Info.Result, nil
	case types.TaskInfoStateError:
		return nil, fmt.Errorf("%s failed: %T", t.Info.DescriptionId, t.Info.Error.Fault)
	}
	info, err := task.WaitForResult(b.ctx, nil) // not expected: a task still running
	if err != nil {
		return nil, err
	}
	return info.Result, nil
}

// waitRef is wait for tasks whose result is a managed object reference.
func (b *builder) waitRef(task *object.Task, err error) (types.ManagedObjectReference, error) {
	res, err := b.wait(task, err)
	if err != nil {
		return types.ManagedObjectReference{}, err
	}
	ref, ok := res.(types.ManagedObjectReference)
	if !ok {
		return ref, fmt.Errorf("task returned %T, want a managed object reference", res)
	}
	return ref, nil
}

// dropTasks removes the build's tasks from the registry and from
// TaskManager.recentTask, so that clients start with an empty task list and
// the thousands of finished build tasks do not stay in memory.
func (b *builder) dropTasks() {
	for _, ref := range b.tasks {
		simulator.Map.Remove(ref)
	}
	b.tasks = nil
	content := b.client.ServiceContent
	if content.TaskManager == nil {
		return
	}
	if tm := simulator.Map.Get(*content.TaskManager); tm != nil {
		simulator.Map.Update(tm, []types.PropertyChange{{Name: "recentTask", Val: []types.ManagedObjectReference{}}})
	}
}
