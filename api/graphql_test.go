package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/internal/clock"
	"github.com/heraldhq/herald/internal/ids"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/heraldhq/herald/logstore"
)

const gqlKey = "hk_graphql_reader_key_0000000000000000000000"

// gqlServer is an API server on a real Redis, on a frozen clock, with a
// notifications:read key (gqlKey) and limitedKey rate limited by limit
// ("" for no limit).
func gqlServer(t *testing.T, limit string) (*Server, *logstore.Store, *clock.Fake) {
	t.Helper()
	r := testutil.StartRedis(t)
	clk := clock.NewFake(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	store := logstore.New(r.Client, logstore.Config{Clock: clk})
	t.Cleanup(store.Close)
	rl := ""
	if limit != "" {
		rl = ", rate_limit: " + limit
	}
	cfg, err := config.Parse([]byte(fmt.Sprintf(`
workspaces:
  - id: acme
    keys:
      - { name: reader, sha256: %q, scopes: [notifications:read] }
      - { name: limited, sha256: %q, scopes: [notifications:read]%s }
`, config.HashKey(gqlKey), config.HashKey(limitedKey), rl)), func(string) string { return "" })
	require.NoError(t, err)
	return New(Config{Config: func() *config.Config { return cfg }, Store: store, Clock: clk}), store, clk
}

type gqlAnswer struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

func (a *gqlAnswer) errors() []map[string]any {
	var out []map[string]any
	list, _ := a.body["errors"].([]any)
	for _, e := range list {
		out = append(out, e.(map[string]any))
	}
	return out
}

func (a *gqlAnswer) data() map[string]any {
	d, _ := a.body["data"].(map[string]any)
	return d
}

// gqlPost posts a GraphQL request (a map, or a raw string body).
func gqlPost(t *testing.T, s *Server, key, accept string, req any) *gqlAnswer {
	t.Helper()
	var body []byte
	switch r := req.(type) {
	case string:
		body = []byte(r)
	default:
		var err error
		body, err = json.Marshal(r)
		require.NoError(t, err)
	}
	hr := httptest.NewRequest("POST", "/graphql", bytes.NewReader(body))
	hr.Header.Set("Authorization", "Bearer "+key)
	hr.Header.Set("Content-Type", "application/json")
	if accept != "" {
		hr.Header.Set("Accept", accept)
	}
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, hr)
	a := &gqlAnswer{status: w.Code, header: w.Header(), raw: w.Body.Bytes()}
	require.NoError(t, json.Unmarshal(a.raw, &a.body), w.Body.String())
	return a
}

func query(q string, vars map[string]any) map[string]any {
	m := map[string]any{"query": q}
	if vars != nil {
		m["variables"] = vars
	}
	return m
}

