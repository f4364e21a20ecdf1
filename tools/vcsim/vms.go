package main

import (
	"fmt"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/types"
)

// Every VM gets one NIC on the datacenter's default network and one thin
// disk of this size on its datastore.
const (
	vmNetwork    = "VM Network"
	vmDiskSizeKB = 16 * 1024 * 1024 // 16 GiB
)

// hostVMs creates the VMs of one host, in topology order.
func (b *builder) hostVMs(d *dcBuild, topo *Host) error {
	host := object.NewHostSystem(b.client, b.world.Hosts[topo.Name])
	pool := d.pools[topo.Name]
	for i := range topo.VMs {
		if err := b.ctx.Err(); err != nil {
			return err // stopped by a signal
		}
		if err := b.vm(d, host, pool, &topo.VMs[i]); err != nil {
			return fmt.Errorf("VM %q: %w", topo.VMs[i].Name, err)
		}
	}
	return nil
}

// vm creates one VM on host in pool (the root pool of the host's cluster or
// compute resource), powers it on if asked, then takes its snapshots in
// order, so each snapshot is a child of the previous one.
func (b *builder) vm(d *dcBuild, host *object.HostSystem, pool *object.ResourcePool, topo *VM) error {
	spec, err := b.vmConfigSpec(topo)
	if err != nil {
		return err
	}
	ref, err := b.waitRef(d.folders.VmFolder.CreateVM(b.ctx, spec, pool, host))
	if err != nil {
		return err
	}
	b.world.VMs[topo.Name] = ref
	vm := object.NewVirtualMachine(b.client, ref)
	if topo.Power == string(types.VirtualMachinePowerStatePoweredOn) {
		if _, err := b.wait(vm.PowerOn(b.ctx)); err != nil {
			return fmt.Errorf("power on: %w", err)
		}
	}
	for _, name := range topo.Snapshots {
		if _, err := b.wait(vm.CreateSnapshot(b.ctx, name, "", false, false)); err != nil {
			return fmt.Errorf("snapshot %q: %w", name, err)
		}
	}
	return nil
}

// vmConfigSpec describes the VM for CreateVM_Task. The guest address is set
// through the simulator's "SET.<property path>" extraConfig hook, which
// CreateVM applies after adding the NIC: it fills guest.ipAddress,
// summary.guest.ipAddress and guest.net[0].ipAddress, and is not kept in
// config.extraConfig.
func (b *builder) vmConfigSpec(topo *VM) (types.VirtualMachineConfigSpec, error) {
	devices, err := b.vmDevices(topo)
	if err != nil {
		return types.VirtualMachineConfigSpec{}, err
	}
	spec := types.VirtualMachineConfigSpec{
		Name:         topo.Name,
		GuestId:      string(types.VirtualMachineGuestOsIdentifierOtherLinux64Guest),
		NumCPUs:      topo.CPUs,
		MemoryMB:     int64(topo.MemoryMB),
		Files:        &types.VirtualMachineFileInfo{VmPathName: datastorePath(topo.Datastore, "")},
		DeviceChange: devices,
	}
	if topo.IP != "" {
		spec.ExtraConfig = []types.BaseOptionValue{
			&types.OptionValue{Key: "SET.guest.ipAddress", Value: topo.IP},
		}
	}
	return spec, nil
}

// vmDevices returns the device changes adding a NIC, a SCSI controller and a
// disk. Each VM gets fresh device structs: the simulator writes into them
// (keys, network reference), so they must not be shared.
func (b *builder) vmDevices(topo *VM) ([]types.BaseVirtualDeviceConfigSpec, error) {
	var devices object.VirtualDeviceList
	backing := &types.VirtualEthernetCardNetworkBackingInfo{
		VirtualDeviceDeviceBackingInfo: types.VirtualDeviceDeviceBackingInfo{DeviceName: vmNetwork},
	}
	nic, err := devices.CreateEthernetCard("vmxnet3", backing)
	if err != nil {
		return nil, err
	}
	scsi, err := devices.CreateSCSIController("pvscsi")
	if err != nil {
		return nil, err
	}
	devices = append(devices, nic, scsi)
	disk := devices.CreateDisk(scsi.(types.BaseVirtualController), b.world.Datastores[topo.Datastore],
		datastorePath(topo.Datastore, topo.Name+"/"+topo.Name+".vmdk"))
	disk.CapacityInKB = vmDiskSizeKB
	devices = append(devices, disk)
	return devices.ConfigSpec(types.VirtualDeviceConfigSpecOperationAdd)
}

// datastorePath formats "[datastore] path".
func datastorePath(datastore, path string) string {
	return (&object.DatastorePath{Datastore: datastore, Path: path}).String()
}
