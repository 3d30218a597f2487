package app_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/api"
	"github.com/heraldhq/herald/internal/apptest"
)

// Large inputs (close to max_body_bytes) are shown in full only by
// GET /v1/messages/{id}: lists cut them to a marker, so a page of them
// costs kilobytes, not hundreds of megabytes, and every seed field stays
// present. The marker cannot be resent by mistake.
func TestListViewsCutLargeInputs(t *testing.T) {
	rc := apptest.NewReceiver(t)
	rc.SetRespond(func(n int, r *http.Request, w http.ResponseWriter) {
		if strings.HasPrefix(r.URL.Path, "/orders/big-") {
			w.WriteHeader(http.StatusNotFound) // failed: GraphQL's undelivered lists them
		}
	})
	h := apptest.Start(t, apptest.Options{YAML: apptest.Config(rc.URL)})
	pad := strings.Repeat("p", 900_000)
	var big []string
	for i := range 4 {
		r := h.Do("POST", "/v1/notifications/callback/send", apptest.KeyAcme, map[string]any{
			"product": "shop", "env": "prd", "notification": "orders:confirmation",
			"input": map[string]any{"params": map[string]any{"id": fmt.Sprintf("big-%d", i)}, "body": map[string]any{"pad": pad}},
		})
		require.Equal(t, http.StatusAccepted, r.Status, string(r.Body))
		big = append(big, r.JSON()["messageId"].(string))
	}
	small := h.SendCallback("small-1", nil)
	for _, id := range big {
		h.WaitStatus(id, "failed", 10*time.Second)
	}
	h.WaitStatus(small, "sent", 10*time.Second)

	r := h.Do("GET", "/v1/messages?limit=200", apptest.KeyAcmeRead, nil)
	require.Equal(t, http.StatusOK, r.Status)
	require.Less(t, len(r.Body), 64<<10, "a page of four ~900 KB inputs is small")
	var page struct {
		Items []map[string]any `json:"items"`
	}
	require.NoError(t, json.Unmarshal(r.Body, &page))
	require.Len(t, page.Items, 5)
	seedFields := []string{"_id", "workspace_id", "product_id", "product_tag", "env", "notification_tag", "input", "status", "type",
		"process_id", "error", "retries", "session", "cache", "created_at", "updated_at"}
	for _, it := range page.Items {
		for _, f := range seedFields {
			require.Contains(t, it, f)
		}
		in, ok := it["input"].(map[string]any)
		require.True(t, ok, "input stays an object")
		if it["_id"] == small {
			require.Nil(t, it["input_truncated"])
			require.Contains(t, in, "params")
			continue
		}
		require.Equal(t, true, it["input_truncated"])
		marker := in["$truncated"].(map[string]any)
		require.Greater(t, marker["bytes"], float64(900_000))
		require.EqualValues(t, api.ListInputBytes, marker["limit"])
		require.Equal(t, "/v1/messages/"+it["_id"].(string), marker["full"])

		// The full input is one request away.
		full := h.Do("GET", marker["full"].(string), apptest.KeyAcmeRead, nil)
		require.Equal(t, http.StatusOK, full.Status)
		require.Greater(t, len(full.Body), 900_000)
		require.Nil(t, full.JSON()["input_truncated"])
		require.Equal(t, pad, full.JSON()["input"].(map[string]any)["body"].(map[string]any)["pad"])

		// Resending what a list shows, as the seed describes reprocessing,
		// is refused: the marker is no channel's input.
		again := h.Do("POST", "/v1/notifications/callback/send", apptest.KeyAcme, map[string]any{
			"product": "shop", "env": "prd", "notification": "orders:confirmation", "input": in,
		})
		require.Equal(t, http.StatusBadRequest, again.Status, string(again.Body))
		require.Equal(t, "input.$truncated", errorOf(t, again)["field"])
	}

	// GraphQL's payload is cut the same way.
	g := h.Do("POST", "/graphql", apptest.KeyAcmeRead, map[string]any{"query": `{ undeliveredNotifications(limit: 10, filters: {}) { totalCount elements { notification { notificationId payload } } } }`})
	require.Equal(t, http.StatusOK, g.Status, string(g.Body))
	require.Less(t, len(g.Body), 64<<10)
	require.Equal(t, 4, strings.Count(string(g.Body), `"$truncated"`), string(g.Body))

	// The send-log search finds the destinations of large inputs (read one
	// at a time) and shows no input at all.
	sl := h.Do("POST", "/v1/send-logs/search", apptest.KeyAcmeRead, map[string]any{"options": map[string]any{"limit": 1000}, "group_destinations": "list"})
	require.Equal(t, http.StatusOK, sl.Status, string(sl.Body))
	require.Less(t, len(sl.Body), 64<<10)
	for i := range 4 {
		require.Contains(t, string(sl.Body), fmt.Sprintf("/orders/big-%d", i))
	}
	require.NotContains(t, string(sl.Body), "ppppp")
	// The count (the default) is kept at creation: no input is read.
	sl = h.Do("POST", "/v1/send-logs/search", apptest.KeyAcmeRead, map[string]any{"options": map[string]any{"limit": 1000}})
	require.Equal(t, http.StatusOK, sl.Status, string(sl.Body))
	logs := sl.JSON()["data"].(map[string]any)["send_logs"].([]any)
	require.Len(t, logs, 5)
	for _, l := range logs {
		require.EqualValues(t, 1, l.(map[string]any)["destinations"])
	}
}