// The standard introspection query of graphql-js 16 (getIntrospectionQuery,
// with every option and with none; testdata made by graphql-js itself)
// runs, and describes the seed's schema.
func TestGraphQLIntrospection(t *testing.T) {
	s, _, _ := gqlServer(t, "")
	for _, file := range []string{"introspection.graphql", "introspection-default.graphql"} {
		t.Run(file, func(t *testing.T) {
			q, err := os.ReadFile("testdata/graphql/" + file)
			require.NoError(t, err)
			a := gqlPost(t, s, gqlKey, "", query(string(q), nil))
			require.Equal(t, http.StatusOK, a.status, string(a.raw))
			require.Empty(t, a.errors())
			schema := a.data()["__schema"].(map[string]any)
			require.Equal(t, map[string]any{"name": "Query", "kind": "OBJECT"}, schema["queryType"])
			require.Nil(t, schema["mutationType"])
			types := map[string]map[string]any{}
			for _, ty := range schema["types"].([]any) {
				ty := ty.(map[string]any)
				types[ty["name"].(string)] = ty
			}
			for name, kind := range map[string]string{
				"UndeliveredNotificationsResponse": "OBJECT", "UndeliveredNotification": "OBJECT", "Notification": "OBJECT",
				"NotificationError": "OBJECT", "UndeliveredNotificationsFiltersInput": "INPUT_OBJECT",
				"DateTimeRangeFilterInput": "INPUT_OBJECT", "RangeOperator": "ENUM", "DateTime": "SCALAR", "JSON": "SCALAR",
			} {
				require.Contains(t, types, name)
				require.Equal(t, kind, types[name]["kind"], name)
			}
			for _, ty := range types {
				for _, f := range asList(ty["fields"]) {
					require.False(t, strings.HasPrefix(f["name"].(string), "__"), "meta fields are not listed")
				}
			}
			if file == "introspection-default.graphql" {
				return
			}
			require.NotEmpty(t, schema["description"], "__Schema.description")
			for _, d := range asList(schema["directives"]) {
				require.IsType(t, true, d["isRepeatable"], "__Directive.isRepeatable of %s", d["name"])
				require.NotEqual(t, "defer", d["name"], "@defer is not offered: answers are never incremental")
			}
			require.Equal(t, false, types["DateTimeRangeFilterInput"]["isOneOf"], "__Type.isOneOf")
			require.Nil(t, types["Notification"]["isOneOf"], "isOneOf is null but for input objects")
			require.Equal(t, "https://scalars.graphql.org/andimarek/date-time", types["DateTime"]["specifiedByURL"])

			// The seed's nullability: creationDateTime DateTime!, from/to non-null, filters required.
			require.Equal(t, "NON_NULL DateTime", typeRef(field(types["Notification"], "fields", "creationDateTime")))
			require.Equal(t, "NON_NULL String", typeRef(field(types["Notification"], "fields", "notificationId")))
			require.Equal(t, "NON_NULL JSON", typeRef(field(types["Notification"], "fields", "payload")))
			require.Equal(t, "NON_NULL DateTime", typeRef(field(types["DateTimeRangeFilterInput"], "inputFields", "from")))
			require.Equal(t, "NON_NULL DateTime", typeRef(field(types["DateTimeRangeFilterInput"], "inputFields", "to")))
			op := field(types["DateTimeRangeFilterInput"], "inputFields", "operator")
			require.Equal(t, "RangeOperator", typeRef(op))
			require.Equal(t, "INCLUSIVE", op["defaultValue"])
			require.Equal(t, "NotificationError", typeRef(field(types["UndeliveredNotification"], "fields", "error")))
			require.Equal(t, "NON_NULL LIST NON_NULL UndeliveredNotification", typeRef(field(types["UndeliveredNotificationsResponse"], "fields", "elements")))
			require.Equal(t, "String", typeRef(field(types["UndeliveredNotificationsResponse"], "fields", "cursor")))
			require.Equal(t, "NON_NULL String", typeRef(field(types["NotificationError"], "fields", "code")))
			un := field(types["Query"], "fields", "undeliveredNotifications")
			args := map[string]string{}
			for _, a := range asList(un["args"]) {
				args[a["name"].(string)] = typeRef(a)
			}
			require.Equal(t, map[string]string{"limit": "Int", "cursor": "String", "filters": "NON_NULL UndeliveredNotificationsFiltersInput"}, args)
			var ops []any
			for _, v := range asList(types["RangeOperator"]["enumValues"]) {
				ops = append(ops, v["name"])
			}
			require.Equal(t, []any{"INCLUSIVE", "EXCLUSIVE"}, ops)
		})
	}

	// __type and __typename.
	a := gqlPost(t, s, gqlKey, "", query(`{ __typename t: __type(name: "RangeOperator") { kind name enumValues { name } } none: __type(name: "Nope") { name } }`, nil))
	require.Empty(t, a.errors())
	require.Equal(t, "Query", a.data()["__typename"])
	require.Equal(t, "ENUM", a.data()["t"].(map[string]any)["kind"])
	require.Nil(t, a.data()["none"])
}

