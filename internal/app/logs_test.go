package app_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/heraldhq/herald/internal/app"
	"github.com/heraldhq/herald/internal/apptest"
)

// fieldsOf returns the string fields of a log entry.
func fieldsOf(e observer.LoggedEntry) map[string]any {
	return e.ContextMap()
}

// One request's log lines share its request id from the API to the
// worker: the access log line of a send names the message id it made (a
// multi-channel send its process id and message ids), and the worker's
// lines for that message carry the request id with the message id.
func TestLogsCarryRequestAndMessageIDs(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	rc := apptest.NewReceiver(t)
	rc.SetRespond(func(n int, r *http.Request, w http.ResponseWriter) {
		if strings.HasPrefix(r.URL.Path, "/orders/LOG-F") {
			w.WriteHeader(http.StatusNotFound)
		}
	})
	h := apptest.Start(t, apptest.Options{YAML: apptest.Config(rc.URL), AppOpts: func(o *app.Options) { o.Logger = zap.New(core) }})

	send := func(reqID, orderID string) string {
		req, err := http.NewRequest("POST", h.URL+"/v1/notifications/callback/send", strings.NewReader(
			`{"product":"shop","env":"prd","notification":"orders:confirmation","input":{"params":{"id":"`+orderID+`"}}}`))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+apptest.KeyAcme)
		req.Header.Set("X-Request-Id", reqID)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusAccepted, resp.StatusCode)
		require.Equal(t, reqID, resp.Header.Get("X-Request-Id"))
		return (&apptest.Response{Body: readAll(t, resp)}).JSON()["messageId"].(string)
	}
	ok := send("req-ok-000001", "LOG-1")
	bad := send("req-fail-00001", "LOG-F")
	h.WaitStatus(ok, "sent", 10*time.Second)
	h.WaitStatus(bad, "failed", 10*time.Second)

	find := func(msg string, match map[string]any) bool {
		for _, e := range logs.FilterMessage(msg).All() {
			f := fieldsOf(e)
			all := true
			for k, v := range match {
				if f[k] != v {
					all = false
				}
			}
			if all {
				return true
			}
		}
		return false
	}
	require.True(t, find("request", map[string]any{"request_id": "req-ok-000001", "message_id": ok, "workspace": "acme", "key": "all"}),
		"the send's access log line names its message")
	require.Eventually(t, func() bool {
		return find("delivered", map[string]any{"request_id": "req-ok-000001", "message_id": ok, "channel": "callback"})
	}, 5*time.Second, 10*time.Millisecond, "the worker's line carries the request id")
	require.True(t, find("delivery failed", map[string]any{"request_id": "req-fail-00001", "message_id": bad, "error_code": "DELIVERY_ERROR"}))

	// Reads name the message they are about.
	req, _ := http.NewRequest("GET", h.URL+"/v1/messages/"+ok+"/attempts", nil)
	req.Header.Set("Authorization", "Bearer "+apptest.KeyAcme)
	req.Header.Set("X-Request-Id", "req-read-00001")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.True(t, find("request", map[string]any{"request_id": "req-read-00001", "message_id": ok}))

	// A multi-channel send's line: its process id and each message.
	r := h.Do("POST", "/v1/notifications/send", apptest.KeyAcme, map[string]any{
		"product": "shop", "env": "prd", "event": "orders",
		"input": map[string]any{"callback": map[string]any{"params": map[string]any{"id": "LOG-M"}}}})
	require.Equal(t, http.StatusAccepted, r.Status)
	pid := r.JSON()["process_id"].(string)
	mid := r.JSON()["channels"].(map[string]any)["callback"].(map[string]any)["messageId"].(string)
	var line map[string]any
	for _, e := range logs.FilterMessage("request").All() {
		if f := fieldsOf(e); f["process_id"] == pid {
			line = f
		}
	}
	require.NotNil(t, line)
	require.Equal(t, []any{"callback:" + mid}, line["message_ids"])
	require.Equal(t, r.Header.Get("X-Request-Id"), line["request_id"])
}

func readAll(t *testing.T, r *http.Response) []byte {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	require.NoError(t, err)
	return b
}
