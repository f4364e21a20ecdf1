// This file is compiled into govmomi's simulator package through the shadow
// GOPATH (see host_connection.go and the Makefile).
//
// vCenter's CloneVM_Task creates the clone where spec.location says (host,
// pool, datastore) and powers it on if spec.powerOn; its RelocateVM_Task
// moves the VM's files and updates the hosts', pools' and datastores' lists.
// govmomi 0.24.2 does neither: its clone always lands on the source's host
// (and panics when that host does not mount the requested datastore), and its
// relocation changes three properties. The Makefile renames the stock methods
// stockCloneVMTask and stockRelocateVMTask in the shadow copy of
// virtual_machine.go; the methods below take their names and delegate to the
// handler that the vcsim main sets, which decides where a VM goes (and which
// fault vCenter gives when it cannot) and calls CloneVMTo or MoveVMTo, which
// need the package's internals.

package simulator

import (
	"fmt"
	"os"
	"path"
	"reflect"
	"strings"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator/esx"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// VMPlacementHandler implements CloneVM_Task and RelocateVM_Task.
type VMPlacementHandler interface {
	CloneVM(ctx *Context, vm *VirtualMachine, req *types.CloneVM_Task) soap.HasFault
	RelocateVM(ctx *Context, vm *VirtualMachine, req *types.RelocateVM_Task) soap.HasFault
}

// VMPlacement handles CloneVM_Task and RelocateVM_Task; with none set, the
// stock methods do.
var VMPlacement VMPlacementHandler

// CloneVMTask implements VirtualMachine.CloneVM_Task.
func (vm *VirtualMachine) CloneVMTask(ctx *Context, req *types.CloneVM_Task) soap.HasFault {
	if VMPlacement == nil {
		return vm.stockCloneVMTask(ctx, req)
	}
	return VMPlacement.CloneVM(ctx, vm, req)
}

// RelocateVMTask implements VirtualMachine.RelocateVM_Task.
func (vm *VirtualMachine) RelocateVMTask(ctx *Context, req *types.RelocateVM_Task) soap.HasFault {
	if VMPlacement == nil {
		return vm.stockRelocateVMTask(ctx, req)
	}
	return VMPlacement.RelocateVM(ctx, vm, req)
}

// Placement is where a VM is to be: a host, a resource pool of that host's
// compute resource and a datastore that the host mounts (the caller checks).
type Placement struct {
	Host      types.ManagedObjectReference
	Pool      types.ManagedObjectReference
	Datastore *Datastore
}

// CloneVMTo creates the clone that req asks for at p, powered on if
// req.Spec.PowerOn: the stock clone's work (the same devices and hardware),
// on p's host, in p's pool and with its files on p's datastore. It posts
// VmBeingClonedEvent and VmClonedEvent. Call it inside the clone's task, with
// vm locked.
func CloneVMTo(ctx *Context, vm *VirtualMachine, req *types.CloneVM_Task, p Placement) (types.ManagedObjectReference, types.BaseMethodFault) {
	var none types.ManagedObjectReference
	folder, ok := Map.Get(req.Folder).(*Folder)
	if !ok {
		return none, &types.InvalidArgument{InvalidProperty: "folder"}
	}
	host := Map.Get(p.Host).(*HostSystem)
	event := vm.event()
	ctx.postEvent(&types.VmBeingClonedEvent{
		VmCloneEvent: types.VmCloneEvent{VmEvent: event},
		DestFolder:   folderEventArgument(&folder.Folder),
		DestName:     req.Name,
		DestHost:     *host.eventArgument(),
	})

	vmx := object.DatastorePath{Datastore: p.Datastore.Name, Path: req.Name}
	config := types.VirtualMachineConfigSpec{
		Name:                req.Name,
		GuestId:             vm.Config.GuestId,
		Files:               &types.VirtualMachineFileInfo{VmPathName: vmx.String()},
		NumCPUs:             vm.Config.Hardware.NumCPU,
		MemoryMB:            int64(vm.Config.Hardware.MemoryMB),
		NumCoresPerSocket:   vm.Config.Hardware.NumCoresPerSocket,
		VirtualICH7MPresent: vm.Config.Hardware.VirtualICH7MPresent,
		VirtualSMCPresent:   vm.Config.Hardware.VirtualSMCPresent,
	}
	if c := req.Spec.Config; c != nil {
		config.ExtraConfig = c.ExtraConfig
		config.InstanceUuid = c.InstanceUuid
		config.Annotation = c.Annotation
	}
	config.DeviceChange = cloneDevices(vm.Config.Hardware.Device)

	create := &createVM{Folder: folder, ctx: ctx, req: &types.CreateVM_Task{
		This:   folder.Self,
		Config: config,
		Pool:   p.Pool,
		Host:   &p.Host,
	}}
	res, fault := create.Run(nil)
	if fault != nil {
		return none, fault
	}
	ref := res.(types.ManagedObjectReference)
	clone := Map.Get(ref).(*VirtualMachine)
	if err := clone.configureDevices(&types.VirtualMachineConfigSpec{DeviceChange: req.Spec.Location.DeviceChange}); err != nil {
		return ref, err
	}
	if req.Spec.Config != nil && req.Spec.Config.DeviceChange != nil {
		if err := clone.configureDevices(&types.VirtualMachineConfigSpec{DeviceChange: req.Spec.Config.DeviceChange}); err != nil {
			return ref, err
		}
	}
	if req.Spec.Template {
		_ = clone.MarkAsTemplate(&types.MarkAsTemplate{This: clone.Self})
	}
	ctx.postEvent(&types.VmClonedEvent{
		VmCloneEvent: types.VmCloneEvent{VmEvent: clone.event()},
		SourceVm:     *event.Vm,
	})
	if req.Spec.PowerOn && !req.Spec.Template {
		on := &powerVMTask{clone, types.VirtualMachinePowerStatePoweredOn, ctx}
		if _, fault := on.Run(nil); fault != nil {
			return ref, fault
		}
	}
	return ref, nil
}

// cloneDevices returns the device changes that give a clone the source's
// devices (CreateVM adds the default ones). Each device is a copy, and each
// disk a new one in the clone's directory: the stock clone handed the
// source's own device structs to the clone, so that the source's disk then
// pointed at the clone's file.
func cloneDevices(devices []types.BaseVirtualDevice) []types.BaseVirtualDeviceConfigSpec {
	defaults := object.VirtualDeviceList(esx.VirtualDevice)
	list := object.VirtualDeviceList(devices)
	var changes []types.BaseVirtualDeviceConfigSpec
	for _, device := range devices {
		if defaults.Find(list.Name(device)) != nil {
			continue // added by CreateVM
		}
		copied := reflect.New(reflect.TypeOf(device).Elem())
		copied.Elem().Set(reflect.ValueOf(device).Elem())
		device = copied.Interface().(types.BaseVirtualDevice)
		var fop types.VirtualDeviceConfigSpecFileOperation
		if disk, ok := device.(*types.VirtualDisk); ok {
			fop = types.VirtualDeviceConfigSpecFileOperationCreate
			if b, ok := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo); ok {
				backing := *b
				backing.FileName = "" // a new file under the clone's vmPathName
				backing.Parent = nil
				backing.Datastore = nil
				disk.Backing = &backing
			}
		}
		changes = append(changes, &types.VirtualDeviceConfigSpec{
			Operation:     types.VirtualDeviceConfigSpecOperationAdd,
			Device:        device,
			FileOperation: fop,
		})
	}
	return changes
}