func asList(v any) []map[string]any {
	var out []map[string]any
	l, _ := v.([]any)
	for _, it := range l {
		out = append(out, it.(map[string]any))
	}
	return out
}

func field(ty map[string]any, list, name string) map[string]any {
	for _, f := range asList(ty[list]) {
		if f["name"] == name {
			return f
		}
	}
	return nil
}

// typeRef prints a TypeRef as "NON_NULL LIST NON_NULL Name".
func typeRef(f map[string]any) string {
	if f == nil {
		return "<missing>"
	}
	var parts []string
	for t, _ := f["type"].(map[string]any); t != nil; t, _ = t["ofType"].(map[string]any) {
		if k := t["kind"].(string); k == "NON_NULL" || k == "LIST" {
			parts = append(parts, k)
		} else {
			parts = append(parts, t["name"].(string))
		}
	}
	return strings.Join(parts, " ")
}

// Request errors follow GraphQL over HTTP: no data entry, locations in the
// caller's query, 200 with application/json and 4xx with
// application/graphql-response+json.
func TestGraphQLRequestErrors(t *testing.T) {
	s, _, _ := gqlServer(t, "")
	deep := `{ __type(name: "Query") { ` + strings.Repeat("ofType { ", 30) + "name" + strings.Repeat(" }", 30) + " } }"
	aliases := make([]string, 20)
	for i := range aliases {
		aliases[i] = fmt.Sprintf("a%d: undeliveredNotifications(limit: 10, filters: {}) { totalCount cursor elements { notification { notificationId payload } error { code message } } }", i)
	}
	for _, tc := range []struct {
		name, query string
		vars        map[string]any
		code        string
		// line and at locate the error: its first location is on that
		// line, at the first occurrence of at (line 0: none expected).
		line int
		at   string
	}{
		{"syntax", "{\n  undeliveredNotifications(\n}", nil, "invalid_query", 3, "}"},
		{"unknown field", "query {\n  undeliveredNotifications(filters: {}) {\n    nope\n  }\n}", nil, "invalid_query", 3, "nope"},
		{"filters required", "{ undeliveredNotifications { totalCount } }", nil, "invalid_query", 1, "undeliveredNotifications"},
		{"from required", `{ undeliveredNotifications(filters: {creationDateTime: {to: "2024-01-01T00:00:00Z"}}) { totalCount } }`, nil, "invalid_query", 1, "{to"},
		{"bad DateTime literal", `{ undeliveredNotifications(filters: {creationDateTime: {from: "tuesday", to: "2024-01-01T00:00:00Z"}}) { totalCount } }`, nil, "invalid_argument", 1, `"tuesday"`},
		{"bad DateTime variable", `query($f: DateTime!) { undeliveredNotifications(filters: {creationDateTime: {from: $f, to: 0}}) { totalCount } }`, map[string]any{"f": "noon"}, "invalid_argument", 1, "$f,"},
		{"variable of the wrong type", `query($n: Int) { undeliveredNotifications(limit: $n, filters: {}) { totalCount } }`, map[string]any{"n": "ten"}, "invalid_argument", 1, "$n"},
		{"missing variable", `query($f: UndeliveredNotificationsFiltersInput!) { undeliveredNotifications(filters: $f) { totalCount } }`, nil, "invalid_argument", 1, "$f"},
		{"two operations, no name", `query A { __typename } query B { __typename }`, nil, "invalid_argument", 0, ""},
		{"@defer is unknown", `{ ... @defer { __typename } }`, nil, "invalid_query", 1, "defer"},
		{"too deep", deep, nil, "query_too_complex", 1, ""},
		{"20 aliases of issue 14", "{ " + strings.Join(aliases, " ") + " }", nil, "query_too_complex", 1, ""},
		{"brackets too deep", strings.Repeat("{", 100) + strings.Repeat("}", 100), nil, "query_too_complex", 1, ""},
		{"no query", "", nil, "invalid_argument", 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, accept := range []string{"", "application/json", "application/graphql-response+json", "application/graphql-response+json, application/json;q=0.9"} {
				a := gqlPost(t, s, gqlKey, accept, query(tc.query, tc.vars))
				require.NotContains(t, a.body, "data", "a request error has no data entry: %s", a.raw)
				errs := a.errors()
				require.NotEmpty(t, errs, string(a.raw))
				require.NotEmpty(t, errs[0]["message"])
				require.Equal(t, tc.code, errs[0]["extensions"].(map[string]any)["code"], string(a.raw))
				if strings.HasPrefix(accept, "application/graphql-response+json") {
					require.Equal(t, http.StatusBadRequest, a.status)
					require.Equal(t, "application/graphql-response+json; charset=utf-8", a.header.Get("Content-Type"))
				} else {
					require.Contains(t, []int{http.StatusOK, http.StatusBadRequest}, a.status)
					if tc.query != "" {
						require.Equal(t, http.StatusOK, a.status, "application/json: 200 for a well-formed request")
					}
					require.Equal(t, "application/json; charset=utf-8", a.header.Get("Content-Type"))
				}
				lines := strings.Split(tc.query, "\n")
				for _, e := range errs {
					for _, l := range asList(e["locations"]) {
						line, col := int(l["line"].(float64)), int(l["column"].(float64))
						require.True(t, line >= 1 && line <= len(lines) && col >= 1 && col <= len(lines[line-1])+1,
							"location %d:%d is inside the query: %s", line, col, a.raw)
					}
				}
				if tc.line > 0 {
					locs := asList(errs[0]["locations"])
					require.NotEmpty(t, locs, string(a.raw))
					require.EqualValues(t, tc.line, locs[0]["line"], string(a.raw))
					if tc.at != "" {
						col := strings.Index(lines[tc.line-1], tc.at) + 1
						require.EqualValues(t, col, locs[0]["column"], string(a.raw))
					}
				}
			}
		})
	}

	// A body that is no GraphQL request at all: 400 either way.
	for _, body := range []string{`{"query": 5}`, `not json`, `[{"query":"{__typename}"}]`} {
		a := gqlPost(t, s, gqlKey, "", body)
		require.Equal(t, http.StatusBadRequest, a.status, body)
		require.NotContains(t, a.body, "data")
		require.NotEmpty(t, a.errors())
	}
	// Named operations, and GET.
	a := gqlPost(t, s, gqlKey, "", map[string]any{"query": `query A { a: __typename } query B { b: __typename }`, "operationName": "B"})
	require.Equal(t, map[string]any{"b": "Query"}, a.data())
	w := httptest.NewRecorder()
	hr := httptest.NewRequest("GET", "/graphql?query=%7B__typename%7D", nil)
	hr.Header.Set("Authorization", "Bearer "+gqlKey)
	hr.Header.Set("Accept", "application/graphql-response+json")
	s.Handler().ServeHTTP(w, hr)
	require.Equal(t, http.StatusOK, w.Code)
	require.JSONEq(t, `{"data":{"__typename":"Query"}}`, w.Body.String())
	require.Equal(t, "application/graphql-response+json; charset=utf-8", w.Header().Get("Content-Type"))
}

