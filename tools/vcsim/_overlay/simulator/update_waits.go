// This file is compiled into govmomi's simulator package (see host_connection.go).
//
// WaitForUpdatesEx at the cost of vCenter's, where govmomi 0.24.2's is far
// dearer. The stock loop, for every changed object and for every filter of the
// collector, collects every filter's whole result again (to find objects a
// change made reachable): one update costs filters x filters full reads, so a
// collector with a filter per task (as govmomi's property.Wait and our task
// waiter use) or a filter over a 1,000-VM container view spends seconds of CPU
// per 250 ms tick while a round of snapshots runs, and every other call to the
// simulator waits for a core. vCenter keeps its filters' results
// incrementally (the cost is not documented; a real vCenter does not slow down
// for its clients' filters in this way).
//
// Here the updates gathered in a tick are matched against the filters once, as
// stock, but the filters' results are read again at most once per tick, and
// only when the tick can have made an object reachable: an object was created,
// or a property changed that a filter's traversal follows (a ContainerView's
// view, a Folder's childEntity...). No other change can make an object
// reachable. The updates reported are those of the stock code; so are
// the version, the timeout and the cancellation. The stock code's log line per
// update and filter is not written (it was most of the simulator's output).
//
// A collector's filters are read from a copy of its list, skipping those
// destroyed meanwhile: the stock DestroyPropertyFilter changes the list in
// place, without the collector's lock (the collector opts out of locking), so
// a wait that read it as a filter went away failed with a panic, and
// DestroyPropertyCollector, which destroyed each filter while ranging over that
// same list, failed for any collector with three filters or more (vCenter
// destroys a collector's filters with it: PropertyCollector reference,
// DestroyPropertyCollector).

package simulator

