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
//
// The stock method changes the values in place, which WaitForUpdatesEx never
// reports; vCenter reports customValue like any property, so the new values
// are published through the registry.
func (c *CustomFieldsManager) SetField(ctx *Context, req *types.SetField) soap.HasFault {
	entity, ok := Map.Get(req.Entity).(mo.Entity)
	if ok {
		e := entity.Entity()
		ctx.WithLock(e, func() {
			e.CustomValue = withoutField(e.CustomValue, req.Key)
			e.Value = withoutField(e.Value, req.Key)
		})
	}
	res := c.stockSetField(ctx, req)
	if ok && res.Fault() == nil {
		e := entity.Entity()
		Map.Update(entity, []types.PropertyChange{{Name: "customValue", Val: e.CustomValue}, {Name: "value", Val: e.Value}})
	}
	return res
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

// AddCustomFieldDef, RemoveCustomFieldDef and RenameCustomFieldDef as the
// stock methods, the changed definitions published through the registry (the
// stock ones change the field list in place, which WaitForUpdatesEx never
// reports).
func (c *CustomFieldsManager) AddCustomFieldDef(req *types.AddCustomFieldDef) soap.HasFault {
	return c.publishedFields(c.stockAddCustomFieldDef(req))
}

// RemoveCustomFieldDef: see AddCustomFieldDef.
func (c *CustomFieldsManager) RemoveCustomFieldDef(req *types.RemoveCustomFieldDef) soap.HasFault {
	return c.publishedFields(c.stockRemoveCustomFieldDef(req))
}

// RenameCustomFieldDef: see AddCustomFieldDef.
func (c *CustomFieldsManager) RenameCustomFieldDef(req *types.RenameCustomFieldDef) soap.HasFault {
	return c.publishedFields(c.stockRenameCustomFieldDef(req))
}

func (c *CustomFieldsManager) publishedFields(res soap.HasFault) soap.HasFault {
	if res.Fault() == nil {
		Map.Update(c, []types.PropertyChange{{Name: "field", Val: c.Field}})
	}
	return res
}
