package app_test

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/internal/apptest"
)

// keysConfig is one workspace with the keys given as config lines.
func keysConfig(rcURL string, keys ...string) string {
	y := `
http_addr: "127.0.0.1:0"
log: { level: warn }
nats: { listen: "127.0.0.1:-1", ack_wait: 2s }
delivery: { retries: 1, backoff_initial: 20ms, backoff_max: 100ms, timeout: 1s, concurrency: 4 }
workspaces:
  - id: acme
    keys:
`
	for _, k := range keys {
		y += "      - " + k + "\n"
	}
	return y + fmt.Sprintf(`    products:
      - tag: shop
        envs: [prd]
        notifications:
          - tag: orders
            messages:
              - tag: confirmation
                callback: { url: "%s/orders/{id}" }
`, rcURL)
}

func keyLine(name, key, extra string) string {
	return fmt.Sprintf(`{ name: %s, sha256: %q, scopes: [notifications:send, notifications:read]%s }`, name, config.HashKey(key), extra)
}

// Several keys per workspace; SIGHUP's reload revokes a removed key and
// admits a new one at once, without a restart, while the others keep
// working; the log is the same whichever key reads it.
func TestKeyRotationAndRevocationOnReload(t *testing.T) {
	const old, kept, fresh = "hk_rotate_old_0000000000000000000000000000", "hk_rotate_kept_000000000000000000000000000", "hk_rotate_new_0000000000000000000000000000"
	rc := apptest.NewReceiver(t)
	h := apptest.Start(t, apptest.Options{YAML: keysConfig(rc.URL, keyLine("old", old, ""), keyLine("kept", kept, ""))})
	send := func(key string) *apptest.Response {
		return h.Do("POST", "/v1/notifications/callback/send", key, map[string]any{
			"product": "shop", "env": "prd", "notification": "orders:confirmation", "input": map[string]any{"params": map[string]any{"id": "1"}}})
	}
	require.Equal(t, http.StatusAccepted, send(old).Status)
	require.Equal(t, http.StatusAccepted, send(kept).Status)
	require.Equal(t, http.StatusUnauthorized, send(fresh).Status)

	env := apptest.Env(map[string]string{config.EnvRedisURL: h.Redis.URL, config.EnvDataDir: t.TempDir()})
	require.NoError(t, h.App.ReloadFile(writeConfig(t, keysConfig(rc.URL, keyLine("kept", kept, ""), keyLine("new", fresh, ""))), env))

	r := send(old)
	require.Equal(t, http.StatusUnauthorized, r.Status, "a removed key stops working with the reload")
	require.Equal(t, "unauthenticated", errorOf(t, r)["code"])
	require.Equal(t, http.StatusUnauthorized, h.Do("GET", "/v1/messages", old, nil).Status)
	require.Equal(t, http.StatusAccepted, send(fresh).Status, "a new key works at once")
	require.Equal(t, http.StatusAccepted, send(kept).Status)
	list := h.Do("GET", "/v1/messages", fresh, nil)
	require.Equal(t, http.StatusOK, list.Status)
	require.EqualValues(t, 4, list.JSON()["total"], "the new key reads what the old one sent: the log belongs to the workspace")

	// A file that gives one key to two workspaces is refused.
	dup := keysConfig(rc.URL, keyLine("kept", kept, "")) + "  - id: other\n    keys:\n      - " + keyLine("copy", kept, "") + "\n"
	err := h.App.ReloadFile(writeConfig(t, dup), env)
	require.ErrorContains(t, err, "workspaces[1].keys[0].sha256: the same key is already configured at workspaces[0].keys[0]")
	require.Equal(t, http.StatusAccepted, send(fresh).Status, "the running config stays")
}

// A key's rate_limit answers 429 rate_limited with Retry-After once its
// bucket is empty; other keys are not affected; a reload that changes the
// limit applies at once, and authentication comes first (a bad key is a
// 401, never a 429).
func TestPerKeyRateLimit(t *testing.T) {
	const limited, free = "hk_limited_00000000000000000000000000000000", "hk_unlimited_000000000000000000000000000000"
	rc := apptest.NewReceiver(t)
	// One request per 100 s on average, bursts of 3: the fourth request in
	// a row is over the limit however slow the machine is.
	h := apptest.Start(t, apptest.Options{YAML: keysConfig(rc.URL,
		keyLine("limited", limited, ", rate_limit: { per_second: 0.01, burst: 3 }"), keyLine("free", free, ""))})
	for i := range 3 {
		require.Equal(t, http.StatusOK, h.Do("GET", "/v1/messages", limited, nil).Status, "request %d is inside the burst", i+1)
	}
	r := h.Do("GET", "/v1/messages", limited, nil)
	require.Equal(t, http.StatusTooManyRequests, r.Status, string(r.Body))
	e := errorOf(t, r)
	require.Equal(t, "rate_limited", e["code"])
	require.Contains(t, e["message"], `"limited"`)
	secs, err := strconv.Atoi(r.Header.Get("Retry-After"))
	require.NoError(t, err, "Retry-After is whole seconds")
	require.Greater(t, secs, 0)
	require.LessOrEqual(t, secs, 100)
	// Sends are limited too (every authenticated route counts).
	s := h.Do("POST", "/v1/notifications/callback/send", limited, map[string]any{
		"product": "shop", "env": "prd", "notification": "orders:confirmation", "input": map[string]any{"params": map[string]any{"id": "1"}}})
	require.Equal(t, http.StatusTooManyRequests, s.Status)
	r = h.Do("GET", "/v1/send-logs/x", limited, nil)
	require.Equal(t, http.StatusTooManyRequests, r.Status)
	require.NotEmpty(t, r.Header.Get("Retry-After"))
	require.Equal(t, false, r.JSON()["ok"], "send-logs keep their envelope")

	for range 10 {
		require.Equal(t, http.StatusOK, h.Do("GET", "/v1/messages", free, nil).Status, "another key is not limited")
	}
	require.Equal(t, http.StatusUnauthorized, h.Do("GET", "/v1/messages", "hk_not_a_key", nil).Status)

	// Raising the limit by reload applies to the next request.
	env := apptest.Env(map[string]string{config.EnvRedisURL: h.Redis.URL, config.EnvDataDir: t.TempDir()})
	require.NoError(t, h.App.ReloadFile(writeConfig(t, keysConfig(rc.URL,
		keyLine("limited", limited, ", rate_limit: { per_second: 0.01, burst: 5 }"), keyLine("free", free, ""))), env))
	require.Equal(t, http.StatusOK, h.Do("GET", "/v1/messages", limited, nil).Status)
	// Removing it lifts the limit.
	require.NoError(t, h.App.ReloadFile(writeConfig(t, keysConfig(rc.URL, keyLine("limited", limited, ""), keyLine("free", free, ""))), env))
	for range 10 {
		require.Equal(t, http.StatusOK, h.Do("GET", "/v1/messages", limited, nil).Status)
	}

	// A bad limit is a config problem with its path.
	err = h.App.ReloadFile(writeConfig(t, keysConfig(rc.URL, keyLine("limited", limited, ", rate_limit: { per_second: 0 }"))), env)
	require.ErrorContains(t, err, "workspaces[0].keys[0].rate_limit.per_second: must be positive")
}
