package main

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// An alarm instance is one alarm triggered (yellow or red) on one entity. It
// shows in the triggeredAlarmState of the entity and of every parent of it up
// to the root folder (so rootFolder.triggeredAlarmState lists them all, as in
// vCenter); the entity's overallStatus is the worst of its own instances,
// green when it has none. Each change of status posts an
// AlarmStatusChangedEvent. An alarm that is not triggered has no instance:
// an entity's alarms start green, and going back to green clears them.
type alarmInstance struct {
	state   types.AlarmState
	shownOn []types.ManagedObjectReference // the entity and its parents
}

// alarmOwnPaths are written by the alarm manager itself: an alarm reading
// them is not re-evaluated when they change, which could never settle.
var alarmOwnPaths = []string{"overallStatus", "summary.overallStatus", "triggeredAlarmState", "declaredAlarmState"}

// scopePaths change which alarms apply to an entity.
var scopePaths = map[string][]string{
	"VirtualMachine": {"parent", "runtime.host", "resourcePool"},
	"HostSystem":     {"parent"},
}

// alarmedTypes are the entity types whose alarms are evaluated.
var alarmedTypes = []string{"VirtualMachine", "HostSystem"}

func instanceKey(a types.ManagedObjectReference, entity types.ManagedObjectReference) string {
	return a.Value + "." + entity.Value
}

// updateWatched recomputes which property paths of which entity types any
// alarm reads. The hook reads the result without the lock. Call with mu held.
func (m *alarmManager) updateWatched() {
	paths := map[string][]string{}
	for _, a := range m.alarms {
		expressionPaths(a.Info.Expression, paths)
	}
	watched := map[string][]string{}
	for kind, list := range paths {
		for _, p := range list {
			if !touches([]types.PropertyChange{{Name: p}}, alarmOwnPaths) {
				watched[kind] = append(watched[kind], p)
			}
		}
		watched[kind] = append(watched[kind], scopePaths[kind]...)
	}
	m.watched.Store(watched)
}

