package main

import (
	"fmt"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// coreMHz is the clock of one simulated core; a host's cpu_mhz is split into
// cores of this speed.
const coreMHz = 2000

// computeResources creates the clusters with their hosts, then the
// standalone hosts (each in its own ComputeResource).
func (b *builder) computeResources(d *dcBuild) error {
	for i := range d.topo.Clusters {
		if err := b.cluster(d, &d.topo.Clusters[i]); err != nil {
			return fmt.Errorf("cluster %q: %w", d.topo.Clusters[i].Name, err)
		}
	}
	for i := range d.topo.Hosts {
		if err := b.standaloneHost(d, &d.topo.Hosts[i]); err != nil {
			return fmt.Errorf("host %q: %w", d.topo.Hosts[i].Name, err)
		}
	}
	return nil
}

func (b *builder) cluster(d *dcBuild, topo *Cluster) error {
	cluster, err := d.folders.HostFolder.CreateCluster(b.ctx, topo.Name, types.ClusterConfigSpecEx{})
	if err != nil {
		return err
	}
	b.world.Clusters[topo.Name] = cluster.Reference()
	sim := simulator.Map.Get(cluster.Reference()).(*simulator.ClusterComputeResource)
	pool := object.NewResourcePool(b.client, *sim.ResourcePool)
	for i := range topo.Hosts {
		host := &topo.Hosts[i]
		ref, err := b.waitRef(cluster.AddHost(b.ctx, connectSpec(host), true, nil, nil))
		if err != nil {
			return fmt.Errorf("host %q: %w", host.Name, err)
		}
		b.configureHost(d, host, ref, pool)
	}
	setComputeSummary(&sim.ComputeResource)
	return nil
}

func (b *builder) standaloneHost(d *dcBuild, host *Host) error {
	ref, err := b.waitRef(d.folders.HostFolder.AddStandaloneHost(b.ctx, connectSpec(host), true, nil, nil))
	if err != nil {
		return err
	}
	sim := simulator.Map.Get(ref).(*simulator.HostSystem)
	cr := simulator.Map.Get(*sim.Parent).(*mo.ComputeResource)
	b.configureHost(d, host, ref, object.NewResourcePool(b.client, *cr.ResourcePool))
	setComputeSummary(cr)
	return nil
}

func connectSpec(host *Host) types.HostConnectSpec {
	return types.HostConnectSpec{HostName: host.Name, UserName: "root", Password: "vcsim"}
}

// configureHost records a new host and gives it the topology's hardware and
// management address, which AddHost cannot set (the simulator clones one
// template host).
func (b *builder) configureHost(d *dcBuild, host *Host, ref types.ManagedObjectReference, pool *object.ResourcePool) {
	b.world.Hosts[host.Name] = ref
	d.pools[host.Name] = pool
	sim := simulator.Map.Get(ref).(*simulator.HostSystem)
	setHostHardware(sim, host)
	setManagementIP(sim.Config, host.IP)
}

// setHostHardware splits cpu_mhz into cores of coreMHz (at least one core,
// the last few MHz of an uneven split are dropped) and sets the memory size.
func setHostHardware(h *simulator.HostSystem, host *Host) {
	cores := host.CPUMHz / coreMHz
	if cores < 1 {
		cores = 1
	}
	mhz := host.CPUMHz / cores
	bytes := host.MemoryMB * 1024 * 1024

	summary := h.Summary.Hardware // a per-host copy, see simulator.NewHostSystem
	summary.CpuMhz = mhz
	summary.NumCpuPkgs = 1
	summary.NumCpuCores = int16(cores)
	summary.NumCpuThreads = int16(cores)
	summary.MemorySize = bytes

	h.Hardware.CpuInfo.NumCpuPackages = 1
	h.Hardware.CpuInfo.NumCpuCores = int16(cores)
	h.Hardware.CpuInfo.NumCpuThreads = int16(cores)
	h.Hardware.CpuInfo.Hz = int64(mhz) * 1000 * 1000
	h.Hardware.MemorySize = bytes
}

// setManagementIP puts ip on vmk0, both in config.network.vnic and in the
// management entry of config.virtualNicManagerInfo. The config is a deep
// copy per host, so the template is not affected.
func setManagementIP(config *types.HostConfigInfo, ip string) {
	if config.Network != nil {
		setVnicIP(config.Network.Vnic, ip)
	}
	if info := config.VirtualNicManagerInfo; info != nil {
		for i := range info.NetConfig {
			if info.NetConfig[i].NicType == string(types.HostVirtualNicManagerNicTypeManagement) {
				setVnicIP(info.NetConfig[i].CandidateVnic, ip)
			}
		}
	}
}

func setVnicIP(vnics []types.HostVirtualNic, ip string) {
	for i := range vnics {
		if vnics[i].Device == "vmk0" && vnics[i].Spec.Ip != nil {
			vnics[i].Spec.Ip.IpAddress = ip
			vnics[i].Spec.Ip.Dhcp = false
		}
	}
}

// setComputeSummary recomputes a compute resource's summary from its hosts,
// since the simulator summed the template hardware when each host was added.
// Units follow vSphere: MHz for CPU, bytes for totalMemory, MB for
// effectiveMemory.
func setComputeSummary(cr *mo.ComputeResource) {
	s := cr.Summary.GetComputeResourceSummary()
	s.TotalCpu, s.TotalMemory, s.EffectiveCpu, s.EffectiveMemory = 0, 0, 0, 0
	s.NumCpuCores, s.NumCpuThreads = 0, 0
	s.NumHosts, s.NumEffectiveHosts = 0, 0
	for _, ref := range cr.Host {
		hw := simulator.Map.Get(ref).(*simulator.HostSystem).Summary.Hardware
		mhz := hw.CpuMhz * int32(hw.NumCpuCores)
		s.TotalCpu += mhz
		s.EffectiveCpu += mhz
		s.TotalMemory += hw.MemorySize
		s.EffectiveMemory += hw.MemorySize / (1024 * 1024)
		s.NumCpuCores += hw.NumCpuCores
		s.NumCpuThreads += hw.NumCpuThreads
		s.NumHosts++
		s.NumEffectiveHosts++
	}
	s.OverallStatus = types.ManagedEntityStatusGreen
}
