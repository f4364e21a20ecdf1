package main

import (
	"sort"

	"github.com/vmware/govmomi/simulator"
)

// hostAnswer is the state of a host that /chaos answers with.
type hostAnswer struct {
	Target string `json:"target"`
	Kind   string `json:"kind"` // "host"
	// ConnectionState is vCenter's runtime.connectionState; "" for a spare
	// host not added to vCenter.
	ConnectionState string `json:"connection_state"`
	Address         string `json:"address,omitempty"`
	// Alive tells whether the host's address answers probes.
	Alive bool `json:"alive"`
	// DownReasons says why a host is down: "host_down" (injected),
	// "isolated" (host_isolate), "backing_vm_not_running", "booting" (its
	// backing VM runs, the nested host is not up yet).
	DownReasons []string `json:"down_reasons"`
	BackingVM   string   `json:"backing_vm,omitempty"`
	VMs         []vmJSON `json:"vms"`
}

// vmJSON is the state of a VM in /chaos answers.
type vmJSON struct {
	Name            string `json:"name"`
	Host            string `json:"host,omitempty"`
	PowerState      string `json:"power_state"`
	ConnectionState string `json:"connection_state"`
	Heartbeat       string `json:"heartbeat"`
	Guest           string `json:"guest"` // "running", "crashed" or "hung"
	Address         string `json:"address,omitempty"`
	Alive           bool   `json:"alive"` // its address answers probes
	// Running tells whether the VM's process runs (and holds its files'
	// lock): vCenter's power state may say otherwise for a host that lost
	// power.
	Running bool `json:"running"`
	// TaskFault is the fault every task on the VM fails with (task_fault).
	TaskFault string `json:"task_fault,omitempty"`
}

// vmAnswer is the state of a VM that /chaos answers with.
type vmAnswer struct {
	Target string `json:"target"`
	Kind   string `json:"kind"` // "vm"
	vmJSON
}

// hostState describes a host and its VMs.
func (l *lab) hostState(name string) hostAnswer {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := hostAnswer{Target: name, Kind: "host", Address: l.addrs.hostIP[name], DownReasons: []string{}, VMs: []vmJSON{}}
	if h, ok := l.hosts[name]; ok {
		a.DownReasons = downReasons(h)
		if h.backing != nil {
			a.BackingVM = h.backing.vm
		}
	}
	a.Alive = !l.hostFailed(name)
	if host := findHost(l.world, name); host != nil {
		a.ConnectionState = string(host.Runtime.ConnectionState)
		for _, vm := range vmsOnHost(host.Self) {
			a.VMs = append(a.VMs, l.describeVM(vm))
		}
		sort.Slice(a.VMs, func(i, j int) bool { return a.VMs[i].Name < a.VMs[j].Name })
	}
	return a
}

func downReasons(h *hostHealth) []string {
	reasons := []string{}
	if h.injected {
		reasons = append(reasons, "host_down")
	}
	if h.isolated {
		reasons = append(reasons, "isolated")
	}
	if b := h.backing; b != nil && b.seen {
		if !b.alive {
			reasons = append(reasons, "backing_vm_not_running")
		} else if b.booting {
			reasons = append(reasons, "booting")
		}
	}
	return reasons
}

// vmState describes a VM.
func (l *lab) vmState(vm *simulator.VirtualMachine) vmAnswer {
	l.mu.Lock()
	defer l.mu.Unlock()
	return vmAnswer{Target: vm.Name, Kind: "vm", vmJSON: l.describeVM(vm)}
}

// describeVM reads a VM's state. Call with mu held.
func (l *lab) describeVM(vm *simulator.VirtualMachine) vmJSON {
	d := vmJSON{
		Name:            vm.Name,
		PowerState:      string(vm.Runtime.PowerState),
		ConnectionState: string(vm.Runtime.ConnectionState),
		Heartbeat:       string(vm.GuestHeartbeatStatus),
		Guest:           l.guest(vm.Self).String(),
		Address:         guestIP(vm),
		Alive:           guestIP(vm) != "" && l.vmAlive(vm),
		Running:         l.files.runs(vm),
		TaskFault:       l.taskFaults[vm.Self],
	}
	if host := hostOf(vm); host != nil {
		d.Host = host.Name
	}
	return d
}