// MoveVMTo moves vm to p: onto p's host (and off its old host's vm list),
// into p's pool, and, if p's datastore is another one, its directory with
// every file in it onto p's datastore, so that config.files, the disks'
// backings, layout, layoutEx, storage and the datastore list name the new
// place. Call it inside the relocation's task, with vm locked.
func MoveVMTo(ctx *Context, vm *VirtualMachine, p Placement) types.BaseMethodFault {
	if vm.Runtime.Host == nil || *vm.Runtime.Host != p.Host {
		if vm.Runtime.Host != nil {
			old := Map.Get(*vm.Runtime.Host).(*HostSystem)
			Map.RemoveReference(old, &old.Vm, vm.Self)
			Map.Update(old, []types.PropertyChange{{Name: "vm", Val: old.Vm}})
		}
		host := Map.Get(p.Host).(*HostSystem)
		Map.AddReference(host, &host.Vm, vm.Self)
		Map.Update(host, []types.PropertyChange{{Name: "vm", Val: host.Vm}})
		if cr := hostParent(&host.HostSystem); cr != nil && cr.EnvironmentBrowser != nil {
			vm.EnvironmentBrowser = *cr.EnvironmentBrowser
		}
		ref := p.Host
		Map.Update(vm, []types.PropertyChange{
			{Name: "runtime.host", Val: &ref},
			{Name: "summary.runtime.host", Val: &ref},
		})
	}
	if vm.ResourcePool == nil || *vm.ResourcePool != p.Pool {
		if vm.ResourcePool != nil {
			movePoolMember(Map.Get(*vm.ResourcePool), vm.Self, false)
		}
		movePoolMember(Map.Get(p.Pool), vm.Self, true)
		ref := p.Pool
		Map.Update(vm, []types.PropertyChange{{Name: "resourcePool", Val: &ref}})
	}
	return moveVMFiles(vm, p.Datastore)
}

