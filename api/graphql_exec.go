package api

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"
	"github.com/vektah/gqlparser/v2/validator/rules"
)

// What one GraphQL request may cost (issue 14: a read-only key must not
// exhaust the process). The text is bounded before it is parsed, the
// document before it is validated, the operation — fragments expanded —
// before anything is read, and the execution while it runs.
const (
	// gqlMaxQueryBytes bounds the query text (graphql-js's full
	// introspection query is about 1.7 KB).
	gqlMaxQueryBytes = 64 << 10
	// gqlMaxNesting bounds the brackets of the text, so that the parser's
	// recursion is bounded too.
	gqlMaxNesting = 64
	// gqlMaxSelections bounds the fields, fragment spreads and inline
	// fragments of the document, and gqlMaxSameKey how many of its fields
	// share one response key, before validation: the check that fields of
	// one key can be merged compares them pairwise (1,000 conflicting
	// fields of one key took it 10 s). The standard introspection query
	// has 81 selections, 18 of them "name".
	gqlMaxSelections = 500
	gqlMaxSameKey    = 50
	// gqlMaxDepth bounds the nesting of fields, fragments expanded. The
	// standard introspection query nests 13 deep.
	gqlMaxDepth = 24
	// gqlMaxCost bounds an operation's cost: one per field it returns
	// (per element of a list of undelivered notifications: limit of them),
	// gqlPayloadCost per payload (up to 16 KiB each, where a field is tens
	// of bytes), plus gqlStoreCost per undeliveredNotifications — a query
	// of the log store. The seed's query at limit 10 costs 293; twenty
	// aliases of it 5,860. Within the limit an answer holds at most about
	// 80 payloads (1.3 MB).
	gqlMaxCost     = 1000
	gqlStoreCost   = 100
	gqlPayloadCost = 10
	// gqlMaxResolves bounds the fields resolved while executing (the cost
	// counts introspection's lists once; this counts them all).
	gqlMaxResolves = 50_000
	// gqlMaxAnswerBytes bounds the answer as it is built, as
	// maxSendLogBytes bounds a send-log search (the cost already keeps it
	// near 1.3 MB at most; this holds whatever the cost model misses).
	gqlMaxAnswerBytes = 4 << 20
)

// gqlError is a GraphQL error (GraphQL spec, "Errors"): locations are in
// the caller's query, path leads to the field, extensions.code is the
// API's error code and extensions.field the offending argument.
type gqlError struct {
	Message    string         `json:"message"`
	Locations  []gqlLocation  `json:"locations,omitempty"`
	Path       []any          `json:"path,omitempty"`
	Extensions map[string]any `json:"extensions,omitempty"`
}

type gqlLocation struct {
	Line   int `json:"line"`
	Column int `json:"column"`
}

func (e *gqlError) Error() string { return e.Message }

// gqlFail is a field error a resolver returns: the code and the field go
// to extensions.
type gqlFail struct {
	code, field, msg string
}

func (e *gqlFail) Error() string { return e.msg }

func newGQLError(msg, code string, pos *ast.Position) *gqlError {
	e := &gqlError{Message: msg, Extensions: map[string]any{"code": code}}
	if pos != nil && pos.Line > 0 {
		e.Locations = []gqlLocation{{Line: pos.Line, Column: pos.Column}}
	}
	return e
}

// fromParser converts gqlparser's errors, keeping only locations that are
// inside the caller's query.
func fromParser(errs gqlerror.List, query string, code string) []*gqlError {
	lines := strings.Split(query, "\n")
	out := make([]*gqlError, 0, len(errs))
	for _, e := range errs {
		ge := &gqlError{Message: e.Message, Extensions: map[string]any{"code": code}}
		for _, l := range e.Locations {
			if l.Line >= 1 && l.Line <= len(lines) && l.Column >= 1 && l.Column <= len([]rune(lines[l.Line-1]))+1 {
				ge.Locations = append(ge.Locations, gqlLocation{Line: l.Line, Column: l.Column})
			}
		}
		if len(e.Path) > 0 && code != "invalid_query" {
			for _, p := range e.Path {
				switch p := p.(type) {
				case ast.PathName:
					ge.Path = append(ge.Path, string(p))
				case ast.PathIndex:
					ge.Path = append(ge.Path, int(p))
				}
			}
		}
		out = append(out, ge)
	}
	return out
}

