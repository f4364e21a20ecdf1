// This file is compiled into govmomi's simulator package (see host_connection.go).
//
// WaitForUpdatesEx as vCenter does it, where govmomi 0.24.2's differs:
//
//   - an update to an object removed before the update was sent: the stock
//     filter looks the object up to match the change against the filter's
//     types and panics on the missing object (the whole WaitForUpdatesEx call
//     fails). vCenter reports the object leaving; the change itself is moot.
//   - a change to a property above a path the filter names ("summary" for
//     "summary.quickStats.guestHeartbeatStatus"): the stock filter reports
//     only changes at or below a named path. vCenter reports the named path
//     whenever its value changes, whichever part of the object was assigned.

package simulator

import (
	"reflect"
	"strings"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// apply the filter's spec to an update (see stockapply).
func (f *PropertyFilter) apply(ctx *Context, change types.ObjectUpdate) types.ObjectUpdate {
	obj := ctx.Map.Get(change.Obj)
	if obj == nil {
		change.ChangeSet = nil // gone: its leave update follows
		return change
	}
	change.ChangeSet = append(change.ChangeSet, f.namedBelow(ctx, obj, change.Obj, change.ChangeSet)...)
	return f.stockapply(ctx, change)
}

// namedBelow returns, for each change to a property above a path the filter
// names for this object's type, that path's current value.
func (f *PropertyFilter) namedBelow(ctx *Context, obj mo.Reference, ref types.ManagedObjectReference,
	changes []types.PropertyChange) []types.PropertyChange {
	var below []types.PropertyChange
	kind := getManagedObject(obj).Type()
	for _, p := range f.Spec.PropSet {
		if p.Type != ref.Type {
			if field, ok := kind.FieldByName(p.Type); !(ok && field.Anonymous) {
				continue
			}
		}
		for _, name := range p.PathSet {
			for _, c := range changes {
				if strings.HasPrefix(name, c.Name+".") {
					val, _ := fieldValue(reflect.ValueOf(obj), name)
					below = append(below, types.PropertyChange{Name: name, Op: types.PropertyChangeOpAssign, Val: val})
					break
				}
			}
		}
	}
	return below
}
