package app_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/internal/apptest"
)

func TestHappyPath(t *testing.T) {
	rc := apptest.NewReceiver(t)
	h := apptest.Start(t, apptest.Options{YAML: apptest.Config(rc.URL)})

	r := h.Do("POST", "/v1/notifications/callback/send", apptest.KeyAcme, map[string]any{
		"product": "shop", "env": "prd", "notification": "orders:confirmation",
		"input": map[string]any{
			"params":  map[string]any{"id": "A-17"},
			"query":   map[string]any{"lang": "en", "n": 3},
			"headers": map[string]any{"X-Trace": "t-1"},
			"body":    map[string]any{"order": "A-17", "total": 12.5},
		},
		"session": "user-session:eyJhbGciOiJIUzI1NiJ9.e30.secret-token-part",
		"cache":   "order-A-17",
	})
	require.Equal(t, http.StatusAccepted, r.Status, string(r.Body))
	body := r.JSON()
	require.Equal(t, true, body["success"])
	require.Equal(t, "callback", body["channel"])
	require.Equal(t, "pending", body["status"])
	id := body["messageId"].(string)
	require.Len(t, id, 26)
	require.NotEmpty(t, r.Header.Get("X-Request-Id"))

	e := h.WaitStatus(id, "sent", 10*time.Second)
	require.Equal(t, "acme", e["workspace_id"])
	require.Equal(t, "prod_shop", e["product_id"])
	require.Equal(t, "shop", e["product_tag"])
	require.Equal(t, "prd", e["env"])
	require.Equal(t, "orders", e["notification_tag"])
	require.Equal(t, "callback", e["type"])
	require.Equal(t, "api", e["triggered_by"])
	require.Equal(t, "user-session", e["session"], "only the session tag is stored")
	require.NotContains(t, string(h.Do("GET", "/v1/messages/"+id, apptest.KeyAcme, nil).Body), "secret-token-part")
	require.Equal(t, "order-A-17", e["cache"])
	require.EqualValues(t, 1, e["attempts"])
	require.EqualValues(t, 3, e["retries"])
	require.Nil(t, e["error"])
	input, _ := json.Marshal(e["input"])
	require.JSONEq(t, `{"params":{"id":"A-17"},"query":{"lang":"en","n":3},"headers":{"X-Trace":"t-1"},"body":{"order":"A-17","total":12.5}}`, string(input))

	reqs := rc.Requests()
	require.Len(t, reqs, 1)
	got := reqs[0]
	require.Equal(t, "POST", got.Method)
	require.Equal(t, "/orders/A-17", got.Path)
	require.Contains(t, got.Query, "lang=en")
	require.Contains(t, got.Query, "n=3")
	require.Equal(t, "t-1", got.Header.Get("X-Trace"))
	require.Equal(t, "herald-test", got.Header.Get("X-Source"))
	require.Equal(t, "application/json", got.Header.Get("Content-Type"))
	require.JSONEq(t, `{"order":"A-17","total":12.5}`, string(got.Body))

	// The same cache tag answers 200 with the first message; nothing is sent again.
	r = h.Do("POST", "/v1/notifications/callback/send", apptest.KeyAcme, map[string]any{
		"product": "shop", "env": "prd", "notification": "orders:confirmation",
		"input": map[string]any{"params": map[string]any{"id": "A-17"}}, "cache": "order-A-17",
	})
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	require.Equal(t, id, r.JSON()["messageId"])
	require.Equal(t, true, r.JSON()["deduplicated"])
	require.Equal(t, "sent", r.JSON()["status"])

	// Attempts, in the shape of API.md.
	r = h.Do("GET", "/v1/messages/"+id+"/attempts", apptest.KeyAcme, nil)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	var atts struct {
		Data []map[string]any `json:"data"`
		Meta struct {
			RequestID  string `json:"request_id"`
			Pagination struct {
				PerPage        int     `json:"per_page"`
				Next           *string `json:"next"`
				HasMore        bool    `json:"has_more"`
				EstimatedTotal int     `json:"estimated_total"`
			} `json:"pagination"`
		} `json:"meta"`
	}
	require.NoError(t, json.Unmarshal(r.Body, &atts))
	require.Len(t, atts.Data, 1)
	require.EqualValues(t, 200, atts.Data[0]["response_code"])
	require.Equal(t, "application/json", atts.Data[0]["response_content_type"])
	require.Equal(t, `{"ok":true}`, atts.Data[0]["response_body"])
	require.True(t, strings.HasPrefix(atts.Data[0]["id"].(string), "att_"))
	require.Contains(t, atts.Data[0], "duration_ms")
	require.Contains(t, atts.Data[0], "attempted_at")
	require.NotEmpty(t, atts.Meta.RequestID)
	require.Equal(t, 50, atts.Meta.Pagination.PerPage)
	require.False(t, atts.Meta.Pagination.HasMore)
	require.NotNil(t, atts.Meta.Pagination.Next, "always returned, as Paddle does")
	require.Equal(t, h.URL+"/v1/messages/"+id+"/attempts?after="+atts.Data[0]["id"].(string), *atts.Meta.Pagination.Next)
	require.Equal(t, 1, atts.Meta.Pagination.EstimatedTotal)
}

