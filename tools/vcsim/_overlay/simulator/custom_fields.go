// This file is compiled into govmomi's simulator package (see
// host_connection.go beside it for how).
//
// CustomFieldsManager.SetField as vCenter does it: an entity holds one value
// per custom attribute, so setting it again replaces the value (vSphere API
// reference, CustomFieldsManager.SetField: "Assigns a value to a custom
// field"; ManagedEntity.customValue: "Custom field values"). govmomi 0.24.2
// appends another value with the same key each time. The Makefile renames the
// stock method stockSetField in the shadow copy of custom_fields_manager.go.

package simulator

import (
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// SetField implements CustomFieldsManager.SetField: the entity's earlier
// value of the field, if any, is dropped before the stock method adds the new one.
func (c *CustomFieldsManager) SetField(ctx *Context, req *types.SetField) soap.HasFault {
	if entity, ok := Map.Get(req.Entity).(mo.Entity); ok {
		e := entity.Entity()
		ctx.WithLock(e, func() {
			e.CustomValue = withoutField(e.CustomValue, req.Key)
			e.Value = withoutField(e.Value, req.Key)
		})
	}
	return c.stockSetField(ctx, req)
}

func withoutField(values []types.BaseCustomFieldValue, key int32) []types.BaseCustomFieldValue {
	kept := values[:0:0]
	for _, v := range values {
		if v.GetCustomFieldValue().Key != key {
			kept = append(kept, v)
		}
	}
	return kept
}
