// This file is compiled into govmomi's simulator package through the shadow
// GOPATH (see host_connection.go and the Makefile).
//
// On ESXi a VM's snapshot tree is in its files: the .vmsd beside the .vmx
// (each snapshot's name, description, creation time, parent and which one is
// current) and a .vmsn per snapshot. A VM registered from files that have
// snapshots has them again, as new managed objects. govmomi 0.24.2 keeps the
// tree only on the VirtualMachine object, so a registration has none, and the
// snapshot objects of a VM that left the inventory stay in the registry. The
// vcsim main reads the tree when a VM leaves (ReadSnapshotFiles), drops its
// snapshot objects (DropSnapshots) and gives the tree to the next
// registration of the same files (RestoreSnapshots); these need the
// package's internals (the snapshot id counter, the file layout).

package simulator

import (
	"os"
	"path"
	"sync/atomic"

	"github.com/vmware/govmomi/vim25/types"
)

// SnapshotFiles is what a VM's .vmsd and .vmsn files hold: its snapshot tree
// (with the references of the registration that left), which snapshot is
// current, each snapshot's configuration and data file, and the last
// snapshot id given.
type SnapshotFiles struct {
	tree     []types.VirtualMachineSnapshotTree
	current  *types.ManagedObjectReference
	config   map[types.ManagedObjectReference]types.VirtualMachineConfigInfo
	dataFile map[types.ManagedObjectReference]string // datastore path of the .vmsn
	lastID   int32
}

// ReadSnapshotFiles returns what vm's files hold of its snapshots, nil if it
// has none.
func ReadSnapshotFiles(vm *VirtualMachine) *SnapshotFiles {
	if vm.Snapshot == nil || len(vm.Snapshot.RootSnapshotList) == 0 {
		return nil
	}
	s := &SnapshotFiles{
		tree:     vm.Snapshot.RootSnapshotList,
		current:  vm.Snapshot.CurrentSnapshot,
		config:   map[types.ManagedObjectReference]types.VirtualMachineConfigInfo{},
		dataFile: map[types.ManagedObjectReference]string{},
		lastID:   atomic.LoadInt32(&vm.sid),
	}
	for _, ref := range allSnapshotsInTree(s.tree) {
		if snap, ok := Map.Get(ref).(*VirtualMachineSnapshot); ok {
			s.config[ref] = snap.Config
		}
		for _, l := range vm.LayoutEx.Snapshot {
			if l.Key == ref {
				s.dataFile[ref] = layoutFileName(vm, l.DataKey)
			}
		}
	}
	return s
}

func layoutFileName(vm *VirtualMachine, key int32) string {
	for _, f := range vm.LayoutEx.File {
		if f.Key == key {
			return f.Name
		}
	}
	return ""
}

// DropSnapshots removes vm's snapshot objects from the registry: they went
// with its registration (its files keep the tree).
func DropSnapshots(vm *VirtualMachine) {
	if vm.Snapshot == nil {
		return
	}
	for _, ref := range allSnapshotsInTree(vm.Snapshot.RootSnapshotList) {
		Map.Remove(ref)
	}
}

// RestoreSnapshots gives a newly registered vm the snapshots its files hold:
// new snapshot objects in the same tree, with the same names, descriptions,
// creation times, states and ids, the same one current, each with its
// configuration and (if it is still there) its data file in the VM's layout.
// Call with vm locked.
func RestoreSnapshots(vm *VirtualMachine, s *SnapshotFiles) {
	if s == nil {
		return
	}
	refs := map[types.ManagedObjectReference]types.ManagedObjectReference{}
	info := &types.VirtualMachineSnapshotInfo{RootSnapshotList: s.restore(vm, s.tree, refs)}
	if s.current != nil {
		if ref, ok := refs[*s.current]; ok {
			info.CurrentSnapshot = &ref
		}
	}
	atomic.StoreInt32(&vm.sid, s.lastID)
	Map.Update(vm, []types.PropertyChange{
		{Name: "snapshot", Val: info},
		{Name: "layout", Val: vm.Layout},
		{Name: "layoutEx", Val: vm.LayoutEx},
		{Name: "storage", Val: vm.Storage},
	})
}

// restore creates the snapshot objects of trees and their children for vm,
// recording each old reference's new one in refs, and returns the trees
// with the new references.
func (s *SnapshotFiles) restore(vm *VirtualMachine, trees []types.VirtualMachineSnapshotTree,
	refs map[types.ManagedObjectReference]types.ManagedObjectReference) []types.VirtualMachineSnapshotTree {
	restored := make([]types.VirtualMachineSnapshotTree, 0, len(trees))
	for _, t := range trees {
		snap := &VirtualMachineSnapshot{}
		snap.Vm = vm.Self
		snap.Config = s.config[t.Snapshot]
		Map.Put(snap)
		old := t.Snapshot
		refs[old] = snap.Self
		t.Snapshot, t.Vm = snap.Self, vm.Self
		t.ChildSnapshotList = s.restore(vm, t.ChildSnapshotList, refs)
		for _, child := range t.ChildSnapshotList {
			snap.ChildSnapshot = append(snap.ChildSnapshot, child.Snapshot)
		}
		vm.layoutSnapshotFile(snap.Self, s.dataFile[old])
		restored = append(restored, t)
	}
	return restored
}

// layoutSnapshotFile lists a restored snapshot's data file in vm's layout, as
// creating the snapshot did, if the file is still on its datastore.
func (vm *VirtualMachine) layoutSnapshotFile(snap types.ManagedObjectReference, name string) {
	p, fault := parseDatastorePath(name)
	if name == "" || fault != nil {
		return
	}
	dc := Map.getEntityDatacenter(vm)
	if dc == nil {
		return
	}
	ds, ok := Map.FindByName(p.Datastore, dc.Datastore).(*Datastore)
	if !ok {
		return
	}
	st, err := os.Stat(path.Join(ds.Info.GetDatastoreInfo().Url, p.Path))
	if err != nil {
		return
	}
	key := vm.addFileLayoutEx(*p, st.Size())
	vm.addSnapshotLayout(snap, key)
	vm.addSnapshotLayoutEx(snap, key, -1)
}
