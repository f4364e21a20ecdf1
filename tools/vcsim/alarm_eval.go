package main

import (
	"fmt"
	"path"
	"reflect"
	"strconv"
	"strings"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// Alarm expressions are evaluated as vCenter does for the kinds the
// simulator supports:
//   - StateAlarmExpression: on an entity of its type, red if the property at
//     statePath compares to red as the operator says (isEqual, isUnequal),
//     else yellow if it so compares to yellow, else green.
//   - OrAlarmExpression: the worst status of its expressions.
//   - AndAlarmExpression: the least severe status of its expressions (all
//     must hold for it to trigger).
//
// Any other kind (event, metric) never triggers here.

// severity orders statuses from least to most severe.
func severity(s types.ManagedEntityStatus) int {
	switch s {
	case types.ManagedEntityStatusGreen:
		return 1
	case types.ManagedEntityStatusYellow:
		return 2
	case types.ManagedEntityStatusRed:
		return 3
	}
	return 0 // gray
}

func worst(a, b types.ManagedEntityStatus) types.ManagedEntityStatus {
	if severity(b) > severity(a) {
		return b
	}
	return a
}

// evaluate returns the status of an alarm expression on an entity.
func evaluate(expr types.BaseAlarmExpression, entity mo.Reference) types.ManagedEntityStatus {
	switch x := expr.(type) {
	case *types.StateAlarmExpression:
		return evaluateState(x, entity)
	case *types.OrAlarmExpression:
		status := types.ManagedEntityStatusGreen
		for _, e := range x.Expression {
			status = worst(status, evaluate(e, entity))
		}
		return status
	case *types.AndAlarmExpression:
		if len(x.Expression) == 0 {
			return types.ManagedEntityStatusGreen
		}
		status := types.ManagedEntityStatusRed
		for _, e := range x.Expression {
			if s := evaluate(e, entity); severity(s) < severity(status) {
				status = s
			}
		}
		return status
	}
	return types.ManagedEntityStatusGreen
}

func evaluateState(x *types.StateAlarmExpression, entity mo.Reference) types.ManagedEntityStatus {
	if x.Type != entity.Reference().Type {
		return types.ManagedEntityStatusGreen
	}
	value := propertyString(entity, x.StatePath)
	switch {
	case x.Red != "" && compares(x.Operator, value, x.Red):
		return types.ManagedEntityStatusRed
	case x.Yellow != "" && compares(x.Operator, value, x.Yellow):
		return types.ManagedEntityStatusYellow
	}
	return types.ManagedEntityStatusGreen
}

func compares(op types.StateAlarmOperator, value, threshold string) bool {
	if op == types.StateAlarmOperatorIsUnequal {
		return value != threshold
	}
	return value == threshold
}

// expressionPaths returns, by entity type, the state paths an expression
// reads.
func expressionPaths(expr types.BaseAlarmExpression, paths map[string][]string) {
	switch x := expr.(type) {
	case *types.StateAlarmExpression:
		paths[x.Type] = append(paths[x.Type], x.StatePath)
	case *types.OrAlarmExpression:
		for _, e := range x.Expression {
			expressionPaths(e, paths)
		}
	case *types.AndAlarmExpression:
		for _, e := range x.Expression {
			expressionPaths(e, paths)
		}
	}
}

// propertyString reads a property of a managed object by its vSphere path
// (e.g. "runtime.powerState") as a string: "" if unset or not found.
func propertyString(obj mo.Reference, statePath string) string {
	v := moStruct(obj)
	for _, name := range strings.Split(statePath, ".") {
		v = indirect(v)
		if v.Kind() != reflect.Struct {
			return ""
		}
		field, ok := fieldByProperty(v, name)
		if !ok {
			return ""
		}
		v = field
	}
	v = indirect(v)
	switch v.Kind() {
	case reflect.Invalid:
		return ""
	case reflect.String:
		return v.String()
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10)
	}
	return fmt.Sprint(v.Interface())
}

// moStruct digs the mo struct out of a registry object (which may wrap it,
// as the simulator's types do, in their first field).
func moStruct(obj mo.Reference) reflect.Value {
	v := reflect.ValueOf(obj).Elem()
	for path.Base(v.Type().PkgPath()) != "mo" && v.Kind() == reflect.Struct && v.NumField() > 0 {
		v = indirect(v.Field(0))
	}
	return v
}

// indirect follows pointers and interfaces; the zero Value if one is nil.
func indirect(v reflect.Value) reflect.Value {
	for v.Kind() == reflect.Ptr || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return reflect.Value{}
		}
		v = v.Elem()
	}
	return v
}

// fieldByProperty finds the field holding a property: by its mo tag (managed
// objects) or xml tag (data objects), also in embedded structs.
func fieldByProperty(v reflect.Value, name string) (reflect.Value, bool) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		if propertyName(t.Field(i)) == name {
			return v.Field(i), true
		}
	}
	for i := 0; i < t.NumField(); i++ {
		if t.Field(i).Anonymous {
			if inner := indirect(v.Field(i)); inner.Kind() == reflect.Struct {
				if f, ok := fieldByProperty(inner, name); ok {
					return f, true
				}
			}
		}
	}
	return reflect.Value{}, false
}

func propertyName(f reflect.StructField) string {
	if tag := f.Tag.Get("mo"); tag != "" {
		return tag
	}
	return strings.Split(f.Tag.Get("xml"), ",")[0]
}
