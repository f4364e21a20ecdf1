// This file is compiled into govmomi's simulator package (see
// host_connection.go beside it for how).
//
// It gives the vcsim main what govmomi 0.24.2 keeps unexported and vCenter's
// VM life cycle needs: VirtualMachine.AnswerVM (absent from the stock
// simulator), the power-on step of a task that waits for an answer, the
// context (session) of an SDK request and a way to answer one, and removing a
// host or a VM from the inventory the way vCenter does (files stay).

package simulator

import (
	"bytes"
	"context"
	"fmt"
	"net/http"

	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
	"github.com/vmware/govmomi/vim25/xml"
)

// VMQuestionHandler implements VirtualMachine.AnswerVM. The vcsim main sets
// it before serving.
type VMQuestionHandler interface {
	AnswerVM(ctx *Context, vm *VirtualMachine, req *types.AnswerVM) soap.HasFault
}

// VMQuestions handles AnswerVM; with none set, AnswerVM faults as an
// unimplemented method does.
var VMQuestions VMQuestionHandler

// AnswerVM implements VirtualMachine.AnswerVM.
func (vm *VirtualMachine) AnswerVM(ctx *Context, req *types.AnswerVM) soap.HasFault {
	if VMQuestions == nil {
		return &serverFaultBody{Reason: Fault("", &types.MethodNotFound{Receiver: vm.Self, Method: "AnswerVM"})}
	}
	return VMQuestions.AnswerVM(ctx, vm, req)
}

// PowerOnRunner returns the stock power-on step of a PowerOnVM_Task, to run
// as a task's Execute with the VM locked (e.g. from AnswerVM).
func PowerOnRunner(ctx *Context, vm *VirtualMachine) func(*Task) (types.AnyType, types.BaseMethodFault) {
	runner := &powerVMTask{vm, types.VirtualMachinePowerStatePoweredOn, ctx}
	return runner.Run
}

// RequestContext returns the context of an SDK request as the simulator's
// dispatcher builds it: with the request's session, or none if the client
// has not logged in.
func RequestContext(w http.ResponseWriter, r *http.Request) *Context {
	ctx := &Context{req: r, res: w, Map: Map, Context: context.Background()}
	if cookie, err := r.Cookie(soap.SessionCookieName); err == nil {
		if s, ok := Map.SessionManager().getSession(cookie.Value); ok {
			ctx.Session = &s
		}
	}
	return ctx
}

// FaultBody is a method's answer that is a fault.
func FaultBody(fault types.BaseMethodFault) soap.HasFault {
	return &serverFaultBody{Reason: Fault("", fault)}
}

// WriteSOAP answers an SDK request with res as ServeSDK does.
func WriteSOAP(w http.ResponseWriter, res soap.HasFault) {
	var soapBody interface{}
	if f := res.Fault(); f != nil {
		w.WriteHeader(http.StatusInternalServerError)
		soapBody = struct {
			Fault *soapFault
		}{&soapFault{Code: f.Code, String: f.String, Detail: struct {
			Fault *faultDetail
		}{&faultDetail{f.Detail.Fault}}}}
	} else {
		w.WriteHeader(http.StatusOK)
		soapBody = &response{Map.Namespace, res}
	}
	var out bytes.Buffer
	fmt.Fprint(&out, xml.Header)
	e := xml.NewEncoder(&out)
	err := e.Encode(&soapEnvelope{
		Enc:  "http://schemas.xmlsoap.org/soap/encoding/",
		Env:  "http://schemas.xmlsoap.org/soap/envelope/",
		XSD:  "http://www.w3.org/2001/XMLSchema",
		XSI:  "http://www.w3.org/2001/XMLSchema-instance",
		Body: soapBody,
	})
	if err == nil {
		err = e.Flush()
	}
	if err == nil {
		_, _ = w.Write(out.Bytes())
	}
}

// RemoveVM takes a VM out of the inventory as UnregisterVM does, whatever its
// power state (vCenter does this to the VMs of a host it removes). Its files
// stay on the datastore.
func RemoveVM(ctx *Context, vm *VirtualMachine) {
	if vm.Runtime.Host != nil {
		if host, ok := Map.Get(*vm.Runtime.Host).(*HostSystem); ok {
			Map.RemoveReference(host, &host.Vm, vm.Self)
		}
	}
	if vm.ResourcePool != nil {
		switch pool := Map.Get(*vm.ResourcePool).(type) {
		case *ResourcePool:
			Map.RemoveReference(pool, &pool.Vm, vm.Self)
		case *VirtualApp:
			Map.RemoveReference(pool, &pool.Vm, vm.Self)
		}
	}
	for i := range vm.Datastore {
		if ds, ok := Map.Get(vm.Datastore[i]).(*Datastore); ok {
			Map.RemoveReference(ds, &ds.Vm, vm.Self)
		}
	}
	ctx.postEvent(&types.VmRemovedEvent{VmEvent: vm.event()})
	if f, ok := asFolderMO(Map.getEntityParent(vm, "Folder")); ok {
		folderRemoveChild(ctx, f, vm.Self)
	}
}

// RemoveHost takes a host out of the inventory: out of its cluster (or, for
// a standalone host, with its ComputeResource and root pool), and off the
// datastores it mounted. Its VMs must have been removed first.
func RemoveHost(ctx *Context, host *HostSystem) {
	ctx.postEvent(&types.HostRemovedEvent{HostEvent: host.event()})
	for _, ref := range host.Datastore {
		if ds, ok := Map.Get(ref).(*Datastore); ok {
			Map.WithLock(ds, func() {
				mounts := ds.Host[:0]
				for _, m := range ds.Host {
					if m.Key != host.Self {
						mounts = append(mounts, m)
					}
				}
				Map.Update(ds, []types.PropertyChange{{Name: "host", Val: append([]types.DatastoreHostMount(nil), mounts...)}})
			})
		}
	}
	switch parent := Map.Get(*host.Parent).(type) {
	case *ClusterComputeResource:
		Map.RemoveReference(parent, &parent.Host, host.Self)
		Map.Remove(host.Self)
	case *mo.ComputeResource:
		if parent.ResourcePool != nil {
			Map.Remove(*parent.ResourcePool)
		}
		Map.Remove(host.Self)
		if f, ok := asFolderMO(Map.getEntityParent(parent, "Folder")); ok {
			folderRemoveChild(ctx, f, parent.Self)
		}
	default:
		Map.Remove(host.Self)
	}
}

// TaskBody is the answer of a method that returns task.
func TaskBody(method string, task types.ManagedObjectReference) soap.HasFault {
	switch method {
	case "PowerOnVM_Task":
		return &methods.PowerOnVM_TaskBody{Res: &types.PowerOnVM_TaskResponse{Returnval: task}}
	case "RegisterVM_Task":
		return &methods.RegisterVM_TaskBody{Res: &types.RegisterVM_TaskResponse{Returnval: task}}
	case "RelocateVM_Task":
		return &methods.RelocateVM_TaskBody{Res: &types.RelocateVM_TaskResponse{Returnval: task}}
	case "CloneVM_Task":
		return &methods.CloneVM_TaskBody{Res: &types.CloneVM_TaskResponse{Returnval: task}}
	}
	return &methods.Destroy_TaskBody{Res: &types.Destroy_TaskResponse{Returnval: task}}
}
