package app_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/internal/app"
	"github.com/heraldhq/herald/internal/apptest"
)

// A worker (any role without the API) serves /healthz, /readyz and
// /metrics on http_addr, and nothing else; pprof, when pprof_addr is set,
// is on its own listener and never on the API's.
func TestOpsEndpointsAndPprof(t *testing.T) {
	rc := apptest.NewReceiver(t)
	yaml := apptest.Config(rc.URL) + "pprof_addr: \"127.0.0.1:0\"\n"
	prod := apptest.Start(t, apptest.Options{YAML: yaml, Role: app.RoleProducer})
	w := apptest.Start(t, apptest.Options{YAML: apptest.Config(rc.URL), Role: app.RoleWorker, Redis: prod.Redis,
		Env: map[string]string{"HERALD_NATS_URL": prod.App.NATSURL()}, AppOpts: func(o *app.Options) { o.Embedded = false }})
	require.NotEmpty(t, w.URL, "the worker listens")
	require.Equal(t, http.StatusOK, w.Do("GET", "/healthz", "", nil).Status)
	require.Equal(t, http.StatusOK, w.Do("GET", "/readyz", "", nil).Status)
	prod.WaitStatus(prod.SendCallback("OPS-1", nil), "sent", 10*time.Second)
	// The entry says sent a moment before the worker counts it.
	require.Eventually(t, func() bool {
		m := w.Do("GET", "/metrics", "", nil)
		return m.Status == http.StatusOK && strings.Contains(string(m.Body), `herald_worker_delivered_total{channel="callback",status="sent"} 1`)
	}, 5*time.Second, 10*time.Millisecond)
	r := w.Do("GET", "/v1/messages", apptest.KeyAcme, nil)
	require.Equal(t, http.StatusNotFound, r.Status, "no API on a worker")
	r = w.Do("POST", "/v1/notifications/callback/send", apptest.KeyAcme, `{}`)
	require.Equal(t, http.StatusNotFound, r.Status)

	require.Empty(t, w.App.PprofAddr(), "off by default")
	addr := prod.App.PprofAddr()
	require.NotEmpty(t, addr)
	resp, err := http.Get("http://" + addr + "/debug/pprof/")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	resp, err = http.Get("http://" + addr + "/debug/pprof/heap")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	r = prod.Do("GET", "/debug/pprof/", "", nil)
	require.Equal(t, http.StatusNotFound, r.Status, "never on the API address")
	require.False(t, strings.Contains(string(r.Body), "goroutine"))
}

// metrics_addr moves /metrics to a listener of its own (the API's port no
// longer has it); metrics_workspace_labels adds the per-workspace breaker
// gauge, off by default.
func TestMetricsAddrAndWorkspaceLabels(t *testing.T) {
	rc := apptest.NewReceiver(t)
	rc.SetRespond(func(n int, r *http.Request, w http.ResponseWriter) { w.WriteHeader(http.StatusServiceUnavailable) })
	yaml := strings.Replace(apptest.Config(rc.URL), "breaker: { failures: 50, open_for: 300ms }", "breaker: { failures: 2, open_for: 1m }", 1) +
		"metrics_addr: \"127.0.0.1:0\"\nmetrics_workspace_labels: true\n"
	h := apptest.Start(t, apptest.Options{YAML: yaml})
	require.Equal(t, http.StatusNotFound, h.Do("GET", "/metrics", "", nil).Status, "not on http_addr")
	addr := h.App.MetricsAddr()
	require.NotEmpty(t, addr)
	get := func() string {
		resp, err := http.Get("http://" + addr + "/metrics")
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return string(b)
	}
	h.SendCallback("M-1", map[string]any{"retries": 5})
	want := `herald_worker_breaker_state{channel="callback",endpoint="` + rc.URL + `",workspace="acme"} 2`
	require.Eventually(t, func() bool { return strings.Contains(get(), want) }, 10*time.Second, 20*time.Millisecond)
	require.Contains(t, get(), `herald_worker_breakers{channel="callback",state="open"} 1`)
	resp, err := http.Get("http://" + addr + "/v1/messages")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode, "the metrics listener serves nothing else")
}
