package main

import (
	"reflect"
	"runtime"
	"strings"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// propertyCollector is the simulator's PropertyCollector with a Fetch that
// answers an unset property (vm.snapshot of a VM without snapshots,
// eventManager.latestEvent, ...) with no value, as vCenter does. pyVmomi
// reads a single property through Fetch (e.g. `vm.snapshot`), and govmomi
// 0.24.2's Fetch indexes an empty MissingSet for such a property: the handler
// panics and the client sees the connection drop.
//
// The simulator supports wrapping the PropertyCollector singleton: the
// per-session instances are created from the registered object's type.
type propertyCollector struct {
	simulator.PropertyCollector
}

// FetchResponse and fetchBody mirror the simulator's internal Fetch types,
// which cannot be imported; the SOAP element is named after FetchResponse.
type FetchResponse struct {
	Returnval types.AnyType `xml:"returnval,omitempty,typeattr"`
}

type fetchBody struct {
	Res    *FetchResponse `xml:"FetchResponse,omitempty"`
	Fault_ *soap.Fault    `xml:"http://schemas.xmlsoap.org/soap/envelope/ Fault,omitempty"`
}

func (b *fetchBody) Fault() *soap.Fault { return b.Fault_ }

// installPropertyCollector replaces the PropertyCollector singleton with the
// wrapper. Call it before serving.
func installPropertyCollector(content types.ServiceContent) {
	pc := &propertyCollector{}
	pc.Self = content.PropertyCollector
	simulator.Map.Put(pc)
}

// Fetch calls the simulator's Fetch. req is the simulator's *internal.Fetch,
// which this package cannot name; the simulator dispatches by method name and
// the argument is assignable to interface{}.
func (pc *propertyCollector) Fetch(ctx *simulator.Context, req interface{}) (res soap.HasFault) {
	defer func() {
		if r := recover(); r != nil {
			if !isUnsetPropertyPanic(r) {
				panic(r)
			}
			res = &fetchBody{Res: &FetchResponse{}}
		}
	}()
	fetch := reflect.ValueOf(&pc.PropertyCollector).MethodByName("Fetch")
	out := fetch.Call([]reflect.Value{reflect.ValueOf(ctx), reflect.ValueOf(req)})
	return out[0].Interface().(soap.HasFault)
}

// isUnsetPropertyPanic recognises the one panic Fetch is known to raise.
func isUnsetPropertyPanic(r interface{}) bool {
	err, ok := r.(runtime.Error)
	return ok && strings.Contains(err.Error(), "index out of range [0] with length 0")
}
