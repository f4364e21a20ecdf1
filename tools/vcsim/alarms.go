package main

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// alarmManager is vCenter's AlarmManager, which govmomi 0.24.2 lacks: alarms
// are created on an entity and apply to it and every entity below it (see
// alarmScope); their state expressions are evaluated whenever a property
// they read changes (alarm_states.go).
//
// mu is a named field on purpose: the simulator uses an object's own
// Lock/Unlock, if it has them, to serialise the calls to it.
type alarmManager struct {
	mo.AlarmManager

	mu        sync.Mutex
	alarms    map[types.ManagedObjectReference]*alarm
	instances map[string]*alarmInstance                                    // by AlarmState key
	shown     map[types.ManagedObjectReference]map[string]types.AlarmState // triggeredAlarmState by entity
	watched   atomic.Value                                                 // map[string][]string: entity type -> paths to follow
}

// alarm is an Alarm managed object.
type alarm struct {
	mo.Alarm
	m *alarmManager
}

// installAlarmManager puts the AlarmManager in the simulator's registry, in
// place of the stub the simulator answers MethodNotFound from.
func installAlarmManager(content types.ServiceContent) *alarmManager {
	m := &alarmManager{
		alarms:    map[types.ManagedObjectReference]*alarm{},
		instances: map[string]*alarmInstance{},
		shown:     map[types.ManagedObjectReference]map[string]types.AlarmState{},
	}
	m.Self = *content.AlarmManager
	m.watched.Store(map[string][]string{})
	simulator.Map.Put(m)
	return m
}

// CreateAlarm creates an alarm on an entity. As in vCenter, a name is
// required (InvalidName) and unique among the alarms of that entity
// (DuplicateName).
func (m *alarmManager) CreateAlarm(ctx *simulator.Context, req *types.CreateAlarm) soap.HasFault {
	body := new(methods.CreateAlarmBody)
	entity, ok := simulator.Map.Get(req.Entity).(mo.Entity)
	if !ok {
		body.Fault_ = simulator.Fault("", &types.ManagedObjectNotFound{Obj: req.Entity})
		return body
	}
	spec := req.Spec.GetAlarmSpec()
	m.mu.Lock()
	defer m.mu.Unlock()
	if fault := m.checkName(spec.Name, req.Entity, nil); fault != nil {
		body.Fault_ = simulator.Fault("", fault)
		return body
	}
	a := &alarm{m: m}
	a.Self = types.ManagedObjectReference{Type: "Alarm"}
	simulator.Map.Put(a) // names it alarm-N
	a.Info = types.AlarmInfo{
		AlarmSpec: *spec, Key: a.Self.Value, Alarm: a.Self, Entity: req.Entity,
		LastModifiedTime: time.Now(), LastModifiedUser: ctx.Session.UserName,
	}
	created := &types.AlarmCreatedEvent{AlarmEvent: alarmEvent(a, entity), Entity: entityArgument(entity)}
	postEvents(ctx, created)
	a.Info.CreationEventId = created.Key
	m.alarms[a.Self] = a
	m.updateWatched()
	m.evaluateAlarm(a)
	body.Res = &types.CreateAlarmResponse{Returnval: a.Self}
	return body
}

// checkName refuses an empty name, or one that another alarm of the entity
// has (self, if not nil, is the alarm being renamed). Call with mu held.
func (m *alarmManager) checkName(name string, entity types.ManagedObjectReference, self *alarm) types.BaseMethodFault {
	if name == "" {
		return &types.InvalidName{Name: name, Entity: &entity}
	}
	for _, other := range m.alarms {
		if other != self && other.Info.Entity == entity && other.Info.Name == name {
			return &types.DuplicateName{Name: name, Object: entity}
		}
	}
	return nil
}

// GetAlarm returns the alarms defined on an entity (not those inherited from
// its parents), or every alarm if no entity is given.
func (m *alarmManager) GetAlarm(req *types.GetAlarm) soap.HasFault {
	m.mu.Lock()
	defer m.mu.Unlock()
	refs := []types.ManagedObjectReference{}
	for ref, a := range m.alarms {
		if req.Entity == nil || a.Info.Entity == *req.Entity {
			refs = append(refs, ref)
		}
	}
	sort.Slice(refs, func(i, j int) bool { return refs[i].Value < refs[j].Value })
	return &methods.GetAlarmBody{Res: &types.GetAlarmResponse{Returnval: refs}}
}

