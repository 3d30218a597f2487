package app_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/internal/apptest"
)

func TestPatchAndReprocess(t *testing.T) {
	rc := apptest.NewReceiver(t)
	var healthy atomic.Bool
	rc.SetRespond(func(n int, r *http.Request, w http.ResponseWriter) {
		if !healthy.Load() {
			w.WriteHeader(http.StatusNotFound)
		}
	})
	h := apptest.Start(t, apptest.Options{YAML: apptest.Config(rc.URL)})
	id := h.SendCallback("RP-1", nil)
	h.WaitStatus(id, "failed", 10*time.Second)

	// Not allowed by hand: 409, and the read-only key may not patch at all.
	r := h.Do("PATCH", "/v1/messages/"+id, apptest.KeyAcme, map[string]any{"status": "sent"})
	require.Equal(t, http.StatusConflict, r.Status, string(r.Body))
	require.Equal(t, "conflict", errorOf(t, r)["code"])
	r = h.Do("PATCH", "/v1/messages/"+id, apptest.KeyAcme, map[string]any{"status": "done"})
	require.Equal(t, http.StatusBadRequest, r.Status)
	require.Equal(t, "status", errorOf(t, r)["field"])
	r = h.Do("PATCH", "/v1/messages/"+id, apptest.KeyAcmeRead, map[string]any{"status": "reprocessing"})
	require.Equal(t, http.StatusForbidden, r.Status)
	r = h.Do("PATCH", "/v1/messages/"+id, apptest.KeyGlobex, map[string]any{"status": "reprocessing"})
	require.Equal(t, http.StatusNotFound, r.Status, "another workspace's message does not exist")

	healthy.Store(true)
	r = h.Do("PATCH", "/v1/messages/"+id, apptest.KeyAcme, map[string]any{"status": "reprocessing"})
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	require.Contains(t, []any{"reprocessing", "sent"}, r.JSON()["status"])
	e := h.WaitStatus(id, "sent", 10*time.Second)
	require.EqualValues(t, 2, e["attempts"], "new attempts are appended to the same message")
	require.EqualValues(t, 1, e["reprocess_count"])
	require.Equal(t, "reprocess", e["triggered_by"])
	require.Nil(t, e["error_code"])

	// A sent message can be reprocessed too; a reprocessing one cannot twice.
	r = h.Do("POST", "/v1/messages/"+id+"/reprocess", apptest.KeyAcme, nil)
	require.Equal(t, http.StatusAccepted, r.Status, string(r.Body))
	require.Equal(t, map[string]any{"messageId": id, "status": "reprocessing"}, r.JSON())
	e = h.WaitStatus(id, "sent", 10*time.Second)
	require.EqualValues(t, 2, e["reprocess_count"])
	require.Equal(t, 3, rc.Count("/orders/RP-1"))
	var atts struct{ Data []map[string]any }
	require.NoError(t, json.Unmarshal(h.Do("GET", "/v1/messages/"+id+"/attempts", apptest.KeyAcme, nil).Body, &atts))
	require.Len(t, atts.Data, 3)
	require.EqualValues(t, 404, atts.Data[0]["response_code"])
	require.EqualValues(t, 2, atts.Data[2]["reprocess_generation"])

	// Marking a pending message failed stops its retries.
	healthy.Store(false)
	rc.SetRespond(func(n int, r *http.Request, w http.ResponseWriter) { w.WriteHeader(http.StatusServiceUnavailable) })
	id2 := h.SendCallback("RP-2", map[string]any{"retries": 50})
	require.Eventually(t, func() bool { return rc.Count("/orders/RP-2") >= 1 }, 5*time.Second, 5*time.Millisecond)
	r = h.Do("PATCH", "/v1/messages/"+id2, apptest.KeyAcme, map[string]any{"status": "failed", "reason": "customer left"})
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	require.Equal(t, "CANCELLED", r.JSON()["error_code"])
	require.Contains(t, r.JSON()["error"], "customer left")
	n := rc.Count("/orders/RP-2")
	time.Sleep(400 * time.Millisecond)
	require.LessOrEqual(t, rc.Count("/orders/RP-2"), n+1, "at most the attempt already under way")
	require.Equal(t, "failed", h.Message(apptest.KeyAcme, id2)["status"])
	r = h.Do("POST", "/v1/messages/"+h.SendCallback("RP-3", nil)+"/reprocess", apptest.KeyAcme, nil)
	require.Equal(t, http.StatusConflict, r.Status, "a pending message is not reprocessed")
}

