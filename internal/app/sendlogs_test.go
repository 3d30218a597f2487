package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/internal/apptest"
	"github.com/heraldhq/herald/producer"
)

func TestSendLogs(t *testing.T) {
	rc := apptest.NewReceiver(t)
	h := apptest.Start(t, apptest.Options{YAML: apptest.Config(rc.URL)})
	single := h.SendCallback("SL-1", nil)
	multi := h.Do("POST", "/v1/notifications/send", apptest.KeyAcme, map[string]any{
		"product": "shop", "env": "prd", "event": "orders", "input": map[string]any{"callback": map[string]any{"params": map[string]any{"id": "SL-2"}}},
	}).JSON()
	pid := multi["process_id"].(string)
	slot := time.Date(2026, 1, 5, 9, 30, 0, 0, time.UTC)
	var campaign []string
	for i := range 3 {
		at := slot.Add(time.Duration(i) * time.Hour)
		res, err := h.App.Producer().SendMulti(context.Background(), "acme", &producer.MultiRequest{
			Product: "shop", Env: "prd", Event: "orders:confirmation",
			Input: producer.MultiInput{Callback: json.RawMessage(`{"params":{"id":"CAMP"}}`)},
		}, producer.Options{Via: producer.ViaSchedule, CampaignID: "job_digest", IDSeed: "job_digest/" + at.String(), At: at})
		require.NoError(t, err)
		campaign = append(campaign, res.ProcessID)
	}
	h.WaitStatus(single, "sent", 10*time.Second)

	// One send log by id: a message id, or a process id.
	r := h.Do("GET", "/v1/send-logs/"+single+"?group_destinations=list", apptest.KeyAcme, nil)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	body := r.JSON()
	require.Equal(t, true, body["ok"])
	sl := body["data"].(map[string]any)
	require.Equal(t, single, sl["_id"])
	require.Equal(t, "POST "+rc.URL+"/orders/{id}", sl["message"], "the unresolved template")
	require.Equal(t, "api", sl["triggeredBy"])
	require.Equal(t, []any{rc.URL + "/orders/SL-1"}, sl["destinations"])
	require.Nil(t, sl["campaign_id"])
	r = h.Do("GET", "/v1/send-logs/"+pid, apptest.KeyAcme, nil)
	require.Equal(t, http.StatusOK, r.Status)
	require.EqualValues(t, 1, r.JSON()["data"].(map[string]any)["destinations"], "count by default")

	r = h.Do("GET", "/v1/send-logs/prc_01JZZZZZZZZZZZZZZZZZZZZZZZ", apptest.KeyAcme, nil)
	require.Equal(t, http.StatusNotFound, r.Status)
	require.Equal(t, false, r.JSON()["ok"])
	require.Equal(t, "resource_not_found", r.JSON()["error"].(map[string]any)["code"])
	r = h.Do("GET", "/v1/send-logs/"+single, apptest.KeyGlobex, nil)
	require.Equal(t, http.StatusNotFound, r.Status, "another workspace's send")
	r = h.Do("GET", "/v1/send-logs/"+single, "", nil)
	require.Equal(t, http.StatusUnauthorized, r.Status)
	require.Equal(t, false, r.JSON()["ok"])

	// Search: every send, a campaign, a slot range.
	search := func(body any) map[string]any {
		r := h.Do("POST", "/v1/send-logs/search", apptest.KeyAcme, body)
		require.Equal(t, http.StatusOK, r.Status, string(r.Body))
		require.Equal(t, true, r.JSON()["ok"])
		return r.JSON()["data"].(map[string]any)
	}
	d := search(map[string]any{"find": map[string]any{}})
	require.EqualValues(t, 5, d["total"])
	d = search(map[string]any{"find": map[string]any{"campaign_id": []string{"job_digest", "job_other"}}, "options": map[string]any{"skip": 1, "limit": 1}})
	require.EqualValues(t, 3, d["total"])
	logs := d["send_logs"].([]any)
	require.Len(t, logs, 1)
	got := logs[0].(map[string]any)
	require.Equal(t, campaign[1], got["_id"], "newest first, skipping one")
	require.Equal(t, "job_digest", got["campaign_id"])
	require.Equal(t, "schedule", got["triggeredBy"])
	require.Equal(t, slot.Add(time.Hour).Format("2006-01-02T15:04:05.000Z07:00"), got["startDeliveryAt"], "the slot time")
	parsed := d["parsed"].(map[string]any)
	require.Equal(t, []any{"job_digest", "job_other"}, parsed["find"].(map[string]any)["campaign_id"])
	require.Equal(t, map[string]any{"skip": 1.0, "limit": 1.0}, parsed["options"])

	d = search(map[string]any{"find": map[string]any{"campaign_id": "job_digest",
		"startDeliveryAt": map[string]any{"$gte": time.Now().Add(-time.Minute).UnixMilli(), "$lte": time.Now().Add(time.Minute).Format(time.RFC3339)}}})
	require.EqualValues(t, 3, d["total"], "startDeliveryAt bounds filter on creation")
	require.Contains(t, d["parsed"].(map[string]any)["find"].(map[string]any)["startDeliveryAt"], "$gte")
	d = search(map[string]any{"find": map[string]any{"startDeliveryAt": map[string]any{"$lt": time.Now().Add(-time.Hour).Format(time.RFC3339)}}})
	require.EqualValues(t, 0, d["total"])

	// The seed's defaults: limit about 1000 when not given; more is clamped
	// and parsed says what was used; campaign_id: [] matches nothing.
	d = search(map[string]any{})
	require.Equal(t, map[string]any{"skip": 0.0, "limit": 1000.0}, d["parsed"].(map[string]any)["options"])
	require.Len(t, d["send_logs"], 5)
	d = search(map[string]any{"options": map[string]any{"limit": 5000}})
	require.EqualValues(t, 1000, d["parsed"].(map[string]any)["options"].(map[string]any)["limit"])
	require.Len(t, d["send_logs"], 5)
	d = search(map[string]any{"find": map[string]any{"campaign_id": []string{}}})
	require.EqualValues(t, 0, d["total"], "an empty list of campaigns matches nothing")
	require.Empty(t, d["send_logs"])
	require.Equal(t, []any{}, d["parsed"].(map[string]any)["find"].(map[string]any)["campaign_id"])

	for _, tc := range []struct {
		body  string
		field string
	}{
		{`{"find":{"campaign_id":5}}`, "find.campaign_id"},
		{`{"find":{"startDeliveryAt":{"$eq":"2024-01-01T00:00:00Z"}}}`, "find.startDeliveryAt.$eq"},
		{`{"find":{"startDeliveryAt":{"$gte":"tuesday"}}}`, "find.startDeliveryAt.$gte"},
		{`{"find":{"status":"sent"}}`, "find.status"},
		{`{"options":{"limit":0}}`, "options.limit"},
		{`{"options":{"skip":-1}}`, "options.skip"},
		{`{"find":{"startDeliveryAt":{"$gte":"2024-02-01T00:00:00Z","$lte":"2024-01-01T00:00:00Z"}}}`, "find.startDeliveryAt"},
	} {
		r := h.Do("POST", "/v1/send-logs/search", apptest.KeyAcme, tc.body)
		require.Equal(t, http.StatusBadRequest, r.Status, tc.body+": "+string(r.Body))
		require.Equal(t, false, r.JSON()["ok"])
		require.Equal(t, tc.field, r.JSON()["error"].(map[string]any)["field"], tc.body)
	}
}
