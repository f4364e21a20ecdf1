package main

import (
	"sync"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// lab is the failure model of the simulated lab: which hosts are down and why,
// which guests crashed or hung, and what follows from that in vCenter's view
// (connection states, heartbeats; see host_state.go and vm_state.go) and on
// the network (probe listeners, probes.go). The simulator's own objects keep
// everything else.
//
// Locking: mu guards the lab's maps and serialises every change the lab makes
// to simulator objects. While holding mu the lab only writes properties that
// the lab hook does not react to (see hook.go), so the hook never waits for
// mu while mu's holder waits for the hook. Property changes the hook does
// react to (a VM's power state or guest address) are made without mu.
type lab struct {
	world *World

	mu     sync.Mutex
	hosts  map[string]*hostHealth                          // by host name, created on first use
	guests map[types.ManagedObjectReference]guestCondition // VMs whose guest crashed or hung
	// taskFaults: VMs whose tasks fail, with the fault's type name
	taskFaults map[types.ManagedObjectReference]string
	addrs      *addressBook
	probes     *probeListeners                                   // nil with -probes=false
	backing    []*backing                                        // nested hosts
	admin      *adminMonitor                                     // nil without -admin-url
	files      *fileModel                                        // processes, locks and registrations (host_power.go, file_locks.go)
	pending    map[types.ManagedObjectReference]*pendingQuestion // power-ons waiting for AnswerVM
}

// hostHealth is why a host is down, if it is.
type hostHealth struct {
	injected bool     // host_down, and no host_up since
	backing  *backing // the VM that runs this nested host; nil for a physical host
	silence           // when it went silent, isolation (host_power.go)
}

// failed tells whether the host is down: it neither answers vCenter nor its
// probes.
func (h *hostHealth) failed() bool {
	return h.injected || h.isolated || (h.backing != nil && h.backing.down())
}

// newLab creates the failure model of a freshly built world, in which nothing
// has failed yet.
func newLab(world *World, probes *probeListeners) *lab {
	l := &lab{
		world:      world,
		hosts:      map[string]*hostHealth{},
		guests:     map[types.ManagedObjectReference]guestCondition{},
		taskFaults: map[types.ManagedObjectReference]string{},
		addrs:      newAddressBook(world.Topology),
		probes:     probes,
		files:      newFileModel(),
	}
	l.backing = newBackings(world.Topology, l.health)
	return l
}

// health returns the record of a host, creating it.
func (l *lab) health(name string) *hostHealth {
	h, ok := l.hosts[name]
	if !ok {
		h = &hostHealth{}
		l.hosts[name] = h
	}
	return h
}

// hostFailed tells whether the named host is down. Call with mu held.
func (l *lab) hostFailed(name string) bool {
	h, ok := l.hosts[name]
	return ok && h.failed()
}

// start brings the simulator objects in line with the model (heartbeats of
// running guests, probe listeners) before the first client connects, and
// from then on follows every change through the registry, passing them on to
// the alarm manager too.
func (l *lab) start(alarms *alarmManager) {
	l.mu.Lock()
	for _, vm := range allVMs() {
		l.addrs.setVM(vm.Self, guestIP(vm))
		l.refreshVM(vm)
		l.ranOn(vm)
	}
	l.refreshDatastores()
	l.settle() // nested hosts whose VM is powered off start down
	l.syncAllAddresses()
	l.mu.Unlock()
	simulator.Map.AddHandler(&labHook{lab: l, alarms: alarms})
}

// close stops the admin monitor and the probe listeners.
func (l *lab) close() {
	if l.admin != nil {
		l.admin.stop()
	}
	l.probes.closeAll()
}

// allVMs returns every VM in the simulator.
func allVMs() []*simulator.VirtualMachine {
	var vms []*simulator.VirtualMachine
	for _, e := range simulator.Map.All("VirtualMachine") {
		if vm, ok := e.(*simulator.VirtualMachine); ok {
			vms = append(vms, vm)
		}
	}
	return vms
}

// guestIP is the address the VM's guest reports, "" if none.
func guestIP(vm *simulator.VirtualMachine) string {
	if vm.Guest == nil {
		return ""
	}
	return vm.Guest.IpAddress
}
