package main

import (
	"fmt"
	"net"
	"strings"
)

// maxHostCPUMHz (500 cores of 2 GHz) keeps the derived core counts, and
// their sums over a cluster, inside the int16/int32 fields of the vSphere
// hardware and compute-resource summaries.
const maxHostCPUMHz = 1000000

// maxBootSeconds bounds a nested host's boot delay (an hour).
const maxBootSeconds = 3600

// validator collects every problem of a topology so that one run reports
// them all.
type validator struct {
	problems []string
	names    map[string]map[string]string // namespace -> name -> where first seen
	ips      map[string]string            // canonical IP -> where first seen
}

// validate checks the rules the world builder relies on, in two passes: the
// objects themselves (names, addresses, sizes), then, only if those are
// sound, the references between them (datastore hosts, VM datastores), so
// that a duplicate name does not also show up as a cascade of bad references.
func (t *Topology) validate() error {
	v := &validator{names: map[string]map[string]string{}, ips: map[string]string{}}
	if len(t.Datacenters) == 0 {
		v.addf("no datacenters")
	}
	v.probePort(t.ProbePort, "the topology")
	v.seconds("lock_lease_seconds", t.LockLeaseSeconds)
	v.seconds("not_responding_after_seconds", t.NotRespondingAfterSeconds)
	for i := range t.Datacenters {
		v.datacenterObjects(&t.Datacenters[i])
	}
	for _, spare := range t.SpareHosts {
		v.spareHost(spare)
	}
	if len(v.problems) == 0 {
		for i := range t.Datacenters {
			v.datacenterReferences(&t.Datacenters[i])
		}
		v.backingVMs(t)
		v.labKeys(t)
	}
	return v.err()
}

func (v *validator) addf(format string, args ...interface{}) {
	v.problems = append(v.problems, fmt.Sprintf(format, args...))
}

func (v *validator) err() error {
	switch len(v.problems) {
	case 0:
		return nil
	case 1:
		return fmt.Errorf("%s", v.problems[0])
	}
	return fmt.Errorf("%d problems:\n  %s", len(v.problems), strings.Join(v.problems, "\n  "))
}

// unique records name in a namespace. Clusters, hosts and spare hosts share
// the "compute" namespace: a standalone host's ComputeResource carries the
// host's name beside the clusters in the host folder, and a spare host may
// later be added to any cluster.
func (v *validator) unique(namespace, name, where string) {
	if name == "" {
		v.addf("%s: missing name", where)
		return
	}
	seen := v.names[namespace]
	if seen == nil {
		seen = map[string]string{}
		v.names[namespace] = seen
	}
	if first, dup := seen[name]; dup {
		v.addf("duplicate name %q: %s and %s", name, first, where)
		return
	}
	seen[name] = where
}

func (v *validator) requiredIP(ip, where string) {
	if ip == "" {
		v.addf("%s: missing ip", where)
		return
	}
	v.loopbackIP(ip, where)
}

// loopbackIP enforces the project rule that every address is on loopback, and
// that no two objects share one (each may later get its own listener).
func (v *validator) loopbackIP(ip, where string) {
	parsed := net.ParseIP(ip)
	switch {
	case parsed == nil:
		v.addf("%s: ip %q is not an IP address", where, ip)
		return
	case !parsed.IsLoopback():
		v.addf("%s: ip %q is not a loopback address (only 127.0.0.0/8 and ::1 are allowed)", where, ip)
		return
	}
	canonical := parsed.String()
	if first, dup := v.ips[canonical]; dup {
		v.addf("duplicate ip %q: %s and %s", ip, first, where)
		return
	}
	v.ips[canonical] = where
}

// datacenterObjects checks the datacenter and everything in it, except the
// references between its objects.
func (v *validator) datacenterObjects(dc *Datacenter) {
	where := fmt.Sprintf("datacenter %q", dc.Name)
	v.unique("datacenter", dc.Name, where)
	for i := range dc.Clusters {
		cl := &dc.Clusters[i]
		clWhere := fmt.Sprintf("cluster %q in %s", cl.Name, where)
		v.unique("compute", cl.Name, clWhere)
		for j := range cl.Hosts {
			v.host(&cl.Hosts[j], clWhere)
		}
	}
	for i := range dc.Hosts {
		v.host(&dc.Hosts[i], where)
	}
	for _, ds := range dc.Datastores {
		v.unique("datastore", ds.Name, fmt.Sprintf("datastore %q in %s", ds.Name, where))
	}
}

func (v *validator) host(h *Host, parentWhere string) {
	where := fmt.Sprintf("host %q in %s", h.Name, parentWhere)
	v.unique("compute", h.Name, where)
	v.requiredIP(h.IP, where)
	v.hardware(h.CPUMHz, h.MemoryMB, where)
	v.probePort(h.ProbePort, where)
	if h.BootSeconds < 0 || h.BootSeconds > maxBootSeconds {
		v.addf("%s: boot_seconds must be between 0 and %d, got %d", where, maxBootSeconds, h.BootSeconds)
	}
	if h.BootSeconds != 0 && h.BackingVM == "" {
		v.addf("%s: boot_seconds is only meaningful with backing_vm", where)
	}
	for i := range h.VMs {
		v.vm(&h.VMs[i], fmt.Sprintf("VM %q on host %q", h.VMs[i].Name, h.Name))
	}
}

