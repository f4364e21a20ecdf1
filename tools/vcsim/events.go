package main

import (
	"context"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// systemContext is the context of what happens in the lab by itself (a host
// failing, an alarm turning red): the events it posts carry no user name, as
// vCenter's own events do.
func systemContext() *simulator.Context {
	return &simulator.Context{
		Context: context.Background(),
		Map:     simulator.Map,
		Session: &simulator.Session{Registry: simulator.NewRegistry()},
	}
}

// postEvents posts events to the event manager as ctx's user, or as the
// system when ctx is nil. The event manager sets each event's key, time and
// user name.
func postEvents(ctx *simulator.Context, events ...types.BaseEvent) {
	if ctx == nil {
		ctx = systemContext()
	}
	m := simulator.Map.EventManager()
	ctx.WithLock(m, func() {
		for _, event := range events {
			m.PostEvent(ctx, &types.PostEvent{EventToPost: event})
		}
	})
}

// hostEvent is the common part of an event about host.
func hostEvent(host *simulator.HostSystem) types.HostEvent {
	event := types.Event{
		Datacenter: datacenterArgument(host),
		Host: &types.HostEventArgument{
			EntityEventArgument: types.EntityEventArgument{Name: host.Name},
			Host:                host.Self,
		},
	}
	if cr, err := computeResourceOf(host); err == nil {
		event.ComputeResource = &types.ComputeResourceEventArgument{
			EntityEventArgument: types.EntityEventArgument{Name: cr.Name},
			ComputeResource:     cr.Self,
		}
	}
	return types.HostEvent{Event: event}
}

// datacenterArgument names the datacenter holding entity, if any.
func datacenterArgument(entity mo.Entity) *types.DatacenterEventArgument {
	for _, ref := range ancestors(entity) {
		if ref.Type == "Datacenter" {
			if dc, ok := simulator.Map.Get(ref).(mo.Entity); ok {
				return &types.DatacenterEventArgument{
					EntityEventArgument: types.EntityEventArgument{Name: dc.Entity().Name},
					Datacenter:          ref,
				}
			}
		}
	}
	return nil
}

// ancestors returns the parents of entity, nearest first, up to the root
// folder.
func ancestors(entity mo.Entity) []types.ManagedObjectReference {
	var refs []types.ManagedObjectReference
	for parent := entity.Entity().Parent; parent != nil; {
		refs = append(refs, *parent)
		next, ok := simulator.Map.Get(*parent).(mo.Entity)
		if !ok {
			break
		}
		parent = next.Entity().Parent
	}
	return refs
}
