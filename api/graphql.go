package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vektah/gqlparser/v2/ast"
	"go.uber.org/zap"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/logstore"
)

// POST /graphql and GET /graphql (API.md; GraphQL over HTTP).
//
// The query is parsed and validated by gqlparser against graphqlSDL; this
// file and graphql_exec.go execute it: one field of the store
// (undeliveredNotifications) and introspection. graph-gophers/graphql-go,
// used before, has no __Type.isOneOf, __Directive.isRepeatable or
// __Schema.description (graphql-js 16's introspection query asks for
// them) and no hook to cost a query before it runs.

// errorCodes are the error codes Herald reports; any other stored code
// (UNAVAILABLE, CANCELLED) is reported as DELIVERY_ERROR.
var errorCodes = []string{"DELIVERY_ERROR", "SECRET_EXPIRED", "INVALID_RECIPIENT", "TEMPLATE_ERROR", "CIRCUIT_OPEN", "TIMEOUT"}

const maxUndeliveredLimit = 10

// undeliveredArgs are the coerced arguments of undeliveredNotifications.
type undeliveredArgs struct {
	limit     int
	limitBad  bool // below 1: a field error
	cursor    string
	eventType string
	// from and to are set when filters.creationDateTime is.
	hasRange  bool
	from, to  time.Time
	exclusive bool
	// fromPos and toPos locate the bounds in the query (errors).
	rangePos *ast.Position
}

// undeliveredArgsOf coerces the arguments of one undeliveredNotifications
// field. A DateTime that is no date-time is a *gqlError (a request error,
// located at the value); everything else is checked when it runs.
func undeliveredArgsOf(f *ast.Field, vars map[string]any) (undeliveredArgs, error) {
	a := undeliveredArgs{limit: maxUndeliveredLimit}
	if f.Definition == nil {
		return a, nil
	}
	args, err := argumentValues(f.Definition.Arguments, f.Arguments, vars)
	if err != nil {
		return a, err
	}
	if v, ok := args["limit"]; ok && v != nil {
		n, ok := toInt(v)
		switch {
		case !ok || n < 1:
			a.limitBad = true
		default:
			a.limit = int(min(n, maxUndeliveredLimit)) // more than 10 is taken as 10
		}
	}
	if s, ok := args["cursor"].(string); ok {
		a.cursor = s
	}
	filters, _ := args["filters"].(map[string]any)
	if s, ok := filters["eventType"].(string); ok {
		a.eventType = s
	}
	rng, ok := filters["creationDateTime"].(map[string]any)
	if !ok {
		return a, nil
	}
	a.hasRange = true
	a.rangePos = valuePos(f, "filters", "creationDateTime")
	for _, b := range []struct {
		name string
		dst  *time.Time
	}{{"from", &a.from}, {"to", &a.to}} {
		t, err := coerceDateTime(rng[b.name])
		if err != nil {
			e := newGQLError(fmt.Sprintf("filters.creationDateTime.%s: %v", b.name, err), "invalid_argument", valuePos(f, "filters", "creationDateTime", b.name))
			e.Extensions["field"] = "filters.creationDateTime." + b.name
			return a, e
		}
		*b.dst = t
	}
	a.exclusive = rng["operator"] == "EXCLUSIVE"
	return a, nil
}

// valuePos locates an argument's value (or a member of it) in the query,
// or the argument itself when the value came from a variable.
func valuePos(f *ast.Field, arg string, members ...string) *ast.Position {
	a := f.Arguments.ForName(arg)
	if a == nil {
		return f.Position
	}
	v := a.Value
	pos := cmpPos(v.Position, a.Position)
	for _, m := range members {
		if v == nil || v.Kind != ast.ObjectValue {
			break
		}
		var next *ast.Value
		for _, c := range v.Children {
			if c.Name == m {
				next = c.Value
				pos = cmpPos(c.Value.Position, cmpPos(c.Position, pos))
				break
			}
		}
		v = next
	}
	if v != nil && (v.Kind == ast.StringValue || v.Kind == ast.BlockValue) && pos == v.Position && pos.Column > 1 {
		// gqlparser places a string after its opening quote; graphql-js
		// (and a reader) at the quote.
		p := *pos
		p.Column--
		if v.Kind == ast.BlockValue && p.Column > 2 {
			p.Column -= 2
		}
		pos = &p
	}
	return pos
}