// spareHost checks a spare host, whose hardware is optional but must be
// complete and valid when given.
func (v *validator) spareHost(spare SpareHost) {
	where := fmt.Sprintf("spare host %q", spare.Name)
	v.unique("compute", spare.Name, where)
	v.requiredIP(spare.IP, where)
	v.probePort(spare.ProbePort, where)
	if spare.CPUMHz != 0 || spare.MemoryMB != 0 {
		v.hardware(spare.CPUMHz, spare.MemoryMB, where)
	}
}

func (v *validator) hardware(cpuMHz int32, memoryMB int64, where string) {
	if cpuMHz <= 0 || cpuMHz > maxHostCPUMHz {
		v.addf("%s: cpu_mhz must be between 1 and %d, got %d", where, maxHostCPUMHz, cpuMHz)
	}
	if memoryMB <= 0 {
		v.addf("%s: memory_mb must be positive, got %d", where, memoryMB)
	}
}

func (v *validator) vm(vm *VM, where string) {
	v.unique("VM", vm.Name, where)
	if vm.IP != "" {
		v.loopbackIP(vm.IP, where)
	}
	v.probePort(vm.ProbePort, where)
	if vm.Power != "poweredOn" && vm.Power != "poweredOff" {
		v.addf("%s: power must be \"poweredOn\" or \"poweredOff\", got %q", where, vm.Power)
	}
	if vm.CPUs <= 0 {
		v.addf("%s: cpus must be positive, got %d", where, vm.CPUs)
	}
	if vm.MemoryMB <= 0 {
		v.addf("%s: memory_mb must be positive, got %d", where, vm.MemoryMB)
	}
	for _, snap := range vm.Snapshots {
		if snap == "" {
			v.addf("%s: empty snapshot name", where)
		}
	}
}

// datacenterReferences checks that datastores are mounted on hosts of their
// datacenter, and that each VM's datastore is mounted on the VM's host.
func (v *validator) datacenterReferences(dc *Datacenter) {
	hosts := map[string]bool{}
	for _, h := range dc.allHosts() {
		hosts[h.Name] = true
	}
	mounts := map[string]map[string]bool{} // datastore -> hosts mounting it
	for _, ds := range dc.Datastores {
		mounts[ds.Name] = v.datastoreHosts(ds, hosts, fmt.Sprintf("datastore %q in datacenter %q", ds.Name, dc.Name))
	}
	for _, h := range dc.allHosts() {
		for _, vm := range h.VMs {
			v.vmDatastore(vm.Datastore, h.Name, mounts, fmt.Sprintf("VM %q on host %q", vm.Name, h.Name))
		}
	}
}

// datastoreHosts checks a datastore's host list and returns it as a set.
func (v *validator) datastoreHosts(ds Datastore, hosts map[string]bool, where string) map[string]bool {
	if len(ds.Hosts) == 0 {
		v.addf("%s: lists no hosts (a datastore must be mounted on at least one host)", where)
	}
	mounted := map[string]bool{}
	for _, name := range ds.Hosts {
		switch {
		case !hosts[name]:
			v.addf("%s: unknown host %q (not a host of this datacenter)", where, name)
		case mounted[name]:
			v.addf("%s: host %q is listed twice", where, name)
		}
		mounted[name] = true
	}
	return mounted
}

func (v *validator) vmDatastore(ds, host string, mounts map[string]map[string]bool, where string) {
	mounted, known := mounts[ds]
	switch {
	case ds == "":
		v.addf("%s: missing datastore", where)
	case !known:
		v.addf("%s: unknown datastore %q (not defined in this datacenter)", where, ds)
	case !mounted[host]:
		v.addf("%s: datastore %q is not mounted on host %q", where, ds, host)
	}
}

// probePort checks an optional probe port (0: inherit the topology's).
func (v *validator) probePort(port int, where string) {
	if port < 0 || port > 65535 {
		v.addf("%s: probe_port must be between 1 and 65535, got %d", where, port)
	}
}

// backingVMs checks the nested hosts: a VM backs at most one host and never
// the host it runs on. A backing VM that is not in this topology is looked
// up in the admin simulator (-admin-url, checked in main.go).
func (v *validator) backingVMs(t *Topology) {
	vmHost := map[string]string{} // VM name -> its host
	for i := range t.Datacenters {
		for _, h := range t.Datacenters[i].allHosts() {
			for _, vm := range h.VMs {
				vmHost[vm.Name] = h.Name
			}
		}
	}
	backs := map[string]string{} // VM name -> the host it backs
	for i := range t.Datacenters {
		for _, h := range t.Datacenters[i].allHosts() {
			if h.BackingVM == "" {
				continue
			}
			where := fmt.Sprintf("host %q", h.Name)
			if other, dup := backs[h.BackingVM]; dup {
				v.addf("%s: backing_vm %q already backs host %q", where, h.BackingVM, other)
			}
			backs[h.BackingVM] = h.Name
			if vmHost[h.BackingVM] == h.Name {
				v.addf("%s: backing_vm %q runs on the host it backs", where, h.BackingVM)
			}
		}
	}
}
