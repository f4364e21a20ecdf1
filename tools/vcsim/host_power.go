package main

import (
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// A failed host, as a real one fails (see docs/simulator.md, "Failure
// semantics"):
//
//   - host_down is a power loss. The host and its VMs stop at once: their
//     addresses go silent and the VMs no longer run (their file locks are no
//     longer renewed and expire lock_lease_seconds later). vCenter notices
//     only when the host has missed heartbeats for not_responding_after_seconds:
//     until then it shows the host connected; then notResponding, and its VMs
//     disconnected with their last known power state. When the power comes
//     back (host_up) the host boots without its VMs: vCenter reconnects it and
//     shows them powered off.
//   - host_isolate cuts the host's management network only: the host goes
//     silent and vCenter shows it notResponding after the same delay, but its
//     VMs run on and keep their locks; their guests still answer unless the VM
//     network is cut too ("vm_network": false). host_rejoin ends it.

// silence is when and how a host went silent.
type silence struct {
	injectedAt time.Time // host_down
	isolated   bool      // host_isolate, and no host_rejoin since
	isolatedAt time.Time
	vmNetwork  bool      // an isolated host's VMs still reach their network
	noticeAt   time.Time // a timer will refresh vCenter's view then; zero if none
}

// since is when the host went silent by an injected failure, zero if it did
// not.
func (h *hostHealth) since() time.Time {
	var t time.Time
	if h.injected {
		t = h.injectedAt
	}
	if h.isolated && (t.IsZero() || h.isolatedAt.Before(t)) {
		t = h.isolatedAt
	}
	return t
}

// guestNetworkUp tells whether the VMs of a host reach their network: not
// when it lost power or its backing VM stopped, nor when it is isolated with
// its VM network. Call with mu held.
func (l *lab) guestNetworkUp(host *simulator.HostSystem) bool {
	if host == nil {
		return true
	}
	h, ok := l.hosts[host.Name]
	if !ok {
		return true
	}
	switch {
	case h.injected, h.backing != nil && h.backing.down():
		return false
	case h.isolated:
		return h.vmNetwork
	}
	return true
}

// noticed tells whether vCenter has noticed that a failed host is silent: at
// once for a nested host whose VM stopped, else not_responding_after_seconds
// after the host went silent. If not yet, it arranges for the host to be
// refreshed when vCenter notices. Call with mu held.
func (l *lab) noticed(name string, h *hostHealth) bool {
	if h.backing != nil && h.backing.down() {
		return true
	}
	since := h.since()
	if since.IsZero() {
		return true
	}
	at := since.Add(l.world.Topology.notRespondingAfter())
	if !time.Now().Before(at) {
		return true
	}
	if !h.noticeAt.Equal(at) {
		h.noticeAt = at
		time.AfterFunc(time.Until(at), func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			if h.noticeAt.Equal(at) {
				h.noticeAt = time.Time{}
				l.refreshHost(name)
				l.settle()
			}
		})
	}
	return false
}

// injectPowerLoss runs host_down (down) and host_up on a host.
func (l *lab) injectPowerLoss(name string, down bool) {
	var restarted []*simulator.VirtualMachine
	var silenced []string // addresses of orphans that stopped
	l.mu.Lock()
	h := l.health(name)
	switch {
	case down && !h.injected:
		h.injected, h.injectedAt = true, time.Now()
		silenced = l.files.cutPower(name, l.world.Topology.lockLease())
	case !down && h.injected:
		h.injected = false
		restarted = l.files.powerBack(name)
	}
	l.refreshHost(name)
	for _, ip := range silenced {
		l.syncAddress(ip)
	}
	l.settle()
	l.mu.Unlock()
	// The host booted without its VMs: vCenter reads them powered off once
	// it reconnects. Power states are changed without mu (see lab).
	for _, vm := range restarted {
		powerOffQuietly(vm)
	}
}

// injectIsolation runs host_isolate (on) and host_rejoin on a host.
func (l *lab) injectIsolation(name string, on, vmNetwork bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.health(name)
	if on {
		if !h.isolated {
			h.isolated, h.isolatedAt = true, time.Now()
		}
		h.vmNetwork = vmNetwork
	} else {
		h.isolated = false
	}
	l.refreshHost(name)
	l.files.syncOrphans(l)
	l.settle()
}

// powerOffQuietly records that a VM is powered off without anyone asking
// (its host rebooted): no event is posted.
func powerOffQuietly(ref *simulator.VirtualMachine) {
	vm, ok := simulator.Map.Get(ref.Self).(*simulator.VirtualMachine)
	if !ok || vm.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOff {
		return
	}
	off := types.VirtualMachinePowerStatePoweredOff
	simulator.Map.WithLock(vm, func() {
		simulator.Map.Update(vm, []types.PropertyChange{
			{Name: "runtime.powerState", Val: off},
			{Name: "summary.runtime.powerState", Val: off},
			{Name: "summary.runtime.bootTime", Val: nil},
		})
	})
}

// refreshDatastores makes each datastore's accessibility follow the hosts
// that mount it: a mount is accessible while its host is connected, a
// datastore while one of its mounts is. Call with mu held.
func (l *lab) refreshDatastores() {
	for _, e := range simulator.Map.All("Datastore") {
		ds, ok := e.(*simulator.Datastore)
		if !ok {
			continue
		}
		any, changed := false, false
		mounts := append([]types.DatastoreHostMount(nil), ds.Host...)
		for i := range mounts {
			host, _ := simulator.Map.Get(mounts[i].Key).(*simulator.HostSystem)
			up := host != nil && host.Runtime.ConnectionState == hostConnected
			any = any || up
			if old := mounts[i].MountInfo.Accessible; old == nil || *old != up {
				info := mounts[i].MountInfo
				info.Accessible = types.NewBool(up)
				mounts[i].MountInfo = info
				changed = true
			}
		}
		var updates []types.PropertyChange
		if changed {
			updates = append(updates, types.PropertyChange{Name: "host", Val: mounts})
		}
		if ds.Summary.Accessible != any {
			updates = append(updates, types.PropertyChange{Name: "summary.accessible", Val: any})
		}
		if len(updates) > 0 {
			simulator.Map.Update(ds, updates)
		}
	}
}