// failedAt writes a failed message created at t (the store keeps creation
// times in milliseconds).
func failedAt(t *testing.T, store *logstore.Store, clk *clock.Fake, at time.Time, tag string, pad ...string) string {
	t.Helper()
	clk.Set(at)
	id := ids.New(at)
	_, err := store.Create(t.Context(), &logstore.NewEntry{ID: id, Workspace: "acme", ProductTag: "shop", Env: "prd",
		NotificationTag: tag, Notification: tag + ":x", Type: "callback", TriggeredBy: "api", Head: true,
		Input: json.RawMessage(`{"params":{"id":"` + id + `"},"body":"` + strings.Join(pad, "") + `"}`)})
	require.NoError(t, err)
	_, _, err = store.Transition(t.Context(), "acme", id, logstore.Change{To: logstore.StatusFailed, From: []string{logstore.StatusPending},
		SetError: true, ErrorCode: "SECRET_EXPIRED", Error: "HTTP 401 from the endpoint"})
	require.NoError(t, err)
	return id
}

// Date ranges: INCLUSIVE and EXCLUSIVE bounds to the millisecond the log
// keeps, fractions of a millisecond honoured, EXCLUSIVE with from == to an
// empty page; the seed's query itself.
func TestGraphQLUndeliveredRanges(t *testing.T) {
	s, store, clk := gqlServer(t, "")
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	ms := time.Millisecond
	a0 := failedAt(t, store, clk, t0, "orders")
	a1 := failedAt(t, store, clk, t0.Add(ms), "orders")
	a2 := failedAt(t, store, clk, t0.Add(2*ms), "orders")
	clk.Set(t0.Add(time.Minute))
	const q = `query($f: UndeliveredNotificationsFiltersInput!) { undeliveredNotifications(filters: $f) {
	  totalCount cursor elements { notification { notificationId creationDateTime eventType payload } error { code message } } } }`
	rng := func(from, to time.Time, op string) map[string]any {
		return map[string]any{"f": map[string]any{"eventType": "orders", "creationDateTime": map[string]any{
			"from": from.Format(time.RFC3339Nano), "to": to.Format(time.RFC3339Nano), "operator": op}}}
	}
	got := func(vars map[string]any) []string {
		t.Helper()
		a := gqlPost(t, s, gqlKey, "", query(q, vars))
		require.Equal(t, http.StatusOK, a.status)
		require.Empty(t, a.errors(), string(a.raw))
		page := a.data()["undeliveredNotifications"].(map[string]any)
		ids := []string{}
		for _, el := range asList(page["elements"]) {
			ids = append(ids, el["notification"].(map[string]any)["notificationId"].(string))
		}
		require.EqualValues(t, len(ids), page["totalCount"])
		return ids
	}
	half := 500 * time.Microsecond
	for _, tc := range []struct {
		name     string
		from, to time.Time
		op       string
		want     []string
	}{
		{"inclusive, one instant", t0.Add(ms), t0.Add(ms), "INCLUSIVE", []string{a1}},
		{"exclusive, from == to: empty, no error", t0.Add(ms), t0.Add(ms), "EXCLUSIVE", []string{}},
		{"exclusive leaves both ends out", t0, t0.Add(2 * ms), "EXCLUSIVE", []string{a1}},
		{"inclusive", t0, t0.Add(2 * ms), "INCLUSIVE", []string{a2, a1, a0}},
		{"a sub-millisecond from keeps its millisecond out", t0.Add(half), t0.Add(2 * ms), "INCLUSIVE", []string{a2, a1}},
		{"a sub-millisecond to keeps its millisecond in", t0, t0.Add(ms + half), "INCLUSIVE", []string{a1, a0}},
		{"exclusive sub-millisecond bounds", t0.Add(half), t0.Add(ms + half), "EXCLUSIVE", []string{a1}},
		{"inclusive, no millisecond between", t0.Add(100 * time.Microsecond), t0.Add(900 * time.Microsecond), "INCLUSIVE", []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, got(rng(tc.from, tc.to, tc.op)))
		})
	}
	// operator defaults to INCLUSIVE; Unix milliseconds are DateTimes too.
	require.Equal(t, []string{a1}, got(map[string]any{"f": map[string]any{"creationDateTime": map[string]any{"from": t0.Add(ms).UnixMilli(), "to": fmt.Sprint(t0.Add(ms).UnixMilli())}}}))

	// from after to is a field error naming it; the answer keeps data.
	a := gqlPost(t, s, gqlKey, "", query(q, rng(t0.Add(ms), t0, "INCLUSIVE")))
	require.Equal(t, map[string]any{"undeliveredNotifications": nil}, a.data())
	require.Equal(t, "filters.creationDateTime", a.errors()[0]["extensions"].(map[string]any)["field"])
	require.Equal(t, []any{"undeliveredNotifications"}, a.errors()[0]["path"])
	require.NotEmpty(t, a.errors()[0]["locations"])

	// The seed's example, as written: its cursor is not one of Herald's,
	// which is a field error on cursor; without it, the page.
	seed := `query {
 undeliveredNotifications(
 limit: 3,
 cursor: "9sjala03715723043xlld",
 filters: {
 eventType: "MessageThreadCreated",
 creationDateTime: {
 from: "2024-01-01T00:00:00Z",
 to: "2024-06-15T23:59:59Z",
 }
 }
 ) {
 totalCount
 cursor
 elements {
 notification {
 eventType
 creationDateTime
 notificationId
 payload
 }
 error {
 code
 message
 }
 }
 }
}`
	a = gqlPost(t, s, gqlKey, "", query(seed, nil))
	require.Equal(t, http.StatusOK, a.status)
	require.Equal(t, "cursor", a.errors()[0]["extensions"].(map[string]any)["field"], string(a.raw))
	noCursor := strings.Replace(seed, `cursor: "9sjala03715723043xlld",`, "", 1)
	a = gqlPost(t, s, gqlKey, "", query(noCursor, nil))
	require.Empty(t, a.errors(), string(a.raw))
	require.Equal(t, map[string]any{"totalCount": 0.0, "cursor": "", "elements": []any{}}, a.data()["undeliveredNotifications"])
	orders := strings.NewReplacer(`"MessageThreadCreated"`, `"orders"`, `"2024-06-15T23:59:59Z"`, `"2026-03-01T12:00:00.001Z"`).Replace(noCursor)
	a = gqlPost(t, s, gqlKey, "", query(orders, nil))
	require.Empty(t, a.errors(), string(a.raw))
	page := a.data()["undeliveredNotifications"].(map[string]any)
	require.EqualValues(t, 2, page["totalCount"])
	require.Equal(t, "", page["cursor"], "empty when there is no more page")
	el := asList(page["elements"])[0]
	require.Equal(t, map[string]any{"eventType": "orders", "creationDateTime": "2026-03-01T12:00:00.001Z", "notificationId": a1,
		"payload": map[string]any{"params": map[string]any{"id": a1}, "body": ""}}, el["notification"])
	require.Equal(t, map[string]any{"code": "SECRET_EXPIRED", "message": "HTTP 401 from the endpoint"}, el["error"])
	var keys []string // the answer keeps the query's field order
	dec := json.NewDecoder(bytes.NewReader(a.raw))
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		if k, ok := tok.(string); ok && (k == "totalCount" || k == "cursor" || k == "elements") {
			keys = append(keys, k)
		}
	}
	require.Equal(t, []string{"totalCount", "cursor", "elements"}, keys)
}

