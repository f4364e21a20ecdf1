package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

func init() {
	addRoute("/chaos", newChaosHandler)
}

// chaosRequest is the body of POST /chaos.
type chaosRequest struct {
	Action string `json:"action"`
	Target string `json:"target"`
	// Fault is the vim type name of the fault task_fault injects.
	Fault string `json:"fault,omitempty"`
	// VMNetwork (host_isolate only): false cuts the VMs' network too.
	VMNetwork *bool `json:"vm_network,omitempty"`
}

// chaosError is an answer other than 200, with the HTTP status to send.
type chaosError struct {
	status int
	msg    string
}

func (e *chaosError) Error() string { return e.msg }

func chaosErrorf(status int, format string, args ...interface{}) error {
	return &chaosError{status: status, msg: fmt.Sprintf(format, args...)}
}

// hostActions and vmActions are the faults /chaos injects, by target kind.
var (
	hostActions = map[string]bool{"host_down": true, "host_up": true, "host_isolate": true, "host_rejoin": true}
	vmActions   = map[string]guestCondition{"vm_crash": guestCrashed, "vm_hang": guestHung, "vm_recover": guestRunning}
	taskActions = map[string]bool{"task_fault": true, "task_ok": true}
)

// maxChaosBody bounds the request body.
const maxChaosBody = 64 << 10

// newChaosHandler serves POST /chaos: inject a failure into the lab, or end
// one, and answer with the target's new state as JSON (see docs/simulator.md).
func newChaosHandler(w *World) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			rw.Header().Set("Allow", "POST")
			writeJSON(rw, http.StatusMethodNotAllowed, map[string]string{"error": "use POST with {\"action\": ..., \"target\": ...}"})
			return
		}
		state, err := chaos(w, r.Body)
		var ce *chaosError
		switch {
		case errors.As(err, &ce):
			writeJSON(rw, ce.status, map[string]string{"error": ce.msg})
		case err != nil:
			writeJSON(rw, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		default:
			writeJSON(rw, http.StatusOK, state)
		}
	})
}

// chaos decodes and runs one request.
func chaos(w *World, body io.Reader) (interface{}, error) {
	req, err := decodeChaos(body)
	if err != nil {
		return nil, err
	}
	l := w.Lab
	if hostActions[req.Action] {
		if !l.knownHost(req.Target) {
			return nil, targetError(w, req, "host")
		}
		switch req.Action {
		case "host_down", "host_up":
			l.injectPowerLoss(req.Target, req.Action == "host_down")
		default:
			l.injectIsolation(req.Target, req.Action == "host_isolate", req.VMNetwork == nil || *req.VMNetwork)
		}
		return l.hostState(req.Target), nil
	}
	vm, err := chaosVM(w, req)
	if err != nil {
		return nil, err
	}
	if taskActions[req.Action] {
		l.setTaskFault(vm, req.Fault) // "" for task_ok
	} else {
		l.setGuest(vm, vmActions[req.Action])
	}
	return l.vmState(vm), nil
}

// decodeChaos reads the JSON body and checks the action.
func decodeChaos(body io.Reader) (chaosRequest, error) {
	var req chaosRequest
	dec := json.NewDecoder(io.LimitReader(body, maxChaosBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, chaosErrorf(http.StatusBadRequest, "bad JSON body: %v (want {\"action\": A, \"target\": NAME})", err)
	}
	if req.Target == "" {
		return req, chaosErrorf(http.StatusBadRequest, "missing \"target\" (a host or VM name)")
	}
	if _, ok := vmActions[req.Action]; !ok && !hostActions[req.Action] && !taskActions[req.Action] {
		return req, chaosErrorf(http.StatusBadRequest, "unknown action %q (want one of %s)", req.Action, actionNames())
	}
	if req.VMNetwork != nil && req.Action != "host_isolate" {
		return req, chaosErrorf(http.StatusBadRequest, "%q takes no \"vm_network\" (only host_isolate does)", req.Action)
	}
	return req, taskFault(req)
}

func actionNames() string {
	var names []string
	for a := range hostActions {
		names = append(names, a)
	}
	for a := range vmActions {
		names = append(names, a)
	}
	for a := range taskActions {
		names = append(names, a)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// chaosVM finds the VM a vm_* action targets. Crashing or hanging needs a
// running guest.
func chaosVM(w *World, req chaosRequest) (*simulator.VirtualMachine, error) {
	vms := vmsNamed(w, req.Target)
	switch {
	case len(vms) == 0:
		return nil, targetError(w, req, "VM")
	case len(vms) > 1:
		return nil, chaosErrorf(http.StatusConflict, "%d VMs are named %q", len(vms), req.Target)
	}
	vm := vms[0]
	if (req.Action == "vm_crash" || req.Action == "vm_hang") && vm.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOn {
		return nil, chaosErrorf(http.StatusConflict, "%s: VM %q is %s; only a running guest can crash or hang",
			req.Action, req.Target, vm.Runtime.PowerState)
	}
	return vm, nil
}

// targetError explains a target that is not of the action's kind.
func targetError(w *World, req chaosRequest, kind string) error {
	if kind == "host" && len(vmsNamed(w, req.Target)) > 0 {
		return chaosErrorf(http.StatusBadRequest, "%s needs a host; %q is a VM", req.Action, req.Target)
	}
	if kind == "VM" && w.Lab.knownHost(req.Target) {
		return chaosErrorf(http.StatusBadRequest, "%s needs a VM; %q is a host", req.Action, req.Target)
	}
	return chaosErrorf(http.StatusNotFound, "no %s named %q", kind, req.Target)
}

// vmsNamed returns the VMs named name (more than one only if clients made
// duplicates).
func vmsNamed(w *World, name string) []*simulator.VirtualMachine {
	var vms []*simulator.VirtualMachine
	for _, vm := range allVMs() {
		if vm.Name == name {
			vms = append(vms, vm)
		}
	}
	return vms
}

// knownHost tells whether name is a host of the lab: in vCenter, or a spare
// host of the topology not added yet.
func (l *lab) knownHost(name string) bool {
	if _, ok := l.addrs.hostIP[name]; ok {
		return true
	}
	return findHost(l.world, name) != nil
}

func writeJSON(rw http.ResponseWriter, status int, v interface{}) {
	body, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`{"error": "encoding the answer failed"}`)
	}
	rw.Header().Set("Content-Type", "application/json")
	rw.WriteHeader(status)
	_, _ = rw.Write(append(body, '\n'))
}