// movePoolMember adds vm to, or removes it from, a resource pool's or
// vApp's vm list.
func movePoolMember(pool mo.Reference, vm types.ManagedObjectReference, add bool) {
	var field *[]types.ManagedObjectReference
	switch p := pool.(type) {
	case *ResourcePool:
		field = &p.Vm
	case *VirtualApp:
		field = &p.Vm
	default:
		return
	}
	if add {
		Map.AddReference(pool, field, vm)
	} else {
		Map.RemoveReference(pool, field, vm)
	}
	Map.Update(pool, []types.PropertyChange{{Name: "vm", Val: *field}})
}

// moveVMFiles moves the directory of vm's configuration file, with every file
// in it (disks, snapshots, logs), to the same directory name on ds ("name
// (1)" and so on if that is taken, as CreateVM does), and makes every
// datastore path of vm, and of its snapshots' configurations, follow.
func moveVMFiles(vm *VirtualMachine, ds *Datastore) types.BaseMethodFault {
	vmx := vm.vmx(nil)
	if ds == nil || vmx.Datastore == ds.Name {
		return nil
	}
	dc := Map.getEntityDatacenter(vm)
	old, ok := Map.FindByName(vmx.Datastore, dc.Datastore).(*Datastore)
	if !ok {
		return &types.InvalidDatastore{Name: vmx.Datastore}
	}
	oldDir := path.Dir(vmx.Path)
	if path.Ext(vmx.Path) != ".vmx" {
		oldDir = vmx.Path
	}
	oldAbs := path.Join(old.Info.GetDatastoreInfo().Url, oldDir)
	newDir := oldDir
	newAbs := path.Join(ds.Info.GetDatastoreInfo().Url, newDir)
	for i := 1; ; i++ {
		if _, err := os.Stat(newAbs); os.IsNotExist(err) {
			break
		}
		newDir = fmt.Sprintf("%s (%d)", oldDir, i)
		newAbs = path.Join(ds.Info.GetDatastoreInfo().Url, newDir)
	}
	if err := os.Rename(oldAbs, newAbs); err != nil {
		return &types.FileFault{File: vm.Config.Files.VmPathName}
	}

	m := pathMove{
		from: (&object.DatastorePath{Datastore: old.Name, Path: oldDir}).String(),
		to:   (&object.DatastorePath{Datastore: ds.Name, Path: newDir}).String(),
		dir:  oldDir, newDir: newDir, ds: ds.Self,
		oldDS: "[" + old.Name + "] ", newName: "[" + ds.Name + "] ",
	}
	m.config(vm.Config)
	if vm.Snapshot != nil {
		for _, ref := range allSnapshotsInTree(vm.Snapshot.RootSnapshotList) {
			if snap, ok := Map.Get(ref).(*VirtualMachineSnapshot); ok {
				m.config(&snap.Config)
			}
		}
	}
	m.layout(vm)
	vm.log = strings.Replace(vm.log, oldAbs, newAbs, 1)

	// The datastores still in use: those of the VM's files.
	used := map[string]bool{ds.Name: true}
	for _, f := range vm.LayoutEx.File {
		var p object.DatastorePath
		if p.FromString(f.Name) {
			used[p.Datastore] = true
		}
	}
	var stores []types.ManagedObjectReference
	for _, ref := range vm.Datastore {
		if d, ok := Map.Get(ref).(*Datastore); ok && used[d.Name] && ref != ds.Self {
			stores = append(stores, ref)
		}
	}
	stores = append(stores, ds.Self)
	if !used[old.Name] {
		Map.RemoveReference(old, &old.Vm, vm.Self)
		Map.Update(old, []types.PropertyChange{{Name: "vm", Val: old.Vm}})
	}
	Map.AddReference(ds, &ds.Vm, vm.Self)
	Map.Update(ds, []types.PropertyChange{{Name: "vm", Val: ds.Vm}})
	moveDiskSpace(vm, old, ds)

	vm.Datastore = stores
	vm.updateStorage()
	Map.Update(vm, []types.PropertyChange{
		{Name: "datastore", Val: stores},
		{Name: "config.files", Val: vm.Config.Files},
		{Name: "config.hardware.device", Val: vm.Config.Hardware.Device},
		{Name: "summary.config.vmPathName", Val: vm.Config.Files.VmPathName},
		{Name: "layout", Val: vm.Layout},
		{Name: "layoutEx", Val: vm.LayoutEx},
		{Name: "storage", Val: vm.Storage},
		{Name: "summary.storage", Val: vm.Summary.Storage},
	})
	return nil
}

