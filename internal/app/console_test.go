package app_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/internal/app"
	"github.com/heraldhq/herald/internal/apptest"
)

// GET /v1/me answers every valid key with its workspace, name and scopes,
// whatever the scopes.
func TestMe(t *testing.T) {
	rc := apptest.NewReceiver(t)
	h := apptest.Start(t, apptest.Options{YAML: apptest.Config(rc.URL)})
	for _, tc := range []struct {
		key, ws, name string
		scopes        []any
	}{
		{apptest.KeyAcme, "acme", "all", []any{"notifications:send", "notifications:read", "notifications:reprocess", "jobs:write", "jobs:read"}},
		{apptest.KeyAcmeRead, "acme", "reader", []any{"notifications:read"}},
		{apptest.KeyGlobex, "globex", "all", []any{"notifications:send", "notifications:read", "notifications:reprocess", "jobs:read", "jobs:write"}},
	} {
		r := h.Do("GET", "/v1/me", tc.key, nil)
		require.Equal(t, http.StatusOK, r.Status, string(r.Body))
		require.Equal(t, map[string]any{"workspace": tc.ws, "key_name": tc.name, "scopes": tc.scopes}, r.JSON())
	}
	r := h.Do("GET", "/v1/me", "hk_nope", nil)
	require.Equal(t, http.StatusUnauthorized, r.Status)
	require.Equal(t, "unauthenticated", r.JSON()["error"].(map[string]any)["code"])
	r = h.Do("GET", "/v1/me", "", nil)
	require.Equal(t, http.StatusUnauthorized, r.Status)
}

