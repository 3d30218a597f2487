package callback

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/internal/netguard"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/heraldhq/herald/worker/channel"
)

// newServer starts a loopback HTTP server for the test.
func newServer(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// exactly returns a guard that allows only the server's own address, so
// every other loopback, private or metadata address stays refused.
func exactly(t *testing.T, srv *httptest.Server) *netguard.Guard {
	t.Helper()
	ap, err := netip.ParseAddrPort(srv.Listener.Addr().String())
	require.NoError(t, err)
	return &netguard.Guard{Allow: []netip.Prefix{netip.PrefixFrom(ap.Addr(), ap.Addr().BitLen())}}
}

// newDeliverer returns a Deliverer for the test, closed at its end.
func newDeliverer(t *testing.T, cfg Config) *Deliverer {
	t.Helper()
	d := New(cfg)
	t.Cleanup(d.Close)
	return d
}

var testTime = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// message is an attempt of a callback with the given input.
func message(def *config.CallbackDef, input string) *channel.Message {
	return &channel.Message{
		ID:           "msg_01HZXTEST",
		Workspace:    "acme",
		Channel:      "callback",
		Notification: "orders:hook",
		Definition:   &config.Message{Tag: "hook", Callback: def},
		Attempt:      1,
		Timestamp:    testTime,
		Input:        json.RawMessage(input),
	}
}

// signedDef builds a callback definition through config.Parse, the only
// way its secret is set, reading secret_env from a fake environment.
func signedDef(t *testing.T, rawURL, method, secret string) *config.CallbackDef {
	t.Helper()
	def, _ := testutil.ChannelConfig(t, "hook",
		`callback: { url: "`+rawURL+`", method: `+method+`, secret_env: HOOK_SECRET, headers: { X-Api-Key: "def-key-value" } }`,
		"", map[string]string{"HOOK_SECRET": secret})
	require.Equal(t, secret, string(def.Callback.Secret()))
	return def.Callback
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

func hostPort(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	u, err := url.Parse(srv.URL)
	require.NoError(t, err)
	return u.Host
}

// requireCode checks a delivery error's classification.
func requireCode(t *testing.T, err error, code string, retryable bool) *channel.Error {
	t.Helper()
	require.Error(t, err)
	ce, ok := err.(*channel.Error)
	require.True(t, ok, "want *channel.Error, got %T: %v", err, err)
	require.Equal(t, code, ce.Code, ce.Error())
	require.Equal(t, retryable, ce.Retryable, ce.Error())
	require.False(t, strings.Contains(ce.Error(), "\n"), "one sentence: %q", ce.Error())
	return ce
}
