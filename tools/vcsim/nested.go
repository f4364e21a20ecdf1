package main

import (
	"fmt"
	"net/url"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// backing is the VM that runs a nested ESXi host, as the host sees it. The VM
// is in this simulator, or (remote) in the admin simulator of -admin-url.
//
// The host is down while the VM does not run (powered off, guest crashed, or
// on a failed host), and for boot_seconds after it starts again. Reverting
// the VM to a snapshot and powering it on is the way back, as for a real
// nested host.
type backing struct {
	host   string
	vm     string
	remote bool
	boot   time.Duration

	seen     bool      // the VM was observed at least once
	alive    bool      // the VM runs
	bootTime time.Time // its last power-on, to notice a restart between two polls
	booting  bool      // it runs, but the nested host is not up yet
	gen      int       // counts boots, so that a stale boot timer does nothing
	local    types.ManagedObjectReference
}

// down tells whether the nested host is down because of its VM. Before the
// VM has been observed the host counts as up, as built.
func (b *backing) down() bool {
	return b.seen && (!b.alive || b.booting)
}

// newBackings lists the nested hosts of the topology and links each to its
// host's health record.
func newBackings(topo *Topology, health func(string) *hostHealth) []*backing {
	local := map[string]bool{}
	for i := range topo.Datacenters {
		for _, h := range topo.Datacenters[i].allHosts() {
			for _, vm := range h.VMs {
				local[vm.Name] = true
			}
		}
	}
	var all []*backing
	for i := range topo.Datacenters {
		for _, h := range topo.Datacenters[i].allHosts() {
			if h.BackingVM == "" {
				continue
			}
			b := &backing{host: h.Name, vm: h.BackingVM, remote: !local[h.BackingVM],
				boot: time.Duration(h.BootSeconds) * time.Second}
			health(h.Name).backing = b
			all = append(all, b)
		}
	}
	return all
}

// observe records the VM's state and tells whether the nested host starts
// booting now: when the VM starts running, or restarted since it was last
// seen. A VM found running at the first look is taken as booted long ago.
func (b *backing) observe(alive bool, bootTime time.Time) (boots bool) {
	first := !b.seen
	restarted := alive && b.alive && !bootTime.Equal(b.bootTime)
	wasAlive := b.alive
	b.seen, b.alive, b.bootTime = true, alive, bootTime
	switch {
	case !alive:
		b.booting = false
		return false
	case first || (wasAlive && !restarted):
		return false
	}
	b.booting = true
	b.gen++
	return true
}

// settle re-reads the backing VMs in this simulator until nothing changes:
// a host going down can stop the VM of another nested host. Call it, with mu
// held, after every change to the model.
func (l *lab) settle() {
	for range l.backing {
		changed := false
		for _, b := range l.backing {
			if !b.remote && l.observeLocal(b) {
				changed = true
			}
		}
		if !changed {
			return
		}
	}
}

// observeLocal reads a backing VM of this simulator and applies what follows
// to its host; it tells whether the host changed. Call with mu held.
func (l *lab) observeLocal(b *backing) bool {
	vm := l.findBackingVM(b)
	alive, boot := false, time.Time{}
	if vm != nil {
		alive = l.vmAlive(vm)
		if t := vm.Summary.Runtime.BootTime; t != nil {
			boot = *t
		}
	}
	return l.applyObservation(b, alive, boot)
}

// applyObservation updates a nested host from an observation of its VM and
// starts its boot timer if it boots. It tells whether the host's state
// changed. Call with mu held.
func (l *lab) applyObservation(b *backing, alive bool, boot time.Time) bool {
	before := b.down()
	if b.observe(alive, boot) {
		l.startBootTimer(b)
	}
	if b.down() == before {
		return false
	}
	l.refreshHost(b.host)
	return true
}

// startBootTimer brings the nested host up once it has booted, unless its VM
// stopped or restarted in the meantime.
func (l *lab) startBootTimer(b *backing) {
	gen := b.gen
	time.AfterFunc(b.boot, func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if b.gen != gen || !b.alive || !b.booting {
			return
		}
		b.booting = false
		l.refreshHost(b.host)
		l.settle()
	})
}

// findBackingVM returns the local VM backing a host, nil if there is none.
func (l *lab) findBackingVM(b *backing) *simulator.VirtualMachine {
	if vm, ok := simulator.Map.Get(b.local).(*simulator.VirtualMachine); ok && vm.Name == b.vm {
		return vm
	}
	vm := findVM(l.world, b.vm)
	if vm != nil {
		b.local = vm.Self
	}
	return vm
}

// findVM returns the VM named name, preferring the one the topology built;
// nil if there is none.
func findVM(w *World, name string) *simulator.VirtualMachine {
	if ref, ok := w.VMs[name]; ok {
		if vm, ok := simulator.Map.Get(ref).(*simulator.VirtualMachine); ok && vm.Name == name {
			return vm
		}
	}
	for _, vm := range allVMs() {
		if vm.Name == name {
			return vm
		}
	}
	return nil
}

// hasRemoteBacking tells whether a nested host runs on a VM of the admin
// simulator.
func (l *lab) hasRemoteBacking() bool {
	for _, b := range l.backing {
		if b.remote {
			return true
		}
	}
	return false
}

// checkRemoteBacking refuses a topology whose nested hosts run on VMs it does
// not hold unless -admin-url says where to find them.
func checkRemoteBacking(topo *Topology, adminURL *url.URL) error {
	if adminURL != nil {
		return nil
	}
	for _, b := range newBackings(topo, func(string) *hostHealth { return &hostHealth{} }) {
		if b.remote {
			return fmt.Errorf("host %q: backing_vm %q is not a VM of this topology; give -admin-url of the simulator that holds it", b.host, b.vm)
		}
	}
	return nil
}