// GET /v1/overview shows a workspace its own breakers only, and its queue
// lag from its own pending messages.
func TestOverviewIsolation(t *testing.T) {
	rc := apptest.NewReceiver(t)
	rc.SetRespond(func(n int, r *http.Request, w http.ResponseWriter) {
		if strings.HasPrefix(r.URL.Path, "/orders/down") {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	yaml := strings.Replace(apptest.Config(rc.URL), "breaker: { failures: 50, open_for: 300ms }", "breaker: { failures: 2, open_for: 10m }", 1)
	require.Contains(t, yaml, "failures: 2")
	h := apptest.Start(t, apptest.Options{YAML: yaml})

	overview := func(key string) map[string]any {
		t.Helper()
		r := h.Do("GET", "/v1/overview", key, nil)
		require.Equal(t, http.StatusOK, r.Status, string(r.Body))
		return r.JSON()
	}
	empty := overview(apptest.KeyGlobex)
	require.Equal(t, "globex", empty["workspace"])
	require.Equal(t, true, empty["breakers_reported"])
	require.Empty(t, empty["breakers"])
	queues := empty["queues"].([]any)
	require.Len(t, queues, 4)
	for _, q := range queues {
		require.Equal(t, float64(0), q.(map[string]any)["pending"])
		require.Nil(t, q.(map[string]any)["oldest_pending_at"])
	}

	// Two retryable failures open acme's breaker for the receiver.
	h.SendCallback("down-1", nil)
	h.SendCallback("down-2", nil)
	breakerOf := func(key string) []any {
		b, _ := overview(key)["breakers"].([]any)
		return b
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		b := breakerOf(apptest.KeyAcme)
		if len(b) == 1 && b[0].(map[string]any)["state"] == "open" {
			require.Equal(t, "callback", b[0].(map[string]any)["channel"])
			require.Equal(t, rc.URL, b[0].(map[string]any)["endpoint"])
			break
		}
		require.True(t, time.Now().Before(deadline), "acme's breaker never opened: %v", b)
		time.Sleep(20 * time.Millisecond)
	}
	// globex delivers to the same host: its own breaker is closed, and it
	// never sees acme's.
	r := h.Do("POST", "/v1/notifications/callback/send", apptest.KeyGlobex, map[string]any{
		"product": "shop", "env": "prd", "notification": "orders:confirmation", "input": map[string]any{"params": map[string]any{"id": "g1"}}})
	require.Equal(t, http.StatusAccepted, r.Status, string(r.Body))
	deadline = time.Now().Add(15 * time.Second)
	for {
		b := breakerOf(apptest.KeyGlobex)
		if len(b) > 0 {
			require.Equal(t, []any{map[string]any{"channel": "callback", "endpoint": rc.URL, "state": "closed"}}, b)
			break
		}
		require.True(t, time.Now().Before(deadline), "globex's breaker never appeared")
		time.Sleep(20 * time.Millisecond)
	}

	// While the breaker is open, acme's next message waits: pending, and
	// the lag is its age.
	h.SendCallback("held", nil)
	deadline = time.Now().Add(15 * time.Second)
	for {
		var cb map[string]any
		for _, q := range overview(apptest.KeyAcme)["queues"].([]any) {
			if q.(map[string]any)["channel"] == "callback" {
				cb = q.(map[string]any)
			}
		}
		if cb["pending"].(float64) >= 1 && cb["oldest_pending_at"] != nil {
			require.GreaterOrEqual(t, cb["lag_seconds"].(float64), 0.0)
			break
		}
		require.True(t, time.Now().Before(deadline), "no pending message reported: %v", cb)
		time.Sleep(20 * time.Millisecond)
	}

	// Scopes and bad input.
	r = h.Do("GET", "/v1/overview?channel=email", apptest.KeyAcme, nil)
	require.Equal(t, http.StatusBadRequest, r.Status)
	require.Equal(t, "channel", r.JSON()["error"].(map[string]any)["field"])
	r = h.Do("GET", "/v1/overview", "", nil)
	require.Equal(t, http.StatusUnauthorized, r.Status)
}

// A process without a worker says it knows no breaker.
func TestOverviewProducerRole(t *testing.T) {
	rc := apptest.NewReceiver(t)
	h := apptest.Start(t, apptest.Options{YAML: apptest.Config(rc.URL), Role: app.RoleProducer})
	r := h.Do("GET", "/v1/overview", apptest.KeyAcmeRead, nil)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	require.Equal(t, false, r.JSON()["breakers_reported"])
	require.Empty(t, r.JSON()["breakers"])
	// The console is served wherever the API is.
	r = h.Do("GET", "/console/", "", nil)
	require.Equal(t, http.StatusOK, r.Status)
}

// The console is static files with strict headers; the API's routes and
// errors are unchanged around it.
func TestConsoleServed(t *testing.T) {
	rc := apptest.NewReceiver(t)
	h := apptest.Start(t, apptest.Options{YAML: apptest.Config(rc.URL)})
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(method, path string) *http.Response {
		req, err := http.NewRequest(method, h.URL+path, nil)
		require.NoError(t, err)
		resp, err := client.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp
	}
	resp := get("GET", "/console")
	require.Equal(t, http.StatusMovedPermanently, resp.StatusCode)
	require.Equal(t, "/console/", resp.Header.Get("Location"))
	for path, ctype := range map[string]string{
		"/console/":               "text/html; charset=utf-8",
		"/console/index.html":     "text/html; charset=utf-8",
		"/console/console.css":    "text/css; charset=utf-8",
		"/console/js/app.js":      "text/javascript; charset=utf-8",
		"/console/js/detail.js":   "text/javascript; charset=utf-8",
		"/console/favicon.svg":    "image/svg+xml",
		"/console/js/explorer.js": "text/javascript; charset=utf-8",
	} {
		resp := get("GET", path)
		require.Equal(t, http.StatusOK, resp.StatusCode, path)
		require.Equal(t, ctype, resp.Header.Get("Content-Type"), path)
		csp := resp.Header.Get("Content-Security-Policy")
		require.Contains(t, csp, "script-src 'self'", path)
		require.Contains(t, csp, "frame-ancestors 'none'", path)
		require.NotContains(t, csp, "unsafe-inline", path)
		require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"), path)
		require.Equal(t, "no-referrer", resp.Header.Get("Referrer-Policy"), path)
		require.NotEmpty(t, resp.Header.Get("ETag"), path)
	}
	require.Equal(t, http.StatusNotFound, get("GET", "/console/nope.js").StatusCode)
	require.NotEqual(t, http.StatusOK, get("GET", "/console/../go.mod").StatusCode) // the mux cleans it to /go.mod
	resp = get("POST", "/console/")
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	require.Equal(t, "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
		resp.Header.Get("Content-Security-Policy"))
	// Routes outside the console still answer the API's error shape.
	r := h.Do("GET", "/consolex", "", nil)
	require.Equal(t, http.StatusNotFound, r.Status)
	require.Equal(t, "not_found", r.JSON()["error"].(map[string]any)["code"])
}
