package api

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
)

// Introspection (GraphQL spec, "Schema Introspection", as graphql-js 16
// answers it): __schema and __type on Query, resolved from the parsed
// schema. Values: *ast.Schema (__Schema), *introType (__Type),
// *ast.FieldDefinition (__Field), *introInput (__InputValue),
// *ast.EnumValueDefinition (__EnumValue), *ast.DirectiveDefinition
// (__Directive).

// introType is a __Type: a named type, or a list / non-null wrapper.
type introType struct {
	def *ast.Definition
	// kind and of are set for wrappers: LIST or NON_NULL of of.
	kind string
	of   *ast.Type
}

func typeOf(t *ast.Type) *introType {
	switch {
	case t.NonNull:
		inner := *t
		inner.NonNull = false
		return &introType{kind: "NON_NULL", of: &inner}
	case t.Elem != nil:
		return &introType{kind: "LIST", of: t.Elem}
	}
	def := gqlSchema.Types[t.NamedType]
	if def == nil {
		return nil
	}
	return &introType{def: def}
}

func namedType(name string) *introType {
	if def := gqlSchema.Types[name]; def != nil {
		return &introType{def: def}
	}
	return nil
}

// introInput is an __InputValue: an argument or an input object's field.
type introInput struct {
	name, desc string
	typ        *ast.Type
	def        *ast.Value
	dirs       ast.DirectiveList
}