func TestBulkReprocess(t *testing.T) {
	rc := apptest.NewReceiver(t)
	var healthy atomic.Bool
	rc.SetRespond(func(n int, r *http.Request, w http.ResponseWriter) {
		if !healthy.Load() && strings.HasPrefix(r.URL.Path, "/orders/bulk") {
			w.WriteHeader(http.StatusNotFound)
		}
	})
	h := apptest.Start(t, apptest.Options{YAML: apptest.Config(rc.URL)})
	var failed, sent []string
	for i := range 12 {
		env := []string{"prd", "dev"}[i%2]
		failed = append(failed, h.SendCallback(fmt.Sprintf("bulk-%d", i), map[string]any{"env": env}))
	}
	for i := range 3 {
		sent = append(sent, h.SendCallback(fmt.Sprintf("fine-%d", i), nil))
	}
	for _, id := range failed {
		h.WaitStatus(id, "failed", 10*time.Second)
	}
	for _, id := range sent {
		h.WaitStatus(id, "sent", 10*time.Second)
	}
	r := h.Do("POST", "/v1/messages/reprocess", apptest.KeyAcme, map[string]any{"dry_run": true})
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	require.Equal(t, map[string]any{"matched": 12.0, "reprocessed": 0.0}, r.JSON())
	r = h.Do("POST", "/v1/messages/reprocess", apptest.KeyAcme, map[string]any{"dry_run": true, "env": "dev", "start_date": time.Now().Add(-time.Hour).UnixMilli()})
	require.Equal(t, 6.0, r.JSON()["matched"])
	for body, field := range map[string]string{
		`{"status":"sent"}`:          "status",
		`{"env":"no such env!"}`:     "env",
		`{"start_date":"yesterday"}`: "start_date",
		`{"dry_run":"yes"}`:          "dry_run",
		`{"limit":5}`:                "limit",
		`{"start_date":true}`:        "start_date",
	} {
		r := h.Do("POST", "/v1/messages/reprocess", apptest.KeyAcme, body)
		require.Equal(t, http.StatusBadRequest, r.Status, body)
		require.Equal(t, field, errorOf(t, r)["field"], body)
	}
	require.Equal(t, http.StatusForbidden, h.Do("POST", "/v1/messages/reprocess", apptest.KeyAcmeRead, `{}`).Status)

	healthy.Store(true)
	r = h.Do("POST", "/v1/messages/reprocess", apptest.KeyAcme, map[string]any{"env": "prd"})
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	require.Equal(t, map[string]any{"matched": 6.0, "reprocessed": 6.0}, r.JSON())
	for i, id := range failed {
		if i%2 == 0 {
			e := h.WaitStatus(id, "sent", 10*time.Second)
			require.Equal(t, "reprocess", e["triggered_by"])
		}
	}
	r = h.Do("POST", "/v1/messages/reprocess", apptest.KeyAcme, `{}`)
	require.Equal(t, map[string]any{"matched": 6.0, "reprocessed": 6.0}, r.JSON())
	for _, id := range failed {
		h.WaitStatus(id, "sent", 10*time.Second)
	}
	for _, id := range sent {
		require.EqualValues(t, 0, h.Message(apptest.KeyAcme, id)["reprocess_count"], "sent messages are not bulk reprocessed")
	}
}