func TestSignedCallback(t *testing.T) {
	rc := apptest.NewReceiver(t)
	h := apptest.Start(t, apptest.Options{YAML: apptest.Config(rc.URL)})
	id := func() string {
		r := h.Do("POST", "/v1/notifications/callback/send", apptest.KeyAcme, map[string]any{
			"product": "shop", "env": "prd", "notification": "orders:signed", "input": map[string]any{"body": map[string]any{"x": 1}},
		})
		require.Equal(t, http.StatusAccepted, r.Status, string(r.Body))
		return r.JSON()["messageId"].(string)
	}()
	h.WaitStatus(id, "sent", 10*time.Second)
	got := rc.Requests()[0]
	// Verify as a Standard Webhooks receiver would.
	key, err := base64.StdEncoding.DecodeString("dGVzdC1zZWNyZXQtZm9yLWhlcmFsZA==")
	require.NoError(t, err)
	require.Equal(t, id, got.Header.Get("webhook-id"))
	ts := got.Header.Get("webhook-timestamp")
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%s.%s", id, ts, got.Body)
	require.Equal(t, "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)), got.Header.Get("webhook-signature"))
}

func TestRetriesThenSuccess(t *testing.T) {
	rc := apptest.NewReceiver(t)
	rc.SetRespond(func(n int, r *http.Request, w http.ResponseWriter) {
		if n <= 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, "busy")
			return
		}
		_, _ = io.WriteString(w, "ok")
	})
	h := apptest.Start(t, apptest.Options{YAML: apptest.Config(rc.URL)})
	id := h.SendCallback("R-1", nil)
	e := h.WaitStatus(id, "sent", 10*time.Second)
	require.EqualValues(t, 3, e["attempts"])
	require.Nil(t, e["error_code"], "a sent message carries no error")
	require.Equal(t, 3, rc.Count("/orders/R-1"))

	var atts struct{ Data []map[string]any }
	require.NoError(t, json.Unmarshal(h.Do("GET", "/v1/messages/"+id+"/attempts", apptest.KeyAcme, nil).Body, &atts))
	codes := []any{}
	for _, a := range atts.Data {
		codes = append(codes, a["response_code"])
	}
	require.Equal(t, []any{503.0, 503.0, 200.0}, codes)
	require.Equal(t, "busy", atts.Data[0]["response_body"])
	require.Equal(t, "retry", atts.Data[0]["outcome"])
	require.Equal(t, "DELIVERY_ERROR", atts.Data[0]["error_code"])
	// Backoff: the second retry waited at least the first delay (20ms * 2^1 * 0.8).
	reqs := rc.Requests()
	require.GreaterOrEqual(t, reqs[2].At.Sub(reqs[1].At), 30*time.Millisecond)
}

func TestRetriesExhaustedThenFailed(t *testing.T) {
	rc := apptest.NewReceiver(t)
	rc.SetRespond(func(n int, r *http.Request, w http.ResponseWriter) { w.WriteHeader(http.StatusInternalServerError) })
	h := apptest.Start(t, apptest.Options{YAML: apptest.Config(rc.URL)})
	id := h.SendCallback("F-1", map[string]any{"retries": 2})
	e := h.WaitStatus(id, "failed", 10*time.Second)
	require.EqualValues(t, 3, e["attempts"], "1 attempt + 2 retries, each recorded")
	require.Equal(t, "DELIVERY_ERROR", e["error_code"])
	require.Contains(t, e["error"], "500")
	require.Nil(t, e["next_attempt_at"], "no next attempt is promised for a failed message")
	// Nothing more is tried once failed.
	time.Sleep(300 * time.Millisecond)
	require.Equal(t, 3, rc.Count("/orders/F-1"))
}

func TestPermanentFailure(t *testing.T) {
	for _, tc := range []struct {
		status   int
		code     string
		attempts int
	}{
		{http.StatusNotFound, "DELIVERY_ERROR", 1},
		{http.StatusBadRequest, "DELIVERY_ERROR", 1},
		{http.StatusUnauthorized, "SECRET_EXPIRED", 1},
		{http.StatusGone, "INVALID_RECIPIENT", 1},
		{http.StatusTooManyRequests, "DELIVERY_ERROR", 4}, // retried: not permanent
		{http.StatusRequestTimeout, "DELIVERY_ERROR", 4},  // retried: not permanent
	} {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			rc := apptest.NewReceiver(t)
			rc.SetRespond(func(n int, r *http.Request, w http.ResponseWriter) { w.WriteHeader(tc.status) })
			h := apptest.Start(t, apptest.Options{YAML: apptest.Config(rc.URL)})
			id := h.SendCallback("P-1", nil)
			e := h.WaitStatus(id, "failed", 10*time.Second)
			require.Equal(t, tc.code, e["error_code"])
			require.EqualValues(t, tc.attempts, e["attempts"])
			require.Equal(t, tc.attempts, rc.Count("/orders/P-1"))
		})
	}
}