// The cost of a query: the 20 aliases of issue 14 are refused before the
// store is read; what is served counts against the key's rate limit (one
// request per undeliveredNotifications), shared by every replica.
func TestGraphQLCost(t *testing.T) {
	s, store, clk := gqlServer(t, "")
	for i := range 12 {
		failedAt(t, store, clk, clk.Now().Add(time.Millisecond), fmt.Sprintf("o%d", i%2))
	}
	alias := func(n int, sel string) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = fmt.Sprintf("a%d: undeliveredNotifications(limit: 10, filters: {}) { %s }", i, sel)
		}
		return "{ " + strings.Join(parts, " ") + " }"
	}
	full := "totalCount cursor elements { notification { notificationId payload } error { code message } }"
	a := gqlPost(t, s, gqlKey, "", query(alias(20, full), nil))
	require.NotContains(t, a.body, "data")
	e := a.errors()[0]
	require.Equal(t, "query_too_complex", e["extensions"].(map[string]any)["code"])
	require.EqualValues(t, gqlMaxCost, e["extensions"].(map[string]any)["limit"])
	require.Contains(t, e["message"], "costs more than")
	// The cost follows limit: the same fields at limit 1 cost a tenth.
	a = gqlPost(t, s, gqlKey, "", query(alias(4, full), nil))
	require.Equal(t, "query_too_complex", a.errors()[0]["extensions"].(map[string]any)["code"], string(a.raw))
	a = gqlPost(t, s, gqlKey, "", query(strings.ReplaceAll(alias(4, full), "limit: 10", "limit: 1"), nil))
	require.Empty(t, a.errors(), string(a.raw))
	require.Len(t, a.data(), 4)
	// Fragments are costed expanded.
	frag := `{ ...A ...A } fragment A on Query { ` + strings.TrimPrefix(strings.TrimSuffix(alias(6, full), " }"), "{ ") + ` }`
	a = gqlPost(t, s, gqlKey, "", query(frag, nil))
	require.Equal(t, "query_too_complex", a.errors()[0]["extensions"].(map[string]any)["code"], string(a.raw))

	// A payload costs as ten fields: a page's payloads under 9 aliases are
	// too many; under 8 they are served (1.3 MB at most).
	for range 10 {
		failedAt(t, store, clk, clk.Now().Add(time.Millisecond), "big", strings.Repeat("p", ListInputBytes-100))
	}
	payloads := func(n int) string {
		p := make([]string, n)
		for i := range p {
			p[i] = fmt.Sprintf("p%d: payload", i)
		}
		return `{ undeliveredNotifications(limit: 10, filters: {eventType: "big"}) { elements { notification { ` + strings.Join(p, " ") + ` } } } }`
	}
	a = gqlPost(t, s, gqlKey, "", query(payloads(9), nil))
	require.Equal(t, "query_too_complex", a.errors()[0]["extensions"].(map[string]any)["code"], string(a.raw))
	a = gqlPost(t, s, gqlKey, "", query(payloads(8), nil))
	require.Empty(t, a.errors())
	require.Greater(t, len(a.raw), 8*10*(ListInputBytes-100))
	// Whatever the cost misses, the answer is cut at its byte budget:
	// data null, one error, none of what was built.
	s.gqlAnswerBudget = 64 << 10
	a = gqlPost(t, s, gqlKey, "", query(payloads(8), nil))
	require.Equal(t, http.StatusOK, a.status)
	require.Nil(t, a.body["data"], "data is null")
	require.Contains(t, a.body, "data", "execution started: data is present")
	require.Equal(t, "query_too_complex", a.errors()[0]["extensions"].(map[string]any)["code"], string(a.raw))
	require.Less(t, len(a.raw), 1<<10, "the cut answer is only its error")

	// Rate limit: burst 5 shared by two replicas through Redis.
	r := testutil.StartRedis(t)
	cfg := limitedConfig(t, "{ per_second: 0.001, burst: 5 }")
	servers := replicas(t, 2, r.Client, cfg, clk)
	a = gqlPost(t, servers[0], limitedKey, "", query(alias(4, "totalCount"), nil))
	require.Equal(t, http.StatusOK, a.status, string(a.raw))
	require.Len(t, a.data(), 4)
	// 4 of 5 are gone: 2 aliases are one too many.
	a = gqlPost(t, servers[0], limitedKey, "", query(alias(2, "totalCount"), nil))
	require.Equal(t, http.StatusTooManyRequests, a.status, string(a.raw))
	require.NotEmpty(t, a.header.Get("Retry-After"))
	require.Equal(t, "rate_limited", a.errors()[0]["extensions"].(map[string]any)["code"])
	require.NotContains(t, a.body, "data")
	servers[0].limits.syncs.Wait()
	// The other replica learns it through Redis: it admits at most the one
	// request it decides on before its first debit answers (were the
	// query one request, it would admit three).
	admitted := 0
	for range 5 {
		if gqlPost(t, servers[1], limitedKey, "", query(`{ __typename }`, nil)).status == http.StatusOK {
			admitted++
		}
		servers[1].limits.syncs.Wait()
	}
	require.LessOrEqual(t, admitted, 1)
}