func cmpPos(p, fallback *ast.Position) *ast.Position {
	if p != nil && p.Line > 0 {
		return p
	}
	return fallback
}

func toInt(v any) (int64, bool) {
	switch n := v.(type) {
	case int64:
		return n, true
	case int:
		return int64(n), true
	case int32:
		return int64(n), true
	case float64:
		if n == float64(int64(n)) {
			return int64(n), true
		}
	case json.Number:
		i, err := n.Int64()
		return i, err == nil
	}
	return 0, false
}

// coerceDateTime reads a DateTime: an RFC 3339 string (fractions of a
// second to the nanosecond), or Unix milliseconds as a number or a string.
func coerceDateTime(v any) (time.Time, error) {
	var s string
	switch v := v.(type) {
	case string:
		s = v
	case json.Number:
		s = v.String()
	case int64:
		s = strconv.FormatInt(v, 10)
	case int:
		s = strconv.Itoa(v)
	case float64:
		s = strconv.FormatFloat(v, 'f', -1, 64)
	case nil:
		return time.Time{}, errors.New("required")
	default:
		return time.Time{}, errors.New("want an RFC 3339 date-time such as 2024-01-01T00:00:00Z, or Unix milliseconds")
	}
	t, err := ParseTime(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("DateTime cannot represent %q: %v", s, err)
	}
	return t, nil
}

// afterInstant is the first millisecond strictly after t (the log keeps
// creation times in milliseconds); beforeInstant the last one strictly
// before. A bound with a fraction of a millisecond is honoured, not cut.
func afterInstant(t time.Time) time.Time { return t.Truncate(time.Millisecond).Add(time.Millisecond) }

// ceilInstant is the first millisecond at or after t.
func ceilInstant(t time.Time) time.Time {
	if f := t.Truncate(time.Millisecond); !f.Equal(t) {
		return f.Add(time.Millisecond)
	}
	return t
}

func beforeInstant(t time.Time) time.Time {
	if f := t.Truncate(time.Millisecond); !f.Equal(t) {
		return f
	}
	return t.Add(-time.Millisecond)
}

// undeliveredPage is the value of UndeliveredNotificationsResponse.
type undeliveredPage struct {
	page  *logstore.Page
	limit int
}

// resolveUndelivered is Query.undeliveredNotifications.
func (s *Server) resolveUndelivered(ctx context.Context, p *config.Principal, f *ast.Field, vars map[string]any) (any, error) {
	a, err := undeliveredArgsOf(f, vars)
	if err != nil {
		return nil, err
	}
	if a.limitBad {
		return nil, &gqlFail{code: "invalid_argument", field: "limit", msg: fmt.Sprintf("limit must be a whole number from 1 (more than %d is taken as %d)", maxUndeliveredLimit, maxUndeliveredLimit)}
	}
	q := logstore.Query{Workspace: p.Workspace, Undelivered: true, Limit: a.limit, InputLimit: ListInputBytes, Cursor: a.cursor}
	if a.eventType != "" {
		if !config.ValidTag(a.eventType) {
			return nil, &gqlFail{code: "invalid_argument", field: "filters.eventType", msg: "eventType is a notification tag"}
		}
		q.NotificationTag = a.eventType
	}
	if a.hasRange {
		if a.from.After(a.to) {
			return nil, &gqlFail{code: "invalid_argument", field: "filters.creationDateTime", msg: "from is after to"}
		}
		q.Start, q.End = a.from, a.to
		if a.exclusive {
			q.Start, q.End = afterInstant(a.from), beforeInstant(a.to)
		}
		if q.Start.After(q.End) {
			// EXCLUSIVE with from == to, or no millisecond between the
			// bounds: nothing can match.
			return &undeliveredPage{page: &logstore.Page{}, limit: a.limit}, nil
		}
	}
	page, err := s.cfg.Store.Query(ctx, q)
	if errors.Is(err, logstore.ErrBadCursor) {
		return nil, &gqlFail{code: "invalid_argument", field: "cursor", msg: "not a cursor this server made; use the cursor of a previous page"}
	}
	if err != nil {
		s.log.Warn("graphql: log store query failed", zap.Error(err))
		return nil, &gqlFail{code: "unavailable", msg: "the log store is unavailable"}
	}
	return &undeliveredPage{page: page, limit: a.limit}, nil
}