func strOrNil(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func deprecation(dirs ast.DirectiveList) (bool, any) {
	d := dirs.ForName("deprecated")
	if d == nil {
		return false, nil
	}
	reason := "No longer supported"
	if a := d.Arguments.ForName("reason"); a != nil {
		if v, err := a.Value.Value(nil); err == nil {
			if s, ok := v.(string); ok {
				reason = s
			}
		}
	}
	return true, reason
}

func includeDeprecated(args map[string]any) bool {
	b, _ := args["includeDeprecated"].(bool)
	return b
}

func list[T any](items []T, keep func(T) bool) []any {
	out := make([]any, 0, len(items))
	for _, it := range items {
		if keep == nil || keep(it) {
			out = append(out, it)
		}
	}
	return out
}

func inputsOf(args ast.ArgumentDefinitionList, all bool) []any {
	out := []any{}
	for _, a := range args {
		if dep, _ := deprecation(a.Directives); dep && !all {
			continue
		}
		out = append(out, &introInput{name: a.Name, desc: a.Description, typ: a.Type, def: a.DefaultValue, dirs: a.Directives})
	}
	return out
}

// resolveIntrospection resolves a field of an introspection type; ok is
// false for any other type.
func resolveIntrospection(typeName string, parent any, name string, args map[string]any) (v any, ok bool, err error) {
	switch typeName {
	case "__Schema":
		s := parent.(*ast.Schema)
		switch name {
		case "description":
			return strOrNil(s.Description), true, nil
		case "types":
			names := make([]string, 0, len(s.Types))
			for n := range s.Types {
				names = append(names, n)
			}
			slices.Sort(names)
			out := make([]any, 0, len(names))
			for _, n := range names {
				out = append(out, &introType{def: s.Types[n]})
			}
			return out, true, nil
		case "queryType":
			return &introType{def: s.Query}, true, nil
		case "mutationType":
			if s.Mutation == nil {
				return nil, true, nil
			}
			return &introType{def: s.Mutation}, true, nil
		case "subscriptionType":
			if s.Subscription == nil {
				return nil, true, nil
			}
			return &introType{def: s.Subscription}, true, nil
		case "directives":
			ds := make([]*ast.DirectiveDefinition, 0, len(s.Directives))
			for _, d := range s.Directives {
				ds = append(ds, d)
			}
			slices.SortFunc(ds, func(a, b *ast.DirectiveDefinition) int { return cmp.Compare(a.Name, b.Name) })
			return list(ds, nil), true, nil
		}
	case "__Type":
		return resolveType(parent.(*introType), name, args)
	case "__Field":
		f := parent.(*ast.FieldDefinition)
		switch name {
		case "name":
			return f.Name, true, nil
		case "description":
			return strOrNil(f.Description), true, nil
		case "args":
			return inputsOf(f.Arguments, includeDeprecated(args)), true, nil
		case "type":
			return typeOf(f.Type), true, nil
		case "isDeprecated":
			dep, _ := deprecation(f.Directives)
			return dep, true, nil
		case "deprecationReason":
			_, reason := deprecation(f.Directives)
			return reason, true, nil
		}
	case "__InputValue":
		in := parent.(*introInput)
		switch name {
		case "name":
			return in.name, true, nil
		case "description":
			return strOrNil(in.desc), true, nil
		case "type":
			return typeOf(in.typ), true, nil
		case "defaultValue":
			if in.def == nil {
				return nil, true, nil
			}
			return in.def.String(), true, nil
		case "isDeprecated":
			dep, _ := deprecation(in.dirs)
			return dep, true, nil
		case "deprecationReason":
			_, reason := deprecation(in.dirs)
			return reason, true, nil
		}
	case "__EnumValue":
		ev := parent.(*ast.EnumValueDefinition)
		switch name {
		case "name":
			return ev.Name, true, nil
		case "description":
			return strOrNil(ev.Description), true, nil
		case "isDeprecated":
			dep, _ := deprecation(ev.Directives)
			return dep, true, nil
		case "deprecationReason":
			_, reason := deprecation(ev.Directives)
			return reason, true, nil
		}
	case "__Directive":
		d := parent.(*ast.DirectiveDefinition)
		switch name {
		case "name":
			return d.Name, true, nil
		case "description":
			return strOrNil(d.Description), true, nil
		case "isRepeatable":
			return d.IsRepeatable, true, nil
		case "locations":
			out := make([]any, 0, len(d.Locations))
			for _, l := range d.Locations {
				out = append(out, string(l))
			}
			return out, true, nil
		case "args":
			return inputsOf(d.Arguments, includeDeprecated(args)), true, nil
		}
	default:
		return nil, false, nil
	}
	return nil, true, fmt.Errorf("graphql: no resolver for %s.%s", typeName, name)
}

func resolveType(t *introType, name string, args map[string]any) (any, bool, error) {
	if t.def == nil { // a wrapper
		switch name {
		case "kind":
			return t.kind, true, nil
		case "ofType":
			return typeOf(t.of), true, nil
		case "isOneOf":
			return nil, true, nil
		}
		if name == "fields" || name == "interfaces" || name == "possibleTypes" || name == "enumValues" ||
			name == "inputFields" || name == "name" || name == "description" || name == "specifiedByURL" {
			return nil, true, nil
		}
		return nil, true, fmt.Errorf("graphql: no resolver for __Type.%s", name)
	}
	d := t.def
	all := includeDeprecated(args)
	switch name {
	case "kind":
		return string(d.Kind), true, nil
	case "name":
		return d.Name, true, nil
	case "description":
		return strOrNil(d.Description), true, nil
	case "specifiedByURL":
		if d.Kind != ast.Scalar {
			return nil, true, nil
		}
		if sb := d.Directives.ForName("specifiedBy"); sb != nil {
			if a := sb.Arguments.ForName("url"); a != nil {
				if v, err := a.Value.Value(nil); err == nil {
					return v, true, nil
				}
			}
		}
		return nil, true, nil
	case "fields":
		if d.Kind != ast.Object && d.Kind != ast.Interface {
			return nil, true, nil
		}
		return list(d.Fields, func(f *ast.FieldDefinition) bool {
			dep, _ := deprecation(f.Directives)
			return !strings.HasPrefix(f.Name, "__") && (all || !dep)
		}), true, nil
	case "interfaces":
		if d.Kind != ast.Object && d.Kind != ast.Interface {
			return nil, true, nil
		}
		out := []any{}
		for _, n := range d.Interfaces {
			if it := namedType(n); it != nil {
				out = append(out, it)
			}
		}
		return out, true, nil
	case "possibleTypes":
		if !d.IsAbstractType() {
			return nil, true, nil
		}
		out := []any{}
		for _, p := range gqlSchema.GetPossibleTypes(d) {
			out = append(out, &introType{def: p})
		}
		return out, true, nil
	case "enumValues":
		if d.Kind != ast.Enum {
			return nil, true, nil
		}
		return list(d.EnumValues, func(ev *ast.EnumValueDefinition) bool {
			dep, _ := deprecation(ev.Directives)
			return all || !dep
		}), true, nil
	case "inputFields":
		if d.Kind != ast.InputObject {
			return nil, true, nil
		}
		out := []any{}
		for _, f := range d.Fields {
			if dep, _ := deprecation(f.Directives); dep && !all {
				continue
			}
			out = append(out, &introInput{name: f.Name, desc: f.Description, typ: f.Type, def: f.DefaultValue, dirs: f.Directives})
		}
		return out, true, nil
	case "ofType":
		return nil, true, nil
	case "isOneOf":
		if d.Kind != ast.InputObject {
			return nil, true, nil
		}
		return d.Directives.ForName("oneOf") != nil, true, nil
	}
	return nil, true, fmt.Errorf("graphql: no resolver for __Type.%s", name)
}