// propertyChanged re-evaluates the alarms of a VM or host when a property
// they read changed. It is called by the lab hook for every change in the
// simulator, so it returns at once for anything else.
func (m *alarmManager) propertyChanged(obj mo.Reference, changes []types.PropertyChange) {
	ref := obj.Reference()
	paths := m.watched.Load().(map[string][]string)[ref.Type]
	if len(paths) == 0 || !touches(changes, paths) {
		return
	}
	entity, ok := simulator.Map.Get(ref).(mo.Entity)
	if !ok {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	dirty := map[types.ManagedObjectReference]bool{}
	for _, a := range m.sortedAlarms() {
		m.evaluateOn(a, entity, dirty)
	}
	m.flush(dirty)
}

// entityRemoved forgets the alarm instances of a destroyed entity.
func (m *alarmManager) entityRemoved(ref types.ManagedObjectReference) {
	if ref.Type != "VirtualMachine" && ref.Type != "HostSystem" {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	dirty := map[types.ManagedObjectReference]bool{}
	for key, inst := range m.instances {
		if inst.state.Entity == ref {
			m.unshow(key, inst, dirty)
		}
	}
	delete(dirty, ref)
	m.flush(dirty)
}

// evaluateAlarm evaluates one alarm on every VM and host. Call with mu held.
func (m *alarmManager) evaluateAlarm(a *alarm) {
	dirty := map[types.ManagedObjectReference]bool{}
	for _, kind := range alarmedTypes {
		for _, e := range simulator.Map.All(kind) {
			m.evaluateOn(a, e, dirty)
		}
	}
	m.flush(dirty)
}

// clearAlarm removes every instance of an alarm (it was removed). Call with
// mu held.
func (m *alarmManager) clearAlarm(a *alarm) {
	dirty := map[types.ManagedObjectReference]bool{}
	for key, inst := range m.instances {
		if inst.state.Alarm == a.Self {
			m.unshow(key, inst, dirty)
		}
	}
	m.flush(dirty)
}

// evaluateOn evaluates an alarm on an entity and records the result. Call with
// mu held.
func (m *alarmManager) evaluateOn(a *alarm, entity mo.Entity, dirty map[types.ManagedObjectReference]bool) {
	status := types.ManagedEntityStatusGreen
	if a.appliesTo(entity) {
		status = evaluate(a.Info.Expression, entity)
	}
	m.setStatus(a, entity, status, dirty)
}

// appliesTo tells whether an enabled alarm is defined on the entity or above
// it, and reads properties of the entity's type.
func (a *alarm) appliesTo(entity mo.Entity) bool {
	if !a.Info.Enabled {
		return false
	}
	paths := map[string][]string{}
	expressionPaths(a.Info.Expression, paths)
	if _, ok := paths[entity.Reference().Type]; !ok {
		return false
	}
	for _, ref := range alarmScope(entity) {
		if ref == a.Info.Entity {
			return true
		}
	}
	return false
}

// alarmScope lists the entities whose alarms apply to entity: itself, its
// parents, and for a VM also its host and resource pool and their parents
// (an alarm on a cluster covers the cluster's VMs).
func alarmScope(entity mo.Entity) []types.ManagedObjectReference {
	scope := append([]types.ManagedObjectReference{entity.Reference()}, ancestors(entity)...)
	vm, ok := entity.(*simulator.VirtualMachine)
	if !ok {
		return scope
	}
	for _, ref := range []*types.ManagedObjectReference{vm.Runtime.Host, vm.ResourcePool} {
		if ref == nil {
			continue
		}
		if e, ok := simulator.Map.Get(*ref).(mo.Entity); ok {
			scope = append(scope, *ref)
			scope = append(scope, ancestors(e)...)
		}
	}
	return scope
}

// setStatus records an alarm's status on an entity, updating its instance
// and posting an AlarmStatusChangedEvent if the status changed. Call with mu
// held.
func (m *alarmManager) setStatus(a *alarm, entity mo.Entity, status types.ManagedEntityStatus, dirty map[types.ManagedObjectReference]bool) {
	key := instanceKey(a.Self, entity.Reference())
	inst, had := m.instances[key]
	old := types.ManagedEntityStatusGreen
	if had {
		old = inst.state.OverallStatus
	}
	if status == old {
		return
	}
	switch {
	case status == types.ManagedEntityStatusGreen:
		m.unshow(key, inst, dirty)
	case had:
		inst.state.OverallStatus = status
		inst.state.Time = time.Now()
		m.show(key, inst, dirty)
	default:
		inst = &alarmInstance{state: types.AlarmState{
			Key: key, Entity: entity.Reference(), Alarm: a.Self, OverallStatus: status,
			Time: time.Now(), Acknowledged: types.NewBool(false),
		}}
		inst.shownOn = append([]types.ManagedObjectReference{entity.Reference()}, ancestors(entity)...)
		m.instances[key] = inst
		m.show(key, inst, dirty)
	}
	postEvents(nil, statusChangedEvent(a, entity, old, status))
}

// show puts an instance's current state in the triggeredAlarmState of the
// entities it is shown on.
func (m *alarmManager) show(key string, inst *alarmInstance, dirty map[types.ManagedObjectReference]bool) {
	for _, ref := range inst.shownOn {
		if m.shown[ref] == nil {
			m.shown[ref] = map[string]types.AlarmState{}
		}
		m.shown[ref][key] = inst.state
		dirty[ref] = true
	}
}

// unshow removes an instance.
func (m *alarmManager) unshow(key string, inst *alarmInstance, dirty map[types.ManagedObjectReference]bool) {
	for _, ref := range inst.shownOn {
		delete(m.shown[ref], key)
		if len(m.shown[ref]) == 0 {
			delete(m.shown, ref)
		}
		dirty[ref] = true
	}
	delete(m.instances, key)
}

// flush writes triggeredAlarmState, and for VMs and hosts overallStatus, of
// the entities whose instances changed.
func (m *alarmManager) flush(dirty map[types.ManagedObjectReference]bool) {
	for ref := range dirty {
		obj := simulator.Map.Get(ref)
		if obj == nil {
			continue
		}
		states := m.shownStates(ref)
		changes := []types.PropertyChange{{Name: "triggeredAlarmState", Val: states}}
		if ref.Type == "VirtualMachine" || ref.Type == "HostSystem" {
			status := types.ManagedEntityStatusGreen
			for _, s := range states {
				if s.Entity == ref {
					status = worst(status, s.OverallStatus)
				}
			}
			changes = append(changes,
				types.PropertyChange{Name: "overallStatus", Val: status},
				types.PropertyChange{Name: "summary.overallStatus", Val: status})
		}
		simulator.Map.Update(obj, changes)
	}
}

// shownStates returns the triggeredAlarmState of an entity, by key.
func (m *alarmManager) shownStates(ref types.ManagedObjectReference) []types.AlarmState {
	states := []types.AlarmState{}
	for _, s := range m.shown[ref] {
		states = append(states, s)
	}
	sort.Slice(states, func(i, j int) bool { return states[i].Key < states[j].Key })
	return states
}

// statesOf answers GetAlarmState. Call with mu held.
func (m *alarmManager) statesOf(entity mo.Entity) []types.AlarmState {
	ref := entity.Reference()
	if ref.Type != "VirtualMachine" && ref.Type != "HostSystem" {
		return m.shownStates(ref)
	}
	states := []types.AlarmState{}
	for _, a := range m.sortedAlarms() {
		if !a.appliesTo(entity) {
			continue
		}
		key := instanceKey(a.Self, ref)
		if inst, ok := m.instances[key]; ok {
			states = append(states, inst.state)
			continue
		}
		states = append(states, types.AlarmState{Key: key, Entity: ref, Alarm: a.Self,
			OverallStatus: types.ManagedEntityStatusGreen, Acknowledged: types.NewBool(false)})
	}
	return states
}

// acknowledge marks a triggered alarm acknowledged. Call with mu held.
func (m *alarmManager) acknowledge(a, entity types.ManagedObjectReference, user string) bool {
	key := instanceKey(a, entity)
	inst, ok := m.instances[key]
	if !ok {
		return false
	}
	now := time.Now()
	inst.state.Acknowledged = types.NewBool(true)
	inst.state.AcknowledgedByUser = user
	inst.state.AcknowledgedTime = &now
	dirty := map[types.ManagedObjectReference]bool{}
	m.show(key, inst, dirty)
	m.flush(dirty)
	return true
}

// sortedAlarms returns the alarms in key order, so that their events come in
// a stable order. Call with mu held.
func (m *alarmManager) sortedAlarms() []*alarm {
	all := make([]*alarm, 0, len(m.alarms))
	for _, a := range m.alarms {
		all = append(all, a)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Self.Value < all[j].Self.Value })
	return all
}

// statusChangedEvent is the event vCenter posts when an alarm's status on an
// entity changes.
func statusChangedEvent(a *alarm, entity mo.Entity, from, to types.ManagedEntityStatus) *types.AlarmStatusChangedEvent {
	event := &types.AlarmStatusChangedEvent{
		AlarmEvent: alarmEvent(a, entity),
		Entity:     entityArgument(entity),
		From:       string(from),
		To:         string(to),
	}
	if source, ok := simulator.Map.Get(a.Info.Entity).(mo.Entity); ok {
		event.Source = entityArgument(source)
	}
	event.FullFormattedMessage = fmt.Sprintf("Alarm '%s' on %s changed from %s to %s",
		a.Info.Name, entity.Entity().Name, capitalized(string(from)), capitalized(string(to)))
	return event
}

// capitalized returns s with its first letter in upper case ("red": "Red").
func capitalized(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
