package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/internal/apptest"
	"github.com/heraldhq/herald/producer"
)

func TestMultiChannelSend(t *testing.T) {
	rc := apptest.NewReceiver(t)
	h := apptest.Start(t, apptest.Options{YAML: apptest.Config(rc.URL)})
	r := h.Do("POST", "/v1/notifications/send", apptest.KeyAcme, map[string]any{
		"product": "shop", "env": "prd", "event": "orders",
		"input": map[string]any{
			"callback": map[string]any{"params": map[string]any{"id": "MC-1"}},
			"email":    map[string]any{"recipients": []string{"a@example.com"}},
		},
	})
	require.Equal(t, http.StatusAccepted, r.Status, string(r.Body))
	body := r.JSON()
	require.Equal(t, true, body["success"])
	chans := body["channels"].(map[string]any)
	cb := chans["callback"].(map[string]any)
	require.Equal(t, true, cb["success"])
	em := chans["email"].(map[string]any)
	require.Equal(t, false, em["success"], "orders has no email message: partial acceptance")
	require.Equal(t, "input.email", em["error"].(map[string]any)["field"])
	e := h.WaitStatus(cb["messageId"].(string), "sent", 10*time.Second)
	require.Equal(t, body["process_id"], e["process_id"])
	require.Equal(t, "orders:confirmation", e["notification"], "the first message defining the channel")
	q := h.Do("GET", "/v1/messages?process_id="+body["process_id"].(string), apptest.KeyAcme, nil)
	require.EqualValues(t, 1, q.JSON()["total"])

	// Nothing acceptable: 400 with the channels and the error shape.
	r = h.Do("POST", "/v1/notifications/send", apptest.KeyAcme, map[string]any{
		"product": "shop", "env": "prd", "event": "orders",
		"input": map[string]any{"callback": map[string]any{"params": map[string]any{}}},
	})
	require.Equal(t, http.StatusBadRequest, r.Status, string(r.Body))
	require.Equal(t, "input.callback.params.id", errorOf(t, r)["field"])
	r = h.Do("POST", "/v1/notifications/send", apptest.KeyAcme, map[string]any{"product": "shop", "env": "prd", "event": "orders", "input": map[string]any{}})
	require.Equal(t, http.StatusBadRequest, r.Status)
	require.Equal(t, "input", errorOf(t, r)["field"])
	r = h.Do("POST", "/v1/notifications/send", apptest.KeyAcme, map[string]any{"product": "shop", "env": "prd", "event": "nope", "input": map[string]any{"callback": map[string]any{}}})
	require.Equal(t, "event", errorOf(t, r)["field"])
}

// Two processes making the same send with the same IDSeed (two scheduler
// replicas firing one slot) write one entry and deliver once.
func TestDeterministicIDsSendOnce(t *testing.T) {
	rc := apptest.NewReceiver(t)
	h := apptest.Start(t, apptest.Options{YAML: apptest.Config(rc.URL)})
	slot := time.Now().Truncate(time.Minute)
	var wg sync.WaitGroup
	results := make([]*producer.MultiResult, 8)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := h.App.Producer().SendMulti(context.Background(), "acme", &producer.MultiRequest{
				Product: "shop", Env: "prd", Event: "orders:confirmation",
				Input: producer.MultiInput{Callback: json.RawMessage(`{"params":{"id":"SLOT"}}`)},
			}, producer.Options{Via: producer.ViaSchedule, CampaignID: "job_1", IDSeed: "job_1/" + slot.Format(time.RFC3339), At: slot})
			require.NoError(t, err)
			results[i] = res
		}()
	}
	wg.Wait()
	id := results[0].Channels["callback"].MessageID
	for _, r := range results {
		require.Equal(t, id, r.Channels["callback"].MessageID)
		require.Equal(t, results[0].ProcessID, r.ProcessID)
	}
	e := h.WaitStatus(id, "sent", 10*time.Second)
	require.Equal(t, "schedule", e["triggered_by"])
	require.Equal(t, "job_1", e["campaign_id"])
	time.Sleep(200 * time.Millisecond)
	require.Equal(t, 1, rc.Count("/orders/SLOT"))
	q := h.Do("GET", "/v1/messages?campaign_id=job_1", apptest.KeyAcme, nil)
	require.EqualValues(t, 1, q.JSON()["total"])
}
