package app_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/internal/apptest"
)

// Services on NATS send with request/reply and get the HTTP answers; each
// ingest user may publish only as its own workspace.
func TestNATSIngest(t *testing.T) {
	rc := apptest.NewReceiver(t)
	yaml := strings.Replace(apptest.Config(rc.URL), `nats: { listen: "127.0.0.1:-1", ack_wait: 2s }`,
		`nats:
  listen: "127.0.0.1:-1"
  ack_wait: 2s
  ingest_users:
    - { user: acme-svc, password_env: ACME_NATS_PASSWORD, workspace: acme }
    - { user: globex-svc, password_env: GLOBEX_NATS_PASSWORD, workspace: globex }`, 1)
	h := apptest.Start(t, apptest.Options{YAML: yaml, Env: map[string]string{"ACME_NATS_PASSWORD": "acme-pw", "GLOBEX_NATS_PASSWORD": "globex-pw"}})

	_, err := nats.Connect(h.App.NATSURL())
	require.Error(t, err, "the embedded server requires a user once ingest users exist")
	_, err = nats.Connect(h.App.NATSURL(), nats.UserInfo("acme-svc", "wrong"))
	require.Error(t, err)
	errs := make(chan error, 10)
	nc, err := nats.Connect(h.App.NATSURL(), nats.UserInfo("acme-svc", "acme-pw"),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))
	require.NoError(t, err)
	defer nc.Close()

	request := func(subject, body string) (string, map[string]any) {
		msg, err := nc.Request(subject, []byte(body), 5*time.Second)
		require.NoError(t, err, subject)
		var out map[string]any
		require.NoError(t, json.Unmarshal(msg.Data, &out), string(msg.Data))
		return msg.Header.Get("Herald-Status"), out
	}
	status, out := request("herald.in.acme.send.callback",
		`{"product":"shop","env":"prd","notification":"orders:confirmation","input":{"params":{"id":"N-1"}}}`)
	require.Equal(t, "202", status, out)
	require.Equal(t, true, out["success"])
	id := out["messageId"].(string)
	e := h.WaitStatus(id, "sent", 10*time.Second)
	require.Equal(t, "nats", e["triggered_by"])

	status, out = request("herald.in.acme.send", `{"product":"shop","env":"prd","event":"orders","input":{"callback":{"params":{"id":"N-2"}}}}`)
	require.Equal(t, "202", status, out)
	require.Contains(t, out, "process_id")

	// The same validation as HTTP, with the same error shape.
	status, out = request("herald.in.acme.send.callback", `{"product":"shop","env":"prd","notification":"orders:confirmation","input":{"params":{}}}`)
	require.Equal(t, "400", status)
	require.Equal(t, "input.params.id", out["error"].(map[string]any)["field"])
	status, out = request("herald.in.acme.send.callback", `{not json`)
	require.Equal(t, "400", status)
	require.Equal(t, "invalid_argument", out["error"].(map[string]any)["code"])
	status, out = request("herald.in.acme.send.fax", `{"product":"shop","env":"prd","notification":"orders:confirmation","input":{}}`)
	require.Equal(t, "400", status)
	require.Equal(t, "channel", out["error"].(map[string]any)["field"])

	// A dispatch over NATS answers as POST /v1/notifications/dispatch.
	status, out = request("herald.in.acme.dispatch", `{"product":"shop","env":"prd","event":"orders",
		"input":{"callback":{"params":{"id":"N-job"}}},"schedule":{"every":3600000,"limit":2}}`)
	require.Equal(t, "201", status, out)
	require.Equal(t, "queued", out["status"])
	require.NotEmpty(t, out["next_run_at"])
	r0 := h.Do("GET", "/v1/jobs/"+out["job_id"].(string), apptest.KeyAcme, nil)
	require.Equal(t, 200, r0.Status, string(r0.Body))
	status, out = request("herald.in.acme.dispatch", `{"product":"shop","env":"prd","event":"orders","input":{"callback":{"params":{"id":"x"}}},"schedule":{"cron":"not cron"}}`)
	require.Equal(t, "400", status)
	require.Equal(t, "schedule.cron", out["error"].(map[string]any)["field"])

	// Publishing as another workspace is refused by NATS itself.
	_, err = nc.Request("herald.in.globex.send.callback", []byte(`{"product":"shop","env":"prd","notification":"orders:confirmation","input":{"params":{"id":"X"}}}`), time.Second)
	require.Error(t, err)
	select {
	case perr := <-errs:
		require.ErrorContains(t, perr, "Permissions Violation")
	case <-time.After(5 * time.Second):
		t.Fatal("no permissions violation reported")
	}
	r := h.Do("GET", "/v1/messages", apptest.KeyGlobex, nil)
	require.EqualValues(t, 0, r.JSON()["total"], "nothing was sent as globex")
	r = h.Do("GET", "/v1/messages?type=callback", apptest.KeyAcme, nil)
	require.EqualValues(t, 2, r.JSON()["total"])
}
