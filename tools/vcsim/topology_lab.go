package main

import (
	"crypto/sha1"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// ClusterHA is a cluster's vSphere HA configuration, as vCenter shows it in
// configurationEx.dasConfig and configurationEx.dasVmConfig. The simulator
// only shows it: no HA agent restarts anything.
type ClusterHA struct {
	Enabled bool `json:"enabled"`
	// HostMonitoring is "enabled" (HA restarts the VMs of a failed host) or
	// "disabled"; vSphere's default is enabled.
	HostMonitoring string `json:"host_monitoring"`
	// RestartPriority is the cluster's default (defaultVmSettings); vSphere's
	// default is medium.
	RestartPriority string `json:"restart_priority"`
	// VMs maps a VM of the cluster to its own restart priority.
	VMs map[string]string `json:"vms"`
}

const (
	defaultHostMonitoring  = string(types.ClusterDasConfigInfoServiceStateEnabled)
	defaultRestartPriority = string(types.ClusterDasVmSettingsRestartPriorityMedium)
)

// restartPriorities are the values of ClusterDasVmSettingsRestartPriority;
// clusterRestartPriority (use the cluster's default) is for a VM only.
var restartPriorities = map[string]bool{
	"disabled": true, "lowest": true, "low": true, "medium": true, "high": true, "highest": true,
}

// thumbprintPattern is the format of HostConnectSpec.sslThumbprint: the SHA-1
// hash of the certificate as 20 colon-separated pairs of hex digits.
var thumbprintPattern = regexp.MustCompile(`^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){19}$`)

// normalizeLab fills in the defaults of the keys this file adds: a host or
// spare host without a thumbprint gets one derived from its name (the same
// in every run), a cluster without "ha" gets HA off with vSphere's defaults.
func (t *Topology) normalizeLab() {
	for i := range t.Datacenters {
		dc := &t.Datacenters[i]
		for j := range dc.Clusters {
			ha := &dc.Clusters[j].HA
			if ha.HostMonitoring == "" {
				ha.HostMonitoring = defaultHostMonitoring
			}
			if ha.RestartPriority == "" {
				ha.RestartPriority = defaultRestartPriority
			}
			if ha.VMs == nil {
				ha.VMs = map[string]string{}
			}
		}
		for _, h := range dc.allHosts() {
			if h.Thumbprint == "" {
				h.Thumbprint = derivedThumbprint(h.Name)
			}
		}
	}
	for i := range t.SpareHosts {
		spare := &t.SpareHosts[i]
		if spare.Thumbprint == "" {
			spare.Thumbprint = derivedThumbprint(spare.Name)
		}
		if spare.Datastores == nil {
			spare.Datastores = []string{}
		}
	}
}

// derivedThumbprint is the thumbprint of a host the topology gives none.
func derivedThumbprint(name string) string {
	sum := sha1.Sum([]byte("vcsim host certificate " + name))
	pairs := make([]string, len(sum))
	for i, b := range sum {
		pairs[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(pairs, ":")
}

// labKeys checks the keys this file adds: thumbprints, HA settings (their
// VMs must be VMs of the cluster) and the datastores of spare hosts.
func (v *validator) labKeys(t *Topology) {
	datastores := map[string]bool{}
	for i := range t.Datacenters {
		dc := &t.Datacenters[i]
		for _, ds := range dc.Datastores {
			datastores[ds.Name] = true
		}
		for _, h := range dc.allHosts() {
			v.thumbprint(h.Thumbprint, fmt.Sprintf("host %q", h.Name))
		}
		for j := range dc.Clusters {
			v.clusterHA(&dc.Clusters[j])
		}
	}
	for _, spare := range t.SpareHosts {
		where := fmt.Sprintf("spare host %q", spare.Name)
		v.thumbprint(spare.Thumbprint, where)
		seen := map[string]bool{}
		for _, ds := range spare.Datastores {
			switch {
			case !datastores[ds]:
				v.addf("%s: unknown datastore %q", where, ds)
			case seen[ds]:
				v.addf("%s: datastore %q is listed twice", where, ds)
			}
			seen[ds] = true
		}
	}
}

func (v *validator) thumbprint(tp, where string) {
	if !thumbprintPattern.MatchString(tp) {
		v.addf("%s: thumbprint %q is not a SHA-1 thumbprint (20 pairs of hex digits separated by ':')", where, tp)
	}
}

func (v *validator) clusterHA(cl *Cluster) {
	where := fmt.Sprintf("cluster %q: ha", cl.Name)
	ha := cl.HA
	if ha.HostMonitoring != "enabled" && ha.HostMonitoring != "disabled" {
		v.addf("%s: host_monitoring must be \"enabled\" or \"disabled\", got %q", where, ha.HostMonitoring)
	}
	if !restartPriorities[ha.RestartPriority] {
		v.addf("%s: restart_priority must be one of %s, got %q", where, priorityNames(false), ha.RestartPriority)
	}
	vms := map[string]bool{}
	for _, h := range cl.Hosts {
		for _, vm := range h.VMs {
			vms[vm.Name] = true
		}
	}
	for _, name := range sortedKeys(ha.VMs) {
		priority := ha.VMs[name]
		if !vms[name] {
			v.addf("%s: vms: %q is not a VM of this cluster", where, name)
		}
		if !restartPriorities[priority] && priority != "clusterRestartPriority" {
			v.addf("%s: vms: %q: restart priority must be one of %s, got %q", where, name, priorityNames(true), priority)
		}
	}
}

func priorityNames(forVM bool) string {
	names := "disabled, lowest, low, medium, high, highest"
	if forVM {
		names += ", clusterRestartPriority"
	}
	return names
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// labExtras sets, once a datacenter's VMs exist, what the API cannot set at
// creation: each host's certificate thumbprint (summary.config.sslThumbprint)
// and each cluster's HA configuration.
func (b *builder) labExtras(d *dcBuild) {
	for _, h := range d.topo.allHosts() {
		host := simulator.Map.Get(b.world.Hosts[h.Name]).(*simulator.HostSystem)
		host.Summary.Config.SslThumbprint = h.Thumbprint
	}
	for i := range d.topo.Clusters {
		cl := &d.topo.Clusters[i]
		sim := simulator.Map.Get(b.world.Clusters[cl.Name]).(*simulator.ClusterComputeResource)
		setClusterHA(sim, cl.HA, b.world.VMs)
	}
}

// setClusterHA puts ha into the cluster's configurationEx (and its
// deprecated configuration): dasConfig with the
// cluster's defaults, dasVmConfig with one entry per VM that has a priority
// of its own, in dasSettings (dasVmConfig's own restartPriority is
// deprecated). Virtual machine monitoring stays off, vSphere's default.
func setClusterHA(cluster *simulator.ClusterComputeResource, ha ClusterHA, vms map[string]types.ManagedObjectReference) {
	das := types.ClusterDasConfigInfo{
		Enabled:        types.NewBool(ha.Enabled),
		VmMonitoring:   string(types.ClusterDasConfigInfoVmMonitoringStateVmMonitoringDisabled),
		HostMonitoring: ha.HostMonitoring,
		DefaultVmSettings: &types.ClusterDasVmSettings{
			RestartPriority: ha.RestartPriority,
		},
	}
	var perVM []types.ClusterDasVmConfigInfo
	for _, name := range sortedKeys(ha.VMs) {
		perVM = append(perVM, types.ClusterDasVmConfigInfo{
			Key:         vms[name],
			DasSettings: &types.ClusterDasVmSettings{RestartPriority: ha.VMs[name]},
		})
	}
	if config, ok := cluster.ConfigurationEx.(*types.ClusterConfigInfoEx); ok {
		config.DasConfig = das
		config.DasVmConfig = perVM
	}
	cluster.Configuration.DasConfig = das
	cluster.Configuration.DasVmConfig = perVM
}
