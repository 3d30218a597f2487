package app_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// SIGHUP reloads definitions: a delivery in flight finishes with what it
// started with, later sends use the new file, a provider's rotated secret
// is picked up, and a file with problems is refused with the reason while
// the running config stays.
func TestReloadKeepsInFlightWorkAndRefusesBadFiles(t *testing.T) {
	e := startChannels(t, "")
	release := make(chan struct{})
	e.rc.SetRespond(func(n int, r *http.Request, w http.ResponseWriter) {
		if r.URL.Path == "/orders/R-1" {
			<-release
		}
		w.WriteHeader(http.StatusOK)
	})
	inflight := accepted(t, e.send("callback", "orders:confirmation", map[string]any{"params": map[string]any{"id": "R-1"}}, nil))
	require.Eventually(t, func() bool { return e.rc.Count("/orders/R-1") == 1 }, 10*time.Second, 10*time.Millisecond, "the delivery is in flight")

	// The provider's auth token is rotated: until the reload, Twilio refuses ours.
	e.p.SetTwilioToken("twilio-token-2")
	sms := func(to string) string {
		return accepted(t, e.send("sms", "orders:confirmation", map[string]any{"recipients": []string{to}, "body": map[string]any{"order_id": 1}}, nil))
	}
	require.Equal(t, "SECRET_EXPIRED", e.h.WaitStatus(sms("+15550000001"), "failed", 15*time.Second)["error_code"])

	env := envWith(e)
	newEnv := func(k string) string {
		if k == "TWILIO_TOKEN" {
			return "twilio-token-2"
		}
		return env(k)
	}
	yaml := strings.Replace(channelsConfig(e.rc.URL, e.p, ""), e.rc.URL+"/orders/{id}", e.rc.URL+"/v2/orders/{id}", 1)
	before := e.h.App.Config()
	require.NoError(t, e.h.App.ReloadFile(writeConfig(t, yaml), newEnv))
	require.NotSame(t, before, e.h.App.Config())

	close(release)
	entry := e.h.WaitStatus(inflight, "sent", 15*time.Second)
	require.EqualValues(t, 1, entry["attempts"], "the in-flight delivery finished, once")
	next := accepted(t, e.send("callback", "orders:confirmation", map[string]any{"params": map[string]any{"id": "R-2"}}, nil))
	e.h.WaitStatus(next, "sent", 15*time.Second)
	require.Equal(t, 1, e.rc.Count("/v2/orders/R-2"), "later sends use the new definition")
	e.h.WaitStatus(sms("+15550000002"), "sent", 15*time.Second)

	// A file with problems is refused, with every problem and its path.
	good := e.h.App.Config()
	bad := strings.Replace(yaml, `from: "+15550100", `, "", 1)
	bad = strings.Replace(bad, "envs: [prd]", "envs: []", 1)
	err := e.h.App.ReloadFile(writeConfig(t, bad), newEnv)
	require.Error(t, err)
	require.Contains(t, err.Error(), "workspaces[0].providers.twilio-main.from: required for twilio")
	require.Contains(t, err.Error(), "workspaces[0].products[0].envs: at least one env is required")
	require.Same(t, good, e.h.App.Config(), "the running config stays")
	// A secret the new file names but the environment lacks is refused too.
	err = e.h.App.ReloadFile(writeConfig(t, yaml), func(k string) string {
		if k == "TWILIO_TOKEN" {
			return ""
		}
		return newEnv(k)
	})
	require.ErrorContains(t, err, "TWILIO_TOKEN is empty or unset")
	require.NotContains(t, err.Error(), "twilio-token-2")
	again := accepted(t, e.send("callback", "orders:confirmation", map[string]any{"params": map[string]any{"id": "R-3"}}, nil))
	e.h.WaitStatus(again, "sent", 15*time.Second)
	require.Equal(t, 1, e.rc.Count("/v2/orders/R-3"))
	require.Equal(t, http.StatusOK, e.h.Do("GET", "/readyz", "", nil).Status)
}