// gqlPlan is a request that passed every check before execution.
type gqlPlan struct {
	doc  *ast.QueryDocument
	op   *ast.OperationDefinition
	vars map[string]any
	// cost is the operation's cost; stores its undeliveredNotifications
	// fields (each a query of the log store, each one rate-limit unit).
	cost, stores int
}

var gqlRules = rules.NewDefaultRules()

// prepareGraphQL parses, validates and costs a request. Its errors are
// request errors: nothing was executed.
func prepareGraphQL(query, operationName string, variables map[string]any) (*gqlPlan, []*gqlError) {
	if query == "" {
		return nil, []*gqlError{newGQLError("the request has no query", "invalid_argument", nil)}
	}
	if len(query) > gqlMaxQueryBytes {
		return nil, []*gqlError{newGQLError(fmt.Sprintf("the query is %d bytes; the limit is %d", len(query), gqlMaxQueryBytes), "query_too_complex", nil)}
	}
	if pos, ok := nestingWithin(query, gqlMaxNesting); !ok {
		return nil, []*gqlError{newGQLError(fmt.Sprintf("the query nests brackets more than %d deep", gqlMaxNesting), "query_too_complex", pos)}
	}
	doc, err := parser.ParseQuery(&ast.Source{Name: "query", Input: query})
	if err != nil {
		var ge *gqlerror.Error
		if errors.As(err, &ge) {
			return nil, fromParser(gqlerror.List{ge}, query, "invalid_query")
		}
		return nil, []*gqlError{newGQLError(err.Error(), "invalid_query", nil)}
	}
	n, key, same := countSelections(doc)
	if n > gqlMaxSelections {
		return nil, []*gqlError{newGQLError(fmt.Sprintf("the query has %d selections; the limit is %d", n, gqlMaxSelections), "query_too_complex", nil)}
	}
	if same > gqlMaxSameKey {
		return nil, []*gqlError{newGQLError(fmt.Sprintf("the query selects %q %d times; the limit is %d (use aliases)", key, same, gqlMaxSameKey), "query_too_complex", nil)}
	}
	if errs := validator.ValidateWithRules(gqlSchema, doc, gqlRules); len(errs) > 0 {
		return nil, fromParser(errs, query, "invalid_query")
	}
	var op *ast.OperationDefinition
	switch {
	case operationName != "":
		if op = doc.Operations.ForName(operationName); op == nil {
			return nil, []*gqlError{newGQLError(fmt.Sprintf("the query has no operation named %q", operationName), "invalid_argument", nil)}
		}
	case len(doc.Operations) == 1:
		op = doc.Operations[0]
	default:
		return nil, []*gqlError{newGQLError("the query has several operations: name the one to run in operationName", "invalid_argument", nil)}
	}
	if op.Operation != ast.Query {
		return nil, []*gqlError{newGQLError(fmt.Sprintf("only queries are served, not a %s", op.Operation), "invalid_query", op.Position)}
	}
	vars, err := validator.VariableValues(gqlSchema, op, variables)
	if err != nil {
		var ge *gqlerror.Error
		if !errors.As(err, &ge) {
			ge = gqlerror.Wrap(err)
		}
		e := &gqlError{Message: "variables: " + ge.Message, Extensions: map[string]any{"code": "invalid_argument"}}
		if len(ge.Path) > 1 {
			name := fmt.Sprint(ge.Path[1])
			e.Extensions["field"] = "variables." + name
			if vd := op.VariableDefinitions.ForName(name); vd != nil && vd.Position != nil {
				e.Locations = []gqlLocation{{Line: vd.Position.Line, Column: vd.Position.Column}}
			}
		}
		return nil, []*gqlError{e}
	}
	pl := &gqlPlan{doc: doc, op: op, vars: vars}
	c := coster{vars: vars}
	c.walk(op.SelectionSet, 0, 1, 0)
	if c.err != nil {
		return nil, []*gqlError{c.err}
	}
	pl.cost, pl.stores = c.cost, c.stores
	return pl, nil
}