import (
	"context"
	"strings"
	"time"

	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// WaitForUpdatesEx waits as the stock method does (see the file's comment).
func (pc *PropertyCollector) WaitForUpdatesEx(ctx *Context, r *types.WaitForUpdatesEx) soap.HasFault {
	if r.Version == "" {
		return pc.stockWaitForUpdatesEx(ctx, r) // the initial data, and the listener registered
	}
	wait, cancel, oneUpdate := waitLimits(r.Options)
	defer cancel()
	pc.mu.Lock()
	pc.cancel = cancel
	pc.mu.Unlock()

	body := &methods.WaitForUpdatesExBody{}
	set := &types.UpdateSet{Version: r.Version}
	body.Res = &types.WaitForUpdatesExResponse{Returnval: set}

	ticker := time.NewTicker(250 * time.Millisecond) // allow for updates to accumulate
	defer ticker.Stop()
	for {
		select {
		case <-wait.Done():
			body.Res.Returnval = nil
			if wait.Err() == context.Canceled {
				body.Fault_ = Fault("", new(types.RequestCanceled)) // CancelWaitForUpdates was called
				body.Res = nil
			}
			return body
		case <-ticker.C:
			pc.mu.Lock()
			updates := pc.updates
			pc.updates = nil // clear updates collected by the managed object CRUD listeners
			pc.mu.Unlock()
			if len(updates) != 0 {
				if fault := pc.collectChanges(ctx, set, updates); fault != nil {
					body.Fault_, body.Res = Fault("", fault), nil
					return body
				}
			}
			if len(set.FilterSet) != 0 {
				return body
			}
			if oneUpdate {
				body.Res.Returnval = nil
				return body
			}
		}
	}
}

// waitLimits reads WaitOptions.maxWaitSeconds: positive, a deadline; 0, one
// calculation; unset, no limit.
func waitLimits(options *types.WaitOptions) (context.Context, context.CancelFunc, bool) {
	if options != nil && options.MaxWaitSeconds != nil {
		if max := *options.MaxWaitSeconds; max > 0 {
			wait, cancel := context.WithTimeout(context.Background(), time.Second*time.Duration(max))
			return wait, cancel, false
		} else if max == 0 {
			wait, cancel := context.WithCancel(context.Background())
			return wait, cancel, true
		}
	}
	wait, cancel := context.WithCancel(context.Background())
	return wait, cancel, false
}

// collectChanges adds to set what a tick's updates mean for each filter: the
// objects that became reachable (enter), the named properties that changed
// (modify) and the objects removed (leave).
func (pc *PropertyCollector) collectChanges(ctx *Context, set *types.UpdateSet, updates []types.ObjectUpdate) types.BaseMethodFault {
	filters := pc.filters(ctx)
	if reachabilityChanged(filters, updates) {
		if fault := pc.apply(ctx, set); fault != nil {
			return fault
		}
	}
	for _, filter := range filters {
		fu := types.PropertyFilterUpdate{Filter: filter.Self}
		for _, update := range updates {
			switch update.Kind {
			case types.ObjectUpdateKindModify:
				if _, ok := filter.refs[update.Obj]; ok {
					update = filter.apply(ctx, update)
					if len(update.ChangeSet) != 0 {
						fu.ObjectSet = append(fu.ObjectSet, update)
					}
				}
			case types.ObjectUpdateKindLeave:
				if _, ok := filter.refs[update.Obj]; ok {
					delete(filter.refs, update.Obj)
					fu.ObjectSet = append(fu.ObjectSet, update)
				}
			}
		}
		if len(fu.ObjectSet) != 0 {
			set.FilterSet = append(set.FilterSet, fu)
		}
	}
	return nil
}

// reachabilityChanged tells whether updates can have made an object reachable
// from one of filters: one was created, or a property changed that a traversal
// of a filter follows (the stock collector follows a traversal spec's path on
// any object that has it, whatever the spec's type).
func reachabilityChanged(filters []*PropertyFilter, updates []types.ObjectUpdate) bool {
	var paths []string
	for _, filter := range filters {
		for _, object := range filter.Spec.ObjectSet {
			paths = traversalPaths(object.SelectSet, paths)
		}
	}
	for _, update := range updates {
		if update.Kind == types.ObjectUpdateKindEnter {
			return true
		}
		for _, change := range update.ChangeSet {
			for _, path := range paths {
				if pathsOverlap(change.Name, path) {
					return true
				}
			}
		}
	}
	return false
}

// traversalPaths adds the paths of the traversal specs in specs, and of theirs.
func traversalPaths(specs []types.BaseSelectionSpec, paths []string) []string {
	for _, spec := range specs {
		if traversal, ok := spec.(*types.TraversalSpec); ok {
			paths = traversalPaths(traversal.SelectSet, append(paths, traversal.Path))
		}
	}
	return paths
}

// pathsOverlap tells whether a change to property a can change property b:
// the same, or one above the other ("summary" and "summary.runtime").
func pathsOverlap(a, b string) bool {
	return a == b || strings.HasPrefix(b, a+".") || strings.HasPrefix(a, b+".")
}

// filters returns the collector's filters that still exist, from a copy of its
// list (see the file's comment).
func (pc *PropertyCollector) filters(ctx *Context) []*PropertyFilter {
	refs := append([]types.ManagedObjectReference(nil), pc.Filter...)
	live := make([]*PropertyFilter, 0, len(refs))
	for _, ref := range refs {
		if filter, ok := ctx.Session.Get(ref).(*PropertyFilter); ok {
			live = append(live, filter)
		}
	}
	return live
}

// apply adds to update, for each filter, the objects that became reachable
// (enter, with their properties): the stock method, over the filters that
// still exist.
func (pc *PropertyCollector) apply(ctx *Context, update *types.UpdateSet) types.BaseMethodFault {
	for _, filter := range pc.filters(ctx) {
		res, fault := pc.collect(ctx, &types.RetrievePropertiesEx{SpecSet: []types.PropertyFilterSpec{filter.Spec}})
		if fault != nil {
			return fault
		}
		fu := types.PropertyFilterUpdate{Filter: filter.Self}
		for _, o := range res.Objects {
			if _, ok := filter.refs[o.Obj]; ok {
				continue
			}
			filter.refs[o.Obj] = struct{}{}
			ou := types.ObjectUpdate{Obj: o.Obj, Kind: types.ObjectUpdateKindEnter}
			for _, p := range o.PropSet {
				ou.ChangeSet = append(ou.ChangeSet, types.PropertyChange{Op: types.PropertyChangeOpAssign, Name: p.Name, Val: p.Val})
			}
			fu.ObjectSet = append(fu.ObjectSet, ou)
		}
		if len(fu.ObjectSet) != 0 {
			update.FilterSet = append(update.FilterSet, fu)
		}
	}
	return nil
}

// DestroyPropertyCollector ends the collector's wait and destroys its filters,
// then the collector (the stock method, with the filters destroyed from a copy
// of their list).
func (pc *PropertyCollector) DestroyPropertyCollector(ctx *Context, c *types.DestroyPropertyCollector) soap.HasFault {
	pc.CancelWaitForUpdates(&types.CancelWaitForUpdates{This: c.This})
	for _, filter := range pc.filters(ctx) {
		filter.DestroyPropertyFilter(ctx, &types.DestroyPropertyFilter{This: filter.Self})
	}
	return pc.stockDestroyPropertyCollector(ctx, c)
}
