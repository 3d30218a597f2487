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
	const q = `query($limit: Int, $cursor: String, $filters: UndeliveredNotificationsFiltersInput!) {
	  undeliveredNotifications(limit: $limit, cursor: $cursor, filters: $filters) {
	    totalCount cursor limit
	    elements { notification { eventType creationDateTime notificationId payload } error { code message } } } }`
	window := func(from, to time.Time, op string) map[string]any {
		return map[string]any{"from": from.Format(time.RFC3339Nano), "to": to.Format(time.RFC3339Nano), "operator": op}
	}

	var seen []string
	cursor := ""
	for pages := 0; ; pages++ {
		require.Less(t, pages, 10)
		vars := map[string]any{"limit": 3, "filters": map[string]any{"eventType": "orders",
			"creationDateTime": window(before.Add(-time.Second), time.Now().Add(time.Hour), "INCLUSIVE")}}
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
	data, errs := gql(q, map[string]any{"filters": map[string]any{"eventType": "signup"}})
	require.Empty(t, errs)
	require.EqualValues(t, 0, data["undeliveredNotifications"].(map[string]any)["totalCount"])
	data, errs = gql(q, map[string]any{"filters": map[string]any{"creationDateTime": map[string]any{
		"from": 0, "to": before.Add(-time.Minute).UnixMilli(), "operator": "EXCLUSIVE"}}})
	require.Empty(t, errs)
	require.EqualValues(t, 0, data["undeliveredNotifications"].(map[string]any)["totalCount"])

	// limit over 10 is taken as 10, and the answer says so; below 1 is a
	// field error naming the argument.
	data, errs = gql(q, map[string]any{"limit": 11, "filters": map[string]any{}})
	require.Empty(t, errs)
	require.EqualValues(t, 10, data["undeliveredNotifications"].(map[string]any)["limit"])
	require.Len(t, data["undeliveredNotifications"].(map[string]any)["elements"], 8)
	data, errs = gql(q, map[string]any{"limit": 0, "filters": map[string]any{}})
	require.Len(t, errs, 1)
	require.Equal(t, map[string]any{"undeliveredNotifications": nil}, data)
	ext := errs[0].(map[string]any)["extensions"].(map[string]any)
	require.Equal(t, "invalid_argument", ext["code"])
	require.Equal(t, "limit", ext["field"])
	require.Equal(t, []any{"undeliveredNotifications"}, errs[0].(map[string]any)["path"])
	_, errs = gql(`{ undeliveredNotifications(filters: {}) { nope } }`, nil)
	require.NotEmpty(t, errs, "a query the schema does not have is refused by the validator")
	_, errs = gql(`{ undeliveredNotifications { totalCount } }`, nil)
	require.NotEmpty(t, errs, "filters is required, as in the seed")

	// Workspace isolation and auth.
	r := h.Do("POST", "/graphql", apptest.KeyGlobex, map[string]any{"query": `{ undeliveredNotifications(filters: {}) { totalCount } }`})
	require.Contains(t, string(r.Body), `"totalCount":0`)
	r = h.Do("POST", "/graphql", "", map[string]any{"query": `{ undeliveredNotifications(filters: {}) { totalCount } }`})
	require.Equal(t, http.StatusUnauthorized, r.Status)
}