func TestBreakerOpensAndCloses(t *testing.T) {
	rc := apptest.NewReceiver(t)
	var healthy atomic.Bool
	rc.SetRespond(func(n int, r *http.Request, w http.ResponseWriter) {
		if !healthy.Load() {
			w.WriteHeader(http.StatusBadGateway)
		}
	})
	yaml := strings.Replace(apptest.Config(rc.URL), "breaker: { failures: 50, open_for: 300ms }", "breaker: { failures: 3, open_for: 400ms }", 1)
	h := apptest.Start(t, apptest.Options{YAML: yaml})
	var ids []string
	for i := range 6 {
		ids = append(ids, h.SendCallback(fmt.Sprintf("B-%d", i), map[string]any{"retries": 50}))
	}
	// The breaker opens after 3 failures: later deliveries are held back
	// without an attempt and marked CIRCUIT_OPEN.
	require.Eventually(t, func() bool {
		return strings.Contains(metrics(t, h), `herald_worker_breakers{channel="callback",state="open"} 1`)
	}, 10*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool {
		for _, id := range ids {
			if e := h.Message(apptest.KeyAcme, id); e["error_code"] == "CIRCUIT_OPEN" {
				return true
			}
		}
		return false
	}, 10*time.Second, 10*time.Millisecond)
	// While open, the receiver is left alone: no retry storm.
	before := len(rc.Requests())
	time.Sleep(150 * time.Millisecond)
	require.LessOrEqual(t, len(rc.Requests())-before, 1)

	healthy.Store(true)
	for _, id := range ids {
		e := h.WaitStatus(id, "sent", 20*time.Second)
		require.Nil(t, e["error_code"])
	}
	m := metrics(t, h)
	require.Contains(t, m, `herald_worker_breakers{channel="callback",state="closed"} 1`)
	require.Contains(t, m, `herald_worker_breakers{channel="callback",state="open"} 0`)
	// No label carries a value a workspace's configuration chose.
	require.NotContains(t, m, "herald_worker_breaker_state")
	require.NotContains(t, m, `"acme"`)
	require.NotContains(t, m, strings.TrimPrefix(rc.URL, "http://"))
	require.Contains(t, m, `herald_worker_breaker_transitions_total{channel="callback",to="open"}`)
	require.Contains(t, m, `herald_worker_attempts_total{channel="callback",outcome="circuit_open",provider="webhook"}`)
}

func metrics(t *testing.T, h *apptest.Herald) string {
	t.Helper()
	r := h.Do("GET", "/metrics", "", nil)
	require.Equal(t, http.StatusOK, r.Status)
	return string(r.Body)
}

func TestSSRFGuard(t *testing.T) {
	rc := apptest.NewReceiver(t)
	h := apptest.Start(t, apptest.Options{YAML: apptest.Config(rc.URL), Env: map[string]string{"HERALD_ALLOW_PRIVATE_NETWORKS": "false"}})
	id := h.SendCallback("S-1", nil)
	e := h.WaitStatus(id, "failed", 10*time.Second)
	require.Equal(t, "DELIVERY_ERROR", e["error_code"])
	require.Contains(t, e["error"], "loopback")
	require.EqualValues(t, 1, e["attempts"], "a refused destination is permanent")
	require.Zero(t, len(rc.Requests()))
}

func TestMetricsExposed(t *testing.T) {
	rc := apptest.NewReceiver(t)
	h := apptest.Start(t, apptest.Options{YAML: apptest.Config(rc.URL)})
	h.WaitStatus(h.SendCallback("M-1", nil), "sent", 10*time.Second)
	require.Eventually(t, func() bool {
		// The lag is sampled every LagInterval: wait for a sample taken
		// after the message left the queue.
		return strings.Contains(metrics(t, h), `herald_worker_queue_pending_messages{channel="callback"} 0`)
	}, 5*time.Second, 20*time.Millisecond)
	m := metrics(t, h)
	for _, want := range []string{
		`herald_producer_accepted_total{channel="callback",via="api"} 1`,
		`herald_worker_delivered_total{channel="callback",status="sent"} 1`,
		`herald_worker_attempt_duration_seconds_count{channel="callback",provider="webhook"} 1`,
		`herald_worker_breakers{channel="callback",state="closed"} 1`,
		`herald_worker_queue_pending_messages{channel="callback"} 0`,
		`herald_worker_queue_ack_pending_messages{channel="callback"}`,
		`herald_api_requests_total{code="202",route="/v1/notifications/{channel}/send"} 1`,
	} {
		require.Contains(t, m, want)
	}
	require.Equal(t, http.StatusOK, h.Do("GET", "/healthz", "", nil).Status)
	r := h.Do("GET", "/readyz", "", nil)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	require.Equal(t, map[string]any{"nats": "ok", "redis": "ok"}, r.JSON()["checks"])
}