// FuzzGraphQLPrepare: any query text and variables are a plan or request
// errors with a message; nothing panics, and a plan is within the limits.
func FuzzGraphQLPrepare(f *testing.F) {
	seeds := []string{`{ __typename }`, `{ undeliveredNotifications(filters: {}) { totalCount } }`,
		`query($f: UndeliveredNotificationsFiltersInput!) { undeliveredNotifications(limit: 3, filters: $f) { elements { error { code } } } }`,
		`{ ...A } fragment A on Query { ...A }`, `{ a: __schema { types { name } } b: __type(name: "X") { name } }`,
		`{ undeliveredNotifications(filters: {creationDateTime: {from: "x", to: 1}}) { totalCount } }`, `"""` + "\n" + `{`, `{{{{`}
	if q, err := os.ReadFile("testdata/graphql/introspection.graphql"); err == nil {
		seeds = append(seeds, string(q))
	}
	for _, s := range seeds {
		f.Add(s, `{"f": {"eventType": "orders", "creationDateTime": {"from": 0, "to": "2024-01-01T00:00:00Z"}}}`)
	}
	f.Fuzz(func(t *testing.T, q, vars string) {
		var v map[string]any
		_ = json.Unmarshal([]byte(vars), &v)
		plan, errs := prepareGraphQL(q, "", v)
		if plan == nil {
			if len(errs) == 0 || errs[0].Message == "" {
				t.Fatalf("no plan and no error for %q", q)
			}
			return
		}
		if plan.cost > gqlMaxCost || plan.stores*gqlStoreCost > gqlMaxCost {
			t.Fatalf("plan over the limits: %+v", plan)
		}
		x := &gqlExec{ctx: t.Context(), plan: plan, resolve: (&Server{}).resolver(nil, plan.vars)}
		if plan.stores == 0 {
			data, _ := x.execute()
			if !json.Valid(data) {
				t.Fatalf("invalid JSON answer %s", data)
			}
		}
	})
}

