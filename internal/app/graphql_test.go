package app_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/internal/apptest"
)

func TestGraphQLUndelivered(t *testing.T) {
	rc := apptest.NewReceiver(t)
	rc.SetRespond(func(n int, r *http.Request, w http.ResponseWriter) {
		switch r.URL.Path[len("/orders/"):][:2] {
		case "nf":
			w.WriteHeader(http.StatusNotFound)
		case "au":
			w.WriteHeader(http.StatusUnauthorized)
		}
	})
	h := apptest.Start(t, apptest.Options{YAML: apptest.Config(rc.URL)})
	before := time.Now().UTC()
	var failed []string
	for i := range 7 {
		failed = append(failed, h.SendCallback(fmt.Sprintf("nf-%d", i), nil))
	}
	secret := h.SendCallback("au-1", nil)
	ok := h.SendCallback("ok-1", nil)
	for _, id := range failed {
		h.WaitStatus(id, "failed", 10*time.Second)
	}
	h.WaitStatus(secret, "failed", 10*time.Second)
	h.WaitStatus(ok, "sent", 10*time.Second)

	gql := func(query string, vars map[string]any) (map[string]any, []any) {
		r := h.Do("POST", "/graphql", apptest.KeyAcme, map[string]any{"query": query, "variables": vars})
		require.Equal(t, http.StatusOK, r.Status, string(r.Body))
		var out map[string]any
		require.NoError(t, json.Unmarshal(r.Body, &out))
		errs, _ := out["errors"].([]any)
		data, _ := out["data"].(map[string]any)
		return data, errs
	}
	const q = `query($limit: Int, $cursor: String, $from: DateTime, $to: DateTime, $op: RangeOperator, $event: String) {
	  undeliveredNotifications(limit: $limit, cursor: $cursor, filters: {eventType: $event, creationDateTime: {from: $from, to: $to, operator: $op}}) {
	    totalCount cursor
	    elements { notification { eventType creationDateTime notificationId payload } error { code message } } } }`

	var seen []string
	cursor := ""
	for pages := 0; ; pages++ {
		require.Less(t, pages, 10)
		vars := map[string]any{"limit": 3, "from": before.Add(-time.Second).Format(time.RFC3339Nano), "op": "INCLUSIVE", "event": "orders"}
		if cursor != "" {
			vars["cursor"] = cursor
		}
		data, errs := gql(q, vars)
		require.Empty(t, errs)
		page := data["undeliveredNotifications"].(map[string]any)
		require.EqualValues(t, 8, page["totalCount"])
		for _, el := range page["elements"].([]any) {
			el := el.(map[string]any)
			n := el["notification"].(map[string]any)
			require.Equal(t, "orders", n["eventType"])
			require.NotEmpty(t, n["creationDateTime"])
			require.Contains(t, n["payload"].(map[string]any), "params")
			seen = append(seen, n["notificationId"].(string))
			code := el["error"].(map[string]any)["code"]
			if n["notificationId"] == secret {
				require.Equal(t, "SECRET_EXPIRED", code, "the endpoint rejected our credentials")
			} else {
				require.Equal(t, "DELIVERY_ERROR", code)
			}
			require.NotEmpty(t, el["error"].(map[string]any)["message"])
		}
		cursor = page["cursor"].(string)
		if cursor == "" {
			break
		}
	}
	require.Len(t, seen, 8)
	require.Equal(t, secret, seen[0], "newest first")
	require.NotContains(t, seen, ok)

	// Filters: another event type, an exclusive range that ends before anything.
	data, errs := gql(q, map[string]any{"event": "signup"})
	require.Empty(t, errs)
	require.EqualValues(t, 0, data["undeliveredNotifications"].(map[string]any)["totalCount"])
	data, errs = gql(q, map[string]any{"to": before.Add(-time.Minute).UnixMilli(), "op": "EXCLUSIVE"})
	require.Empty(t, errs)
	require.EqualValues(t, 0, data["undeliveredNotifications"].(map[string]any)["totalCount"])

	// limit over 10 is a GraphQL error naming the argument.
	data, errs = gql(q, map[string]any{"limit": 11})
	require.Len(t, errs, 1)
	require.Nil(t, data)
	ext := errs[0].(map[string]any)["extensions"].(map[string]any)
	require.Equal(t, "invalid_argument", ext["code"])
	require.Equal(t, "limit", ext["field"])
	_, errs = gql(`{ undeliveredNotifications { nope } }`, nil)
	require.NotEmpty(t, errs, "a query the schema does not have is refused by the parser")

	// Workspace isolation and auth.
	r := h.Do("POST", "/graphql", apptest.KeyGlobex, map[string]any{"query": `{ undeliveredNotifications { totalCount } }`})
	require.Contains(t, string(r.Body), `"totalCount":0`)
	r = h.Do("POST", "/graphql", "", map[string]any{"query": `{ undeliveredNotifications { totalCount } }`})
	require.Equal(t, http.StatusUnauthorized, r.Status)
}
