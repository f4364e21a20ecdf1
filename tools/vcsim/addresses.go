package main

import (
	"net"
	"strconv"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// addressBook knows which host or VMs stand behind each loopback address, and
// on which port each address answers probes.
//
// Host addresses come from the topology (hosts and spare hosts). VM
// addresses are the guests' live guest.ipAddress, so a clone that kept its
// source's address answers for it when it runs, wherever it runs.
type addressBook struct {
	defaultPort int
	ports       map[string]int                                       // address -> probe port named in the topology
	hostIP      map[string]string                                    // host name -> address
	ipHost      map[string]string                                    // address -> host name
	vmIP        map[types.ManagedObjectReference]string              // VM -> guest address
	ipVMs       map[string]map[types.ManagedObjectReference]struct{} // guest address -> VMs
}

func newAddressBook(topo *Topology) *addressBook {
	a := &addressBook{
		defaultPort: topo.ProbePort,
		ports:       map[string]int{},
		hostIP:      map[string]string{},
		ipHost:      map[string]string{},
		vmIP:        map[types.ManagedObjectReference]string{},
		ipVMs:       map[string]map[types.ManagedObjectReference]struct{}{},
	}
	for i := range topo.Datacenters {
		for _, h := range topo.Datacenters[i].allHosts() {
			a.addHost(h.Name, h.IP, h.ProbePort)
			for _, vm := range h.VMs {
				a.setPort(vm.IP, vm.ProbePort)
			}
		}
	}
	for _, spare := range topo.SpareHosts {
		a.addHost(spare.Name, spare.IP, spare.ProbePort)
	}
	return a
}

func (a *addressBook) addHost(name, ip string, port int) {
	ip = canonicalIP(ip)
	a.hostIP[name] = ip
	a.ipHost[ip] = name
	a.setPort(ip, port)
}

func (a *addressBook) setPort(ip string, port int) {
	if ip != "" && port != 0 {
		a.ports[canonicalIP(ip)] = port
	}
}

// setVM records a VM's guest address ("" for none).
func (a *addressBook) setVM(vm types.ManagedObjectReference, ip string) {
	ip = canonicalIP(ip)
	if old, ok := a.vmIP[vm]; ok {
		delete(a.ipVMs[old], vm)
		if len(a.ipVMs[old]) == 0 {
			delete(a.ipVMs, old)
		}
		delete(a.vmIP, vm)
	}
	if ip == "" {
		return
	}
	a.vmIP[vm] = ip
	if a.ipVMs[ip] == nil {
		a.ipVMs[ip] = map[types.ManagedObjectReference]struct{}{}
	}
	a.ipVMs[ip][vm] = struct{}{}
}

// endpoint is where an address answers probes: its port from the topology,
// or the topology's probe port for addresses it does not list.
func (a *addressBook) endpoint(ip string) string {
	port, ok := a.ports[ip]
	if !ok {
		port = a.defaultPort
	}
	return net.JoinHostPort(ip, strconv.Itoa(port))
}

// canonicalIP spells an address one way ("" if it is none).
func canonicalIP(ip string) string {
	if parsed := net.ParseIP(ip); parsed != nil {
		return parsed.String()
	}
	return ""
}

// addressAlive tells whether an address answers probes: a host's address
// while the host has not failed, a guest address while some VM with that
// address is alive (see vmAlive). Call with mu held.
func (l *lab) addressAlive(ip string) bool {
	if host, ok := l.addrs.ipHost[ip]; ok && !l.hostFailed(host) {
		return true
	}
	for ref := range l.addrs.ipVMs[ip] {
		if vm, ok := simulator.Map.Get(ref).(*simulator.VirtualMachine); ok && l.vmAlive(vm) {
			return true
		}
	}
	return l.orphanAlive(ip)
}

// syncAddress opens or closes the probe listener of an address ("" is
// ignored) to match the model. Call with mu held.
func (l *lab) syncAddress(ip string) {
	ip = canonicalIP(ip)
	if ip == "" || l.probes == nil {
		return
	}
	l.probes.set(l.addrs.endpoint(ip), l.addressAlive(ip))
}

// syncAllAddresses syncs every known address. Call with mu held.
func (l *lab) syncAllAddresses() {
	for ip := range l.addrs.ipHost {
		l.syncAddress(ip)
	}
	for ip := range l.addrs.ipVMs {
		l.syncAddress(ip)
	}
}