// BenchmarkGraphQLPrepare: what checking a request costs before anything
// is read — the standard introspection query, and the most expensive
// documents within the limits (fields of one response key that conflict,
// compared pairwise by validation; fragments that double at every level).
// BENCHMARKS.md, "GraphQL".
func BenchmarkGraphQLPrepare(b *testing.B) {
	intro, err := os.ReadFile("testdata/graphql/introspection.graphql")
	require.NoError(b, err)
	conflicting := func(keys, per int) string {
		var sb strings.Builder
		sb.WriteString("{ ")
		for k := range keys {
			for i := range per {
				fmt.Fprintf(&sb, "a%d: __type(name: \"T%d\") { n%d_%d: name } ", k, i, k, i)
			}
		}
		sb.WriteString("}")
		return sb.String()
	}
	var doubling strings.Builder
	doubling.WriteString("{ ...F0 }\n")
	for i := range 30 {
		fmt.Fprintf(&doubling, "fragment F%d on Query { ...F%d ...F%d __typename }\n", i, i+1, i+1)
	}
	doubling.WriteString("fragment F30 on Query { __typename }")
	for _, bc := range []struct{ name, query string }{
		{"introspection", string(intro)},
		{"conflicting-5x50", conflicting(5, 50)},
		{"doubling-fragments-2^30", doubling.String()},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				prepareGraphQL(bc.query, "", nil)
			}
		})
	}
}