// GetAlarmState returns the state of the alarms on an entity: for a VM or
// host, every alarm that applies to it (green if not triggered); for any
// other entity, the alarms triggered on entities below it.
func (m *alarmManager) GetAlarmState(req *types.GetAlarmState) soap.HasFault {
	body := new(methods.GetAlarmStateBody)
	entity, ok := simulator.Map.Get(req.Entity).(mo.Entity)
	if !ok {
		body.Fault_ = simulator.Fault("", &types.ManagedObjectNotFound{Obj: req.Entity})
		return body
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	body.Res = &types.GetAlarmStateResponse{Returnval: m.statesOf(entity)}
	return body
}

// AcknowledgeAlarm acknowledges a triggered alarm on an entity.
func (m *alarmManager) AcknowledgeAlarm(ctx *simulator.Context, req *types.AcknowledgeAlarm) soap.HasFault {
	body := new(methods.AcknowledgeAlarmBody)
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.acknowledge(req.Alarm, req.Entity, ctx.Session.UserName) {
		body.Fault_ = simulator.Fault("the alarm is not triggered on that entity", &types.InvalidArgument{})
		return body
	}
	body.Res = new(types.AcknowledgeAlarmResponse)
	return body
}

// RemoveAlarm removes the alarm; its triggered states clear.
func (a *alarm) RemoveAlarm(ctx *simulator.Context, _ *types.RemoveAlarm) soap.HasFault {
	m := a.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if entity, ok := simulator.Map.Get(a.Info.Entity).(mo.Entity); ok {
		postEvents(ctx, &types.AlarmRemovedEvent{AlarmEvent: alarmEvent(a, entity), Entity: entityArgument(entity)})
	}
	delete(m.alarms, a.Self)
	m.updateWatched()
	m.clearAlarm(a)
	simulator.Map.Remove(a.Self)
	return &methods.RemoveAlarmBody{Res: new(types.RemoveAlarmResponse)}
}

// ReconfigureAlarm replaces the alarm's spec and re-evaluates it.
func (a *alarm) ReconfigureAlarm(ctx *simulator.Context, req *types.ReconfigureAlarm) soap.HasFault {
	body := new(methods.ReconfigureAlarmBody)
	m := a.m
	spec := req.Spec.GetAlarmSpec()
	m.mu.Lock()
	defer m.mu.Unlock()
	if fault := m.checkName(spec.Name, a.Info.Entity, a); fault != nil {
		body.Fault_ = simulator.Fault("", fault)
		return body
	}
	a.Info.AlarmSpec = *spec
	a.Info.LastModifiedTime = time.Now()
	a.Info.LastModifiedUser = ctx.Session.UserName
	if entity, ok := simulator.Map.Get(a.Info.Entity).(mo.Entity); ok {
		postEvents(ctx, &types.AlarmReconfiguredEvent{AlarmEvent: alarmEvent(a, entity), Entity: entityArgument(entity)})
	}
	m.updateWatched()
	m.evaluateAlarm(a)
	body.Res = new(types.ReconfigureAlarmResponse)
	return body
}

// alarmEvent is the common part of an event about an alarm and an entity.
func alarmEvent(a *alarm, entity mo.Entity) types.AlarmEvent {
	return types.AlarmEvent{
		Event: entityEvent(entity),
		Alarm: types.AlarmEventArgument{
			EntityEventArgument: types.EntityEventArgument{Name: a.Info.Name},
			Alarm:               a.Self,
		},
	}
}

// entityEvent fills an event's datacenter, host and VM arguments for entity.
func entityEvent(entity mo.Entity) types.Event {
	switch e := entity.(type) {
	case *simulator.HostSystem:
		return hostEvent(e).Event
	case *simulator.VirtualMachine:
		event := types.Event{Datacenter: datacenterArgument(e)}
		if host := hostOf(e); host != nil {
			event = hostEvent(host).Event
		}
		event.Vm = &types.VmEventArgument{
			EntityEventArgument: types.EntityEventArgument{Name: e.Name},
			Vm:                  e.Self,
		}
		return event
	}
	return types.Event{Datacenter: datacenterArgument(entity)}
}

func entityArgument(entity mo.Entity) types.ManagedEntityEventArgument {
	return types.ManagedEntityEventArgument{
		EntityEventArgument: types.EntityEventArgument{Name: entity.Entity().Name},
		Entity:              entity.Reference(),
	}
}