// nestingWithin reports whether the brackets of a GraphQL text nest at
// most max deep (strings and comments skipped), and where they went over.
func nestingWithin(q string, max int) (*ast.Position, bool) {
	depth, line, col := 0, 1, 0
	for i := 0; i < len(q); i++ {
		c := q[i]
		col++
		switch c {
		case '\n':
			line, col = line+1, 0
		case '#':
			for i+1 < len(q) && q[i+1] != '\n' && q[i+1] != '\r' {
				i++
			}
		case '"':
			block := strings.HasPrefix(q[i:], `"""`)
			if block {
				i += 2
			}
			for i++; i < len(q); i++ {
				if q[i] == '\n' {
					line, col = line+1, 0
				}
				if q[i] == '\\' {
					i++
					continue
				}
				if block && strings.HasPrefix(q[i:], `"""`) {
					i += 2
					break
				}
				if !block && (q[i] == '"' || q[i] == '\n') {
					break
				}
			}
		case '{', '(', '[':
			if depth++; depth > max {
				return &ast.Position{Line: line, Column: col}, false
			}
		case '}', ')', ']':
			depth--
		}
	}
	return nil, true
}

// countSelections counts the selections of a document, and returns the
// response key most fields share and how many do.
func countSelections(doc *ast.QueryDocument) (n int, key string, same int) {
	keys := map[string]int{}
	var count func(ast.SelectionSet)
	count = func(ss ast.SelectionSet) {
		for _, s := range ss {
			n++
			switch s := s.(type) {
			case *ast.Field:
				k := cmp.Or(s.Alias, s.Name)
				if keys[k]++; keys[k] > same {
					key, same = k, keys[k]
				}
				count(s.SelectionSet)
			case *ast.InlineFragment:
				count(s.SelectionSet)
			}
		}
	}
	for _, op := range doc.Operations {
		count(op.SelectionSet)
	}
	for _, f := range doc.Fragments {
		count(f.SelectionSet)
	}
	return n, key, same
}

// coster walks an operation with its fragments expanded, counting its
// depth and cost, and checks the arguments of every
// undeliveredNotifications (a DateTime that is no date-time is a request
// error, as graphql-js reports a scalar it cannot parse). It stops at the
// first limit passed, so its own work is bounded by gqlMaxCost.
type coster struct {
	vars         map[string]any
	cost, stores int
	err          *gqlError
}

func (c *coster) walk(ss ast.SelectionSet, depth, mult, pageSize int) {
	for _, s := range ss {
		if c.err != nil {
			return
		}
		switch s := s.(type) {
		case *ast.Field:
			if depth+1 > gqlMaxDepth {
				c.err = newGQLError(fmt.Sprintf("the query nests fields more than %d deep", gqlMaxDepth), "query_too_complex", s.Position)
				c.err.Extensions["limit"] = gqlMaxDepth
				return
			}
			m := mult
			if s.Name == "elements" && s.ObjectDefinition != nil && s.ObjectDefinition.Name == "UndeliveredNotificationsResponse" {
				m *= max(pageSize, 1)
			}
			if s.Name == "payload" && s.ObjectDefinition != nil && s.ObjectDefinition.Name == "Notification" {
				c.cost += m * gqlPayloadCost
			} else {
				c.cost += m
			}
			size := pageSize
			if s.Name == "undeliveredNotifications" && s.ObjectDefinition != nil && s.ObjectDefinition.Name == "Query" {
				c.stores++
				c.cost += gqlStoreCost * m
				args, err := undeliveredArgsOf(s, c.vars)
				if err != nil {
					var ge *gqlError
					if errors.As(err, &ge) {
						c.err = ge
						return
					}
				}
				size = args.limit
			}
			if c.cost > gqlMaxCost {
				c.err = newGQLError(fmt.Sprintf("the query costs more than the limit of %d: each undeliveredNotifications costs %d, "+
					"every field returned 1 and a payload %d (fields under elements once per element: limit times); ask for fewer aliases, fields or a smaller limit",
					gqlMaxCost, gqlStoreCost, gqlPayloadCost), "query_too_complex", s.Position)
				c.err.Extensions["limit"] = gqlMaxCost
				return
			}
			c.walk(s.SelectionSet, depth+1, m, size)
		case *ast.InlineFragment:
			c.walk(s.SelectionSet, depth, mult, pageSize)
		case *ast.FragmentSpread:
			if s.Definition != nil {
				c.walk(s.Definition.SelectionSet, depth, mult, pageSize)
			}
		}
	}
}