// moveDiskSpace moves the capacity of vm's disks now on to from from's free
// space to to's, as the simulator took it from the datastore a disk was
// created on.
func moveDiskSpace(vm *VirtualMachine, from, to *Datastore) {
	var size int64
	for _, d := range object.VirtualDeviceList(vm.Config.Hardware.Device).SelectByType((*types.VirtualDisk)(nil)) {
		disk := d.(*types.VirtualDisk)
		if b, ok := disk.Backing.(types.BaseVirtualDeviceFileBackingInfo); ok {
			var p object.DatastorePath
			if p.FromString(b.GetVirtualDeviceFileBackingInfo().FileName) && p.Datastore == to.Name {
				size += getDiskSize(disk)
			}
		}
	}
	for _, move := range []struct {
		ds    *Datastore
		delta int64
	}{{from, size}, {to, -size}} {
		ds, delta := move.ds, move.delta
		Map.WithLock(ds, func() {
			ds.Summary.FreeSpace += delta
			ds.Info.GetDatastoreInfo().FreeSpace = ds.Summary.FreeSpace
		})
	}
}

// pathMove rewrites the datastore paths of a VM whose directory moved.
type pathMove struct {
	from, to       string // "[old] dir" and "[new] newdir"
	dir, newDir    string // the directory names alone (layout's configFile and logFile)
	oldDS, newName string // "[old] " and "[new] "
	ds             types.ManagedObjectReference
}

// file rewrites a name of layoutEx or of a snapshot's layout, which the
// simulator gives as "[datastore] file name" without the directory: any
// file of the old datastore is in the moved directory.
func (m pathMove) file(s string) string {
	if moved := m.path(s); moved != s {
		return moved
	}
	if strings.HasPrefix(s, m.oldDS) {
		return m.newName + s[len(m.oldDS):]
	}
	return s
}

func (m pathMove) path(s string) string {
	if s == m.from || strings.HasPrefix(s, m.from+"/") {
		return m.to + s[len(m.from):]
	}
	return s
}

func (m pathMove) relative(s string) string {
	if s == m.dir || strings.HasPrefix(s, m.dir+"/") {
		return m.newDir + s[len(m.dir):]
	}
	return s
}

// config rewrites a configuration's files and its devices' file backings.
func (m pathMove) config(c *types.VirtualMachineConfigInfo) {
	f := &c.Files
	for _, p := range []*string{&f.VmPathName, &f.SnapshotDirectory, &f.SuspendDirectory, &f.LogDirectory, &f.FtMetadataDirectory} {
		*p = m.path(*p)
	}
	if c.Hardware.Device == nil {
		return
	}
	for _, device := range c.Hardware.Device {
		backing := device.GetVirtualDevice().Backing
		if disk, ok := backing.(*types.VirtualDiskFlatVer2BackingInfo); ok {
			for b := disk; b != nil; b = b.Parent {
				if moved := m.path(b.FileName); moved != b.FileName {
					b.FileName = moved
					ds := m.ds
					b.Datastore = &ds
				}
			}
			continue
		}
		if file, ok := backing.(types.BaseVirtualDeviceFileBackingInfo); ok {
			info := file.GetVirtualDeviceFileBackingInfo()
			info.FileName = m.path(info.FileName)
		}
	}
}

// layout rewrites the file names of vm's layout and layoutEx.
func (m pathMove) layout(vm *VirtualMachine) {
	l := vm.Layout
	for i := range l.ConfigFile {
		l.ConfigFile[i] = m.relative(l.ConfigFile[i])
	}
	for i := range l.LogFile {
		l.LogFile[i] = m.relative(l.LogFile[i])
	}
	l.SwapFile = m.file(l.SwapFile)
	for i := range l.Disk {
		for j := range l.Disk[i].DiskFile {
			l.Disk[i].DiskFile[j] = m.path(l.Disk[i].DiskFile[j])
		}
	}
	for i := range l.Snapshot {
		for j := range l.Snapshot[i].SnapshotFile {
			l.Snapshot[i].SnapshotFile[j] = m.file(l.Snapshot[i].SnapshotFile[j])
		}
	}
	for i := range vm.LayoutEx.File {
		vm.LayoutEx.File[i].Name = m.file(vm.LayoutEx.File[i].Name)
	}
}