// resolver returns the resolverFunc of one request.
func (s *Server) resolver(p *config.Principal, vars map[string]any) resolverFunc {
	return func(ctx context.Context, typeName string, parent any, f *ast.Field, args map[string]any) (any, error) {
		if v, ok, err := resolveIntrospection(typeName, parent, f.Name, args); ok {
			return v, err
		}
		switch typeName + "." + f.Name {
		case "Query.undeliveredNotifications":
			return s.resolveUndelivered(ctx, p, f, vars)
		case "Query.__schema":
			return gqlSchema, nil
		case "Query.__type":
			name, _ := args["name"].(string)
			if t := namedType(name); t != nil {
				return t, nil
			}
			return nil, nil
		case "UndeliveredNotificationsResponse.totalCount":
			return int(min(parent.(*undeliveredPage).page.Total, 1<<31-1)), nil
		case "UndeliveredNotificationsResponse.cursor":
			return parent.(*undeliveredPage).page.NextCursor, nil
		case "UndeliveredNotificationsResponse.limit":
			return parent.(*undeliveredPage).limit, nil
		case "UndeliveredNotificationsResponse.elements":
			return list(parent.(*undeliveredPage).page.Entries, nil), nil
		case "UndeliveredNotification.notification", "UndeliveredNotification.error":
			return parent, nil
		}
		e, _ := parent.(*logstore.Entry)
		if e == nil {
			return nil, fmt.Errorf("graphql: no resolver for %s.%s", typeName, f.Name)
		}
		switch typeName + "." + f.Name {
		case "Notification.eventType":
			return e.NotificationTag, nil
		case "Notification.creationDateTime":
			return e.CreatedAt, nil
		case "Notification.notificationId":
			return e.ID, nil
		case "Notification.payload":
			in := toLogEntry(e).Input
			if len(in) == 0 {
				in = json.RawMessage("{}")
			}
			return in, nil
		case "Notification.channel":
			return e.Type, nil
		case "Notification.status":
			return e.Status, nil
		case "NotificationError.code":
			if slices.Contains(errorCodes, e.ErrorCode) {
				return e.ErrorCode, nil
			}
			return "DELIVERY_ERROR", nil
		case "NotificationError.message":
			return cmpStr(e.Error, e.ErrorCode), nil
		}
		return nil, fmt.Errorf("graphql: no resolver for %s.%s", typeName, f.Name)
	}
}

func cmpStr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// graphqlRequest is the request of GraphQL over HTTP.
type graphqlRequest struct {
	Query         *string        `json:"query"`
	OperationName *string        `json:"operationName"`
	Variables     map[string]any `json:"variables"`
	Extensions    map[string]any `json:"extensions"`
}

// GraphQL over HTTP's media types.
const (
	mediaGraphQLResponse = "application/graphql-response+json"
	mediaJSON            = "application/json"
)

// responseMedia picks the answer's media type from Accept: the
// GraphQL-over-HTTP one when the client asks for it first (or only),
// application/json otherwise (and without Accept, as the spec advises for
// clients that predate it).
func responseMedia(r *http.Request) string {
	best, bestQ := mediaJSON, -1.0
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		q := 1.0
		if v, ok := params["q"]; ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		if mt != mediaGraphQLResponse && mt != mediaJSON && mt != "*/*" && mt != "application/*" {
			continue
		}
		if q > bestQ {
			best, bestQ = mt, q
		}
	}
	if best != mediaGraphQLResponse {
		return mediaJSON
	}
	return best
}