// errPropagate: a non-null field is null; its parent must be null instead.
var errPropagate = errors.New("graphql: null in a non-null position")

// resolverFunc resolves one field of a value of the object type typeName.
type resolverFunc func(ctx context.Context, typeName string, parent any, f *ast.Field, args map[string]any) (any, error)

// gqlExec executes one operation, writing the answer's data as it goes.
type gqlExec struct {
	ctx      context.Context
	plan     *gqlPlan
	resolve  resolverFunc
	buf      bytes.Buffer
	errs     []*gqlError
	resolves int
	path     []any
	// abort, once set, ends the execution: data becomes null.
	abort *gqlError
	// maxBytes is gqlMaxAnswerBytes (smaller in tests).
	maxBytes int
}

// execute runs the plan and returns the answer's data (JSON, "null" when
// a non-null root field failed) and the field errors.
func (x *gqlExec) execute() ([]byte, []*gqlError) {
	root := gqlSchema.Query
	err := x.selectionSet(root, nil, []*ast.Field{{SelectionSet: x.plan.op.SelectionSet}})
	if x.abort != nil {
		return []byte("null"), append(x.errs, x.abort)
	}
	if err != nil {
		return []byte("null"), x.errs
	}
	return x.buf.Bytes(), x.errs
}

// fieldGroup is the fields of one response key (CollectFields).
type fieldGroup struct {
	key    string
	fields []*ast.Field
}

// collect gathers the fields of the selection sets of fields (merged, as
// the spec's MergeSelectionSets) that apply to objType, by response key in
// order, with @skip/@include applied.
func (x *gqlExec) collect(objType *ast.Definition, fields []*ast.Field) []*fieldGroup {
	var groups []*fieldGroup
	index := map[string]*fieldGroup{}
	visited := map[string]bool{}
	var walk func(ast.SelectionSet)
	walk = func(ss ast.SelectionSet) {
		for _, s := range ss {
			switch s := s.(type) {
			case *ast.Field:
				if !x.included(s.Directives) {
					continue
				}
				key := s.Alias
				if key == "" {
					key = s.Name
				}
				g := index[key]
				if g == nil {
					g = &fieldGroup{key: key}
					index[key] = g
					groups = append(groups, g)
				}
				g.fields = append(g.fields, s)
			case *ast.InlineFragment:
				if x.included(s.Directives) && applies(s.TypeCondition, objType) {
					walk(s.SelectionSet)
				}
			case *ast.FragmentSpread:
				if visited[s.Name] || !x.included(s.Directives) || s.Definition == nil {
					continue
				}
				visited[s.Name] = true
				if applies(s.Definition.TypeCondition, objType) {
					walk(s.Definition.SelectionSet)
				}
			}
		}
	}
	for _, f := range fields {
		walk(f.SelectionSet)
	}
	return groups
}

