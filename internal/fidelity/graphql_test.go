package fidelity

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/apptest"
)

// seedQuery is the example of seeds/undelivered-notifications-graphql.txt,
// as written there (its cursor is an example value, not one of Herald's).
const seedQuery = `query {
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

type introspectResult struct {
	Version        string `json:"version"`
	Introspections map[string]struct {
		Status       int              `json:"status"`
		ContentType  string           `json:"contentType"`
		Errors       []map[string]any `json:"errors"`
		SchemaErrors []string         `json:"schemaErrors"`
		Description  *string          `json:"description"`
		Directives   []struct {
			Name         string `json:"name"`
			IsRepeatable *bool  `json:"isRepeatable"`
		} `json:"directives"`
	} `json:"introspections"`
	Types   map[string]string `json:"types"`
	Fields  map[string]string `json:"fields"`
	Queries map[string]struct {
		ClientValidation []string         `json:"clientValidation"`
		Status           int              `json:"status"`
		Data             map[string]any   `json:"data"`
		Errors           []map[string]any `json:"errors"`
	} `json:"queries"`
	Bad []struct {
		Status          int              `json:"status"`
		ContentType     string           `json:"contentType"`
		HasData         bool             `json:"hasData"`
		Errors          []map[string]any `json:"errors"`
		LocationsInside bool             `json:"locationsInside"`
	} `json:"bad"`
}

// graphql-js 16 introspects Herald with its standard query, builds the
// client schema from the answer, finds the seed's types as the seed
// declares them, validates the seed's query against it and runs it.
func TestGraphQLJSIntrospectionAndSeedQuery(t *testing.T) {
	requireNode(t)
	rc := apptest.NewReceiver(t)
	rc.SetRespond(func(n int, r *http.Request, w http.ResponseWriter) { w.WriteHeader(http.StatusUnauthorized) })
	h := apptest.Start(t, apptest.Options{YAML: apptest.Config(rc.URL)})
	var ids []string
	for i := range 4 {
		ids = append(ids, h.SendCallback(fmt.Sprintf("gql-%d", i), map[string]any{"retries": 0}))
	}
	for _, id := range ids {
		h.WaitStatus(id, "failed", 20*time.Second)
	}
	now := time.Now().UTC()
	mine := strings.NewReplacer(`cursor: "9sjala03715723043xlld",`, "", `"MessageThreadCreated"`, `"orders"`,
		`"2024-01-01T00:00:00Z"`, `"`+now.Add(-time.Hour).Format(time.RFC3339)+`"`,
		`"2024-06-15T23:59:59Z"`, `"`+now.Add(time.Hour).Format(time.RFC3339Nano)+`"`).Replace(seedQuery)
	withVars := `query Undelivered($limit: Int, $filters: UndeliveredNotificationsFiltersInput!) {
  undeliveredNotifications(limit: $limit, filters: $filters) { totalCount cursor elements { notification { notificationId creationDateTime } } } }`
	aliases := make([]string, 20)
	for i := range aliases {
		aliases[i] = fmt.Sprintf("a%d: undeliveredNotifications(limit: 10, filters: {}) { totalCount cursor elements { notification { notificationId payload } error { code message } } }", i)
	}
	input := map[string]any{
		"url": h.URL, "key": apptest.KeyAcmeRead,
		"queries": []map[string]any{
			{"name": "seed", "query": seedQuery},
			{"name": "seed-mine", "query": mine},
			{"name": "variables", "query": withVars, "variables": map[string]any{"limit": 3, "filters": map[string]any{
				"eventType": "orders", "creationDateTime": map[string]any{"from": now.Add(-time.Hour).Format(time.RFC3339Nano), "to": now.Add(time.Hour).Format(time.RFC3339Nano), "operator": "EXCLUSIVE"}}}},
			{"name": "exclusive-empty", "query": withVars, "variables": map[string]any{"filters": map[string]any{
				"creationDateTime": map[string]any{"from": now.Format(time.RFC3339Nano), "to": now.Format(time.RFC3339Nano), "operator": "EXCLUSIVE"}}}},
		},
		"bad": []string{"{\n  undeliveredNotifications(filters: {}) {\n    nope\n  }\n}", "query {\n  undeliveredNotifications(\n", "{ " + strings.Join(aliases, " ") + " }"},
	}
	var got introspectResult
	runNode(t, "graphql-introspect.mjs", input, &got)
	if !strings.HasPrefix(got.Version, "16.") {
		t.Fatalf("graphql-js %s, want 16.x", got.Version)
	}

	for name, r := range got.Introspections {
		if r.Status != http.StatusOK || len(r.Errors) > 0 || len(r.SchemaErrors) > 0 {
			t.Fatalf("introspection %s: status %d, errors %v, schema errors %v", name, r.Status, r.Errors, r.SchemaErrors)
		}
		if r.ContentType != "application/graphql-response+json; charset=utf-8" {
			t.Errorf("introspection %s: content type %q", name, r.ContentType)
		}
	}
	full := got.Introspections["full"]
	if full.Description == nil || *full.Description == "" {
		t.Error("__Schema.description is empty")
	}
	for _, d := range full.Directives {
		if d.IsRepeatable == nil {
			t.Errorf("directive @%s has no isRepeatable", d.Name)
		}
	}
	for name, kind := range map[string]string{
		"UndeliveredNotificationsResponse": "OBJECT", "UndeliveredNotification": "OBJECT", "Notification": "OBJECT",
		"NotificationError": "OBJECT", "UndeliveredNotificationsFiltersInput": "INPUT_OBJECT",
		"DateTimeRangeFilterInput": "INPUT_OBJECT", "RangeOperator": "ENUM", "DateTime": "SCALAR", "JSON": "SCALAR",
	} {
		if got.Types[name] != kind {
			t.Errorf("type %s: %q, want %s", name, got.Types[name], kind)
		}
	}
	for field, typ := range map[string]string{
		"Query.undeliveredNotifications(limit)":                 "Int",
		"Query.undeliveredNotifications(cursor)":                "String",
		"Query.undeliveredNotifications(filters)":               "UndeliveredNotificationsFiltersInput!",
		"UndeliveredNotificationsResponse.totalCount":           "Int!",
		"UndeliveredNotificationsResponse.cursor":               "String",
		"UndeliveredNotificationsResponse.elements":             "[UndeliveredNotification!]!",
		"UndeliveredNotification.notification":                  "Notification!",
		"UndeliveredNotification.error":                         "NotificationError",
		"Notification.eventType":                                "String!",
		"Notification.creationDateTime":                         "DateTime!",
		"Notification.notificationId":                           "String!",
		"Notification.payload":                                  "JSON!",
		"NotificationError.code":                                "String!",
		"NotificationError.message":                             "String!",
		"UndeliveredNotificationsFiltersInput.eventType":        "String",
		"UndeliveredNotificationsFiltersInput.creationDateTime": "DateTimeRangeFilterInput",
		"DateTimeRangeFilterInput.from":                         "DateTime!",
		"DateTimeRangeFilterInput.to":                           "DateTime!",
		"DateTimeRangeFilterInput.operator":                     "RangeOperator",
		"DateTimeRangeFilterInput.isOneOf":                      "false",
		"RangeOperator.values":                                  "INCLUSIVE,EXCLUSIVE",
	} {
		if got.Fields[field] != typ {
			t.Errorf("%s: %q, want %q", field, got.Fields[field], typ)
		}
	}

	for name, q := range got.Queries {
		if len(q.ClientValidation) > 0 {
			t.Errorf("query %s does not validate against the client schema: %v", name, q.ClientValidation)
		}
		if q.Status != http.StatusOK {
			t.Errorf("query %s: status %d", name, q.Status)
		}
	}
	// The seed's query as written: its example cursor is no cursor of
	// Herald's, a field error naming it.
	seed := got.Queries["seed"]
	if len(seed.Errors) != 1 || seed.Errors[0]["extensions"].(map[string]any)["field"] != "cursor" || seed.Data == nil {
		t.Errorf("seed query: data %v errors %v; want a field error on cursor beside data", seed.Data, seed.Errors)
	}
	page := func(name string) map[string]any {
		q := got.Queries[name]
		if len(q.Errors) > 0 || q.Data == nil {
			t.Fatalf("query %s: errors %v", name, q.Errors)
		}
		return q.Data["undeliveredNotifications"].(map[string]any)
	}
	p := page("seed-mine")
	if p["totalCount"] != 4.0 || len(p["elements"].([]any)) != 3 || p["cursor"] == "" {
		t.Errorf("seed query on this workspace: %v", p)
	}
	el := p["elements"].([]any)[0].(map[string]any)
	n := el["notification"].(map[string]any)
	if n["eventType"] != "orders" || n["notificationId"] != ids[3] || n["payload"].(map[string]any)["params"] == nil {
		t.Errorf("notification: %v", n)
	}
	if _, err := time.Parse(time.RFC3339, n["creationDateTime"].(string)); err != nil {
		t.Errorf("creationDateTime %q: %v", n["creationDateTime"], err)
	}
	if e := el["error"].(map[string]any); e["code"] != "SECRET_EXPIRED" || e["message"] == "" {
		t.Errorf("error: %v", e)
	}
	if p := page("variables"); p["totalCount"] != 4.0 || len(p["elements"].([]any)) != 3 {
		t.Errorf("with variables: %v", p)
	}
	if p := page("exclusive-empty"); p["totalCount"] != 0.0 || len(p["elements"].([]any)) != 0 {
		t.Errorf("EXCLUSIVE with from == to: %v", p)
	}

	for i, b := range got.Bad {
		if b.HasData || len(b.Errors) == 0 || b.Status != http.StatusBadRequest || !b.LocationsInside ||
			b.ContentType != "application/graphql-response+json; charset=utf-8" {
			t.Errorf("bad query %d: status %d %q, data %v, locations inside %v, errors %v", i, b.Status, b.ContentType, b.HasData, b.LocationsInside, b.Errors)
		}
	}
	if code := got.Bad[2].Errors[0]["extensions"].(map[string]any)["code"]; code != "query_too_complex" {
		t.Errorf("20 aliases: %v", got.Bad[2].Errors)
	}
}