// writeGraphQL writes a GraphQL response: errors first, then data when
// execution started (a request error has no data entry).
func writeGraphQL(w http.ResponseWriter, media string, status int, errs []*gqlError, data []byte) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	if len(errs) > 0 {
		buf.WriteString(`"errors":`)
		b, _ := json.Marshal(errs)
		buf.Write(b)
	}
	if data != nil {
		if len(errs) > 0 {
			buf.WriteByte(',')
		}
		buf.WriteString(`"data":`)
		buf.Write(data)
	}
	buf.WriteString("}\n")
	w.Header().Set("Content-Type", media+"; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// requestError answers a GraphQL request error. With
// application/graphql-response+json it is a 4xx, with application/json a
// 200 (GraphQL over HTTP, "Status Codes"), unless status says otherwise.
func requestError(w http.ResponseWriter, media string, status int, errs ...*gqlError) {
	if status == 0 {
		status = http.StatusOK
		if media == mediaGraphQLResponse {
			status = http.StatusBadRequest
		}
	}
	writeGraphQL(w, media, status, errs, nil)
}

// graphqlHandler is POST /graphql (and GET with ?query=).
func (s *Server) graphqlHandler(w http.ResponseWriter, r *http.Request, p *config.Principal) error {
	media := responseMedia(r)
	var req graphqlRequest
	if r.Method == http.MethodGet {
		for name, vals := range r.URL.Query() {
			for _, v := range vals {
				if !utf8.ValidString(v) {
					requestError(w, media, http.StatusBadRequest, newGQLError(name+": not valid UTF-8", "invalid_argument", nil))
					return nil
				}
			}
		}
		q := r.URL.Query()
		if q.Has("query") {
			req.Query = new(string)
			*req.Query = q.Get("query")
		}
		if q.Has("operationName") {
			req.OperationName = new(string)
			*req.OperationName = q.Get("operationName")
		}
		if v := q.Get("variables"); v != "" {
			dec := json.NewDecoder(strings.NewReader(v))
			dec.UseNumber()
			if err := dec.Decode(&req.Variables); err != nil {
				e := newGQLError("variables: want a JSON object", "invalid_argument", nil)
				e.Extensions["field"] = "variables"
				requestError(w, media, http.StatusBadRequest, e)
				return nil
			}
		}
	} else {
		body, err := s.readBody(w, r)
		if err != nil {
			ae := toAPIError(err)
			e := &gqlError{Message: ae.body.Message, Extensions: map[string]any{"code": ae.body.Code}}
			if ae.body.Field != "" {
				e.Extensions["field"] = ae.body.Field
			}
			requestError(w, media, ae.status, e)
			return nil
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if err := dec.Decode(&req); err != nil {
			requestError(w, media, http.StatusBadRequest, newGQLError(`want a JSON body {"query": "...", "variables": {...}, "operationName": "..."}: `+err.Error(), "invalid_argument", nil))
			return nil
		}
	}
	if req.Query == nil || *req.Query == "" {
		e := newGQLError("the request has no query", "invalid_argument", nil)
		e.Extensions["field"] = "query"
		requestError(w, media, http.StatusBadRequest, e)
		return nil
	}
	plan, errs := prepareGraphQL(*req.Query, deref(req.OperationName), req.Variables)
	if errs != nil {
		requestError(w, media, 0, errs...)
		return nil
	}
	// Each undeliveredNotifications is a query of the log store: it costs
	// the key one request of its rate limit, as GET /v1/messages does (the
	// request itself paid for the first). The answer's size is charged
	// after it is written, as for every route.
	if extra := plan.stores - 1; extra > 0 {
		if wait, ok := s.limits.allow(p, extra, s.clock.Now()); !ok {
			ae := rateLimited(p, wait)
			w.Header().Set("Retry-After", ae.retryAfter)
			e := newGQLError(fmt.Sprintf("%s (this query counts %d requests: one per undeliveredNotifications)", ae.body.Message, plan.stores), "rate_limited", nil)
			requestError(w, media, http.StatusTooManyRequests, e)
			return nil
		}
	}
	x := &gqlExec{ctx: r.Context(), plan: plan, resolve: s.resolver(p, plan.vars), maxBytes: s.gqlAnswerBudget}
	data, ferrs := x.execute()
	writeGraphQL(w, media, http.StatusOK, ferrs, data)
	return nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