func applies(cond string, obj *ast.Definition) bool {
	if cond == "" || cond == obj.Name {
		return true
	}
	if def := gqlSchema.Types[cond]; def != nil && def.IsAbstractType() {
		for _, t := range gqlSchema.GetPossibleTypes(def) {
			if t.Name == obj.Name {
				return true
			}
		}
	}
	return false
}

func (x *gqlExec) included(dirs ast.DirectiveList) bool {
	for _, d := range dirs {
		if d.Name != "skip" && d.Name != "include" {
			continue
		}
		arg := d.Arguments.ForName("if")
		if arg == nil {
			continue
		}
		v, _ := arg.Value.Value(x.plan.vars)
		b, _ := v.(bool)
		if d.Name == "skip" && b || d.Name == "include" && !b {
			return false
		}
	}
	return true
}

// selectionSet writes an object: each field of the merged selection sets
// of fields, resolved on parent.
func (x *gqlExec) selectionSet(objType *ast.Definition, parent any, fields []*ast.Field) error {
	start := x.buf.Len()
	x.buf.WriteByte('{')
	for i, g := range x.collect(objType, fields) {
		if i > 0 {
			x.buf.WriteByte(',')
		}
		writeJSONString(&x.buf, g.key)
		x.buf.WriteByte(':')
		x.path = append(x.path, g.key)
		err := x.field(objType, parent, g)
		x.path = x.path[:len(x.path)-1]
		if err != nil {
			x.buf.Truncate(start)
			return err
		}
	}
	x.buf.WriteByte('}')
	return nil
}

func (x *gqlExec) field(objType *ast.Definition, parent any, g *fieldGroup) error {
	f := g.fields[0]
	if x.abort != nil {
		return errPropagate
	}
	if x.resolves++; x.resolves > gqlMaxResolves {
		x.abort = newGQLError(fmt.Sprintf("the query resolved more than %d fields", gqlMaxResolves), "query_too_complex", f.Position)
		return errPropagate
	}
	if err := x.ctx.Err(); err != nil {
		x.abort = newGQLError("the request was cancelled", "unavailable", f.Position)
		return errPropagate
	}
	if f.Name == "__typename" {
		writeJSONString(&x.buf, objType.Name)
		return nil
	}
	def := objType.Fields.ForName(f.Name)
	if def == nil { // validation makes this impossible
		x.fieldError(f, &gqlFail{code: "invalid_query", msg: "no field " + f.Name + " on " + objType.Name})
		x.buf.WriteString("null")
		return nil
	}
	args, err := argumentValues(def.Arguments, f.Arguments, x.plan.vars)
	var v any
	if err == nil {
		v, err = x.resolve(x.ctx, objType.Name, parent, f, args)
	}
	if err != nil {
		x.fieldError(f, err)
		v = nil
	}
	return x.complete(def.Type, g.fields, v)
}

func (x *gqlExec) fieldError(f *ast.Field, err error) {
	e := newGQLError(err.Error(), "internal", f.Position)
	var fail *gqlFail
	if errors.As(err, &fail) {
		e.Extensions["code"] = fail.code
		if fail.field != "" {
			e.Extensions["field"] = fail.field
		}
	}
	e.Path = append([]any(nil), x.path...)
	x.errs = append(x.errs, e)
}

// complete writes v as a value of type t (CompleteValue): null in a
// non-null position is a field error that makes the parent null.
func (x *gqlExec) complete(t *ast.Type, fields []*ast.Field, v any) error {
	if t.NonNull {
		if isNull(v) {
			if len(x.errs) == 0 || !samePath(x.errs[len(x.errs)-1].Path, x.path) {
				x.fieldError(fields[0], fmt.Errorf("cannot return null for non-nullable field %s", fields[0].Name))
			}
			return errPropagate
		}
		inner := *t
		inner.NonNull = false
		if err := x.completeInner(&inner, fields, v); err != nil {
			if !errors.Is(err, errPropagate) {
				x.fieldError(fields[0], err)
			}
			return errPropagate
		}
		return nil
	}
	if isNull(v) {
		x.buf.WriteString("null")
		return nil
	}
	mark := x.buf.Len()
	if err := x.completeInner(t, fields, v); err != nil {
		if x.abort != nil {
			return errPropagate
		}
		if !errors.Is(err, errPropagate) {
			x.fieldError(fields[0], err)
		}
		x.buf.Truncate(mark)
		x.buf.WriteString("null")
	}
	return nil
}

func (x *gqlExec) completeInner(t *ast.Type, fields []*ast.Field, v any) error {
	if x.buf.Len() > cmp.Or(x.maxBytes, gqlMaxAnswerBytes) {
		x.abort = newGQLError(fmt.Sprintf("the answer would be larger than %d bytes", cmp.Or(x.maxBytes, gqlMaxAnswerBytes)), "query_too_complex", fields[0].Position)
		return errPropagate
	}
	if t.Elem != nil {
		items, ok := v.([]any)
		if !ok {
			return fmt.Errorf("graphql: %s is not a list", fields[0].Name)
		}
		x.buf.WriteByte('[')
		for i, it := range items {
			if i > 0 {
				x.buf.WriteByte(',')
			}
			x.path = append(x.path, i)
			err := x.complete(t.Elem, fields, it)
			x.path = x.path[:len(x.path)-1]
			if err != nil {
				return err
			}
		}
		x.buf.WriteByte(']')
		return nil
	}
	def := gqlSchema.Types[t.NamedType]
	switch def.Kind {
	case ast.Scalar, ast.Enum:
		if err := writeScalar(&x.buf, def.Name, v); err != nil {
			x.fieldError(fields[0], err)
			return errPropagate
		}
		return nil
	case ast.Object:
		return x.selectionSet(def, v, fields)
	}
	return fmt.Errorf("graphql: cannot complete %s", def.Name)
}

func isNull(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case *string:
		return v == nil
	case json.RawMessage:
		return v == nil
	case *introType:
		return v == nil
	}
	return false
}

func samePath(a, b []any) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// writeScalar serialises a leaf value.
func writeScalar(buf *bytes.Buffer, name string, v any) error {
	switch v := v.(type) {
	case string:
		writeJSONString(buf, v)
	case *string:
		writeJSONString(buf, *v)
	case bool:
		buf.WriteString(strconv.FormatBool(v))
	case int:
		if name == "Int" && (v > math.MaxInt32 || v < math.MinInt32) {
			return fmt.Errorf("Int cannot represent %d", v)
		}
		buf.WriteString(strconv.Itoa(v))
	case time.Time:
		writeJSONString(buf, formatTime(v))
	case json.RawMessage:
		buf.Write(v)
	default:
		return fmt.Errorf("graphql: cannot serialise %T as %s", v, name)
	}
	return nil
}

func writeJSONString(buf *bytes.Buffer, s string) {
	b, _ := json.Marshal(s)
	buf.Write(b)
}

// argumentValues coerces a field's arguments (CoerceArgumentValues):
// literals and variables, defaults for the absent ones. Validation already
// checked their types.
func argumentValues(defs ast.ArgumentDefinitionList, args ast.ArgumentList, vars map[string]any) (map[string]any, error) {
	out := map[string]any{}
	for _, d := range defs {
		a := args.ForName(d.Name)
		if a == nil || (a.Value.Kind == ast.Variable && !hasVar(vars, a.Value)) {
			if d.DefaultValue != nil {
				v, err := d.DefaultValue.Value(nil)
				if err != nil {
					return nil, err
				}
				out[d.Name] = v
			}
			continue
		}
		v, err := a.Value.Value(vars)
		if err != nil {
			return nil, &gqlFail{code: "invalid_argument", field: d.Name, msg: err.Error()}
		}
		out[d.Name] = v
	}
	return out, nil
}

func hasVar(vars map[string]any, v *ast.Value) bool {
	if _, ok := vars[v.Raw]; ok {
		return true
	}
	return v.VariableDefinition != nil && v.VariableDefinition.DefaultValue != nil
}
