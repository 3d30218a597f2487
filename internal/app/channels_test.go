package app_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/internal/app"
	"github.com/heraldhq/herald/internal/apptest"
)

const hsSecret = "an-hs256-secret-of-at-least-32-bytes!"

// channelsConfig is a workspace with every channel and provider, pointing
// at the loopback fakes.
func channelsConfig(rcURL string, p *apptest.Providers, extra string) string {
	if !strings.Contains(extra, "breaker:") {
		extra += "\nbreaker: { failures: 50, open_for: 300ms }"
	}
	return fmt.Sprintf(`
http_addr: "127.0.0.1:0"
log: { level: warn }
nats: { listen: "127.0.0.1:-1", ack_wait: 5s }
delivery: { retries: 3, backoff_initial: 20ms, backoff_max: 200ms, timeout: 3s, concurrency: 8 }
%s
workspaces:
  - id: acme
    keys:
      - { name: all, sha256: %q, scopes: [notifications:send, notifications:read] }
    providers:
%s
    products:
      - tag: shop
        id: prod_shop
        envs: [prd]
        sessions:
          - { tag: user-session, hs256_secret_env: SESSION_HS, issuer: shop-auth }
          - { tag: partner, rs256_public_key_env: SESSION_RS }
        notifications:
          - tag: orders
            messages:
              - tag: confirmation
                email: { provider: smtp-main, from: '"Shop" <shop@example.com>', subject: "Order {{.order_id}}", template: "<p>Hi {{.name}}</p>" }
                push: { provider: fcm-main, title: "Order {{.order_id}}", body: "On its way" }
                sms: { provider: twilio-main, body: "Order {{.order_id}} shipped" }
                callback: { url: "%s/orders/{id}" }
              - tag: apple
                push: { provider: apns-main, title: "Order {{.order_id}}", body: "On its way" }
              - tag: expo
                push: { provider: expo-main, title: "Order {{.order_id}}", body: "On its way" }
              - tag: gateway
                sms: { provider: gateway, body: "Code {{.code}}" }
      - tag: open
        envs: [prd]
        notifications:
          - tag: orders
            messages:
              - tag: confirmation
                callback: { url: "%s/open" }
`, extra, config.HashKey(apptest.KeyAcme), p.ProvidersYAML("      "), rcURL, rcURL)
}

type channelsEnv struct {
	h  *apptest.Herald
	p  *apptest.Providers
	rc *apptest.Receiver
	rs *rsa.PrivateKey
}

func startChannels(t *testing.T, extra string) *channelsEnv {
	t.Helper()
	rc := apptest.NewReceiver(t)
	p := apptest.StartProviders(t)
	rs, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	der, err := x509.MarshalPKIXPublicKey(&rs.PublicKey)
	require.NoError(t, err)
	env := map[string]string{"SESSION_HS": hsSecret, "SESSION_RS": string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))}
	for k, v := range p.Env {
		env[k] = v
	}
	h := apptest.Start(t, apptest.Options{YAML: channelsConfig(rc.URL, p, extra), Env: env,
		AppOpts: func(o *app.Options) { o.ProviderTLS = p.ClientTLS }})
	return &channelsEnv{h: h, p: p, rc: rc, rs: rs}
}

func (e *channelsEnv) send(channel, notification string, input map[string]any, extra map[string]any) *apptest.Response {
	body := map[string]any{"product": "shop", "env": "prd", "notification": notification, "input": input}
	for k, v := range extra {
		body[k] = v
	}
	return e.h.Do("POST", "/v1/notifications/"+channel+"/send", apptest.KeyAcme, body)
}

func accepted(t *testing.T, r *apptest.Response) string {
	t.Helper()
	require.Equal(t, http.StatusAccepted, r.Status, string(r.Body))
	return r.JSON()["messageId"].(string)
}

// Each channel and provider through the whole pipeline: HTTP accept,
// JetStream, the provider's protocol on loopback, and the final status.
func TestEveryChannelDelivers(t *testing.T) {
	e := startChannels(t, "")
	for _, tc := range []struct {
		name, channel, notification string
		input                       map[string]any
		provider                    string
		recipients                  []string
		got                         string
	}{
		{"email over SMTP", "email", "orders:confirmation",
			map[string]any{"recipients": []string{"ann@example.com", "bob@example.com"}, "subject": map[string]any{"order_id": "E-1"}, "template": map[string]any{"name": "Ann"}},
			"smtp", []string{"ann@example.com", "bob@example.com"}, "Order E-1"},
		{"push over FCM", "push", "orders:confirmation",
			map[string]any{"device_tokens": []string{"fcm-tok-1", "fcm-tok-2"}, "title": map[string]any{"order_id": "P-1"}, "data": map[string]any{"k": 1}},
			"fcm", []string{"fcm-tok-1", "fcm-tok-2"}, "Order P-1"},
		{"push over APNs", "push", "orders:apple",
			map[string]any{"device_tokens": []string{"a1b2c3"}, "title": map[string]any{"order_id": "P-2"}},
			"apns", []string{"a1b2c3"}, "Order P-2"},
		{"push over Expo", "push", "orders:expo",
			map[string]any{"device_tokens": []string{"ExponentPushToken[x1]"}, "title": map[string]any{"order_id": "P-3"}},
			"expo", []string{"ExponentPushToken[x1]"}, "Order P-3"},
		{"sms over Twilio", "sms", "orders:confirmation",
			map[string]any{"recipients": []string{"+15551230001"}, "body": map[string]any{"order_id": "S-1"}},
			"twilio", []string{"+15551230001"}, "Order S-1 shipped"},
		{"sms over an HTTP gateway", "sms", "orders:gateway",
			map[string]any{"recipients": []string{"+15551230002"}, "body": map[string]any{"code": 4242}},
			"gateway", []string{"+15551230002"}, "Code 4242"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := accepted(t, e.send(tc.channel, tc.notification, tc.input, nil))
			entry := e.h.WaitStatus(id, "sent", 15*time.Second)
			require.Equal(t, tc.channel, entry["type"])
			require.EqualValues(t, 1, entry["attempts"])
			require.ElementsMatch(t, tc.recipients, e.p.Delivered(tc.provider))
			got := e.p.Got(tc.recipients[0])
			if dec, err := new(mime.WordDecoder).DecodeHeader(got); err == nil {
				got = dec
			}
			require.Equal(t, tc.got, got)
			input, _ := json.Marshal(entry["input"])
			want, _ := json.Marshal(tc.input)
			require.JSONEq(t, string(want), string(input), "the log entry keeps the full input")
		})
	}
}

func TestChannelFailuresEndToEnd(t *testing.T) {
	e := startChannels(t, "")
	for _, tc := range []struct {
		name, channel, notification string
		input                       map[string]any
		status, code                string
		attempts                    int
	}{
		{"email to a mailbox that does not exist", "email", "orders:confirmation",
			map[string]any{"recipients": []string{"gone@example.com"}, "subject": map[string]any{"order_id": 1}, "template": map[string]any{"name": "x"}},
			"failed", "INVALID_RECIPIENT", 1},
		{"email deferred once, then sent", "email", "orders:confirmation",
			map[string]any{"recipients": []string{"flaky@example.com"}, "subject": map[string]any{"order_id": 1}, "template": map[string]any{"name": "x"}},
			"sent", "", 2},
		{"FCM unregistered token", "push", "orders:confirmation",
			map[string]any{"device_tokens": []string{"gone-token"}, "title": map[string]any{"order_id": 1}},
			"failed", "INVALID_RECIPIENT", 1},
		{"APNs bad device token", "push", "orders:apple",
			map[string]any{"device_tokens": []string{"gone"}, "title": map[string]any{"order_id": 1}},
			"failed", "INVALID_RECIPIENT", 1},
		{"APNs 429 once, then sent", "push", "orders:apple",
			map[string]any{"device_tokens": []string{"flaky-apns"}, "title": map[string]any{"order_id": 1}},
			"sent", "", 2},
		{"Expo DeviceNotRegistered", "push", "orders:expo",
			map[string]any{"device_tokens": []string{"ExponentPushToken[gone]"}, "title": map[string]any{"order_id": 1}},
			"failed", "INVALID_RECIPIENT", 1},
		{"Twilio 21211", "sms", "orders:confirmation",
			map[string]any{"recipients": []string{"+1555"}, "body": map[string]any{"order_id": 1}},
			"failed", "INVALID_RECIPIENT", 1},
		{"gateway down: retries used up", "sms", "orders:gateway",
			map[string]any{"recipients": []string{"+1down"}, "body": map[string]any{"code": 1}},
			"failed", "DELIVERY_ERROR", 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := accepted(t, e.send(tc.channel, tc.notification, tc.input, nil))
			entry := e.h.WaitStatus(id, tc.status, 15*time.Second)
			require.EqualValues(t, tc.attempts, entry["attempts"])
			if tc.code != "" {
				require.Equal(t, tc.code, entry["error_code"], entry["error"])
			} else {
				require.Nil(t, entry["error_code"])
			}
		})
	}
}

// A retry sends only to the recipients that did not get the message: the
// token FCM accepted the first time is not sent to again.
func TestRetrySkipsSettledRecipients(t *testing.T) {
	e := startChannels(t, "")
	id := accepted(t, e.send("push", "orders:confirmation", map[string]any{
		"device_tokens": []string{"ok-token", "flaky-token", "gone-token"}, "title": map[string]any{"order_id": 1}}, nil))
	entry := e.h.WaitStatus(id, "sent", 15*time.Second)
	require.EqualValues(t, 2, entry["attempts"])
	require.Equal(t, []string{"ok-token", "flaky-token"}, e.p.Delivered("fcm"), "ok-token got it once")

	var atts struct{ Data []map[string]any }
	require.NoError(t, json.Unmarshal(e.h.Do("GET", "/v1/messages/"+id+"/attempts", apptest.KeyAcme, nil).Body, &atts))
	require.Len(t, atts.Data, 2)
	require.Equal(t, "retry", atts.Data[0]["outcome"])
	require.ElementsMatch(t, []any{"ok-token", "gone-token"}, atts.Data[0]["settled_recipients"])
	require.Contains(t, atts.Data[0]["response_body"], `"recipient":"gone-token","status":"refused"`)
	require.Equal(t, []any{"flaky-token"}, atts.Data[1]["settled_recipients"])
}

// POST /v1/notifications/send across all four channels: one message per
// channel, one process_id, each delivered.
func TestMultiChannelAllChannels(t *testing.T) {
	e := startChannels(t, "")
	r := e.h.Do("POST", "/v1/notifications/send", apptest.KeyAcme, map[string]any{
		"product": "shop", "env": "prd", "event": "orders",
		"input": map[string]any{
			"push_notification": map[string]any{"device_tokens": []string{"multi-tok"}, "title": map[string]any{"order_id": "M-1"}},
			"email":             map[string]any{"recipients": []string{"multi@example.com"}, "subject": map[string]any{"order_id": "M-1"}, "template": map[string]any{"name": "M"}},
			"sms":               map[string]any{"recipients": []string{"+15550009999"}, "body": map[string]any{"order_id": "M-1"}},
			"callback":          map[string]any{"params": map[string]any{"id": "M-1"}},
		},
	})
	require.Equal(t, http.StatusAccepted, r.Status, string(r.Body))
	body := r.JSON()
	require.Equal(t, true, body["success"])
	chans := body["channels"].(map[string]any)
	require.Len(t, chans, 4)
	for _, ch := range []string{"push", "email", "sms", "callback"} {
		cr := chans[ch].(map[string]any)
		require.Equal(t, true, cr["success"], ch)
		entry := e.h.WaitStatus(cr["messageId"].(string), "sent", 15*time.Second)
		require.Equal(t, body["process_id"], entry["process_id"])
		require.Equal(t, ch, entry["type"])
	}
	q := e.h.Do("GET", "/v1/messages?process_id="+body["process_id"].(string), apptest.KeyAcme, nil)
	require.EqualValues(t, 4, q.JSON()["total"])

	// Partial acceptance: a template that fails for the email input refuses
	// that channel only.
	r = e.h.Do("POST", "/v1/notifications/send", apptest.KeyAcme, map[string]any{
		"product": "shop", "env": "prd", "event": "orders",
		"input": map[string]any{
			"email": map[string]any{"recipients": []string{"x@example.com"}, "subject": map[string]any{}},
			"sms":   map[string]any{"recipients": []string{"+15550008888"}, "body": map[string]any{"order_id": "M-2"}},
		},
	})
	require.Equal(t, http.StatusAccepted, r.Status, string(r.Body))
	chans = r.JSON()["channels"].(map[string]any)
	em := chans["email"].(map[string]any)
	require.Equal(t, false, em["success"])
	require.Equal(t, "TEMPLATE_ERROR", em["error"].(map[string]any)["code"])
	require.Equal(t, "input.email.subject", em["error"].(map[string]any)["field"])
	require.Equal(t, true, chans["sms"].(map[string]any)["success"])
}

func TestTemplateErrorAtAcceptTime(t *testing.T) {
	e := startChannels(t, "")
	for _, tc := range []struct {
		channel string
		input   map[string]any
		field   string
	}{
		{"email", map[string]any{"recipients": []string{"a@example.com"}, "subject": map[string]any{"order_id": 1}, "template": map[string]any{"nom": "x"}}, "input.template"},
		{"push", map[string]any{"device_tokens": []string{"t"}, "title": map[string]any{}}, "input.title"},
		{"sms", map[string]any{"recipients": []string{"+1"}, "body": map[string]any{"id": 1}}, "input.body"},
	} {
		t.Run(tc.channel, func(t *testing.T) {
			r := e.send(tc.channel, "orders:confirmation", tc.input, nil)
			require.Equal(t, http.StatusBadRequest, r.Status, string(r.Body))
			eb := errorOf(t, r)
			require.Equal(t, "TEMPLATE_ERROR", eb["code"])
			require.Equal(t, tc.field, eb["field"])
			require.Contains(t, eb["message"], "map has no entry for key")
		})
	}
	r := e.h.Do("GET", "/v1/messages", apptest.KeyAcme, nil)
	require.EqualValues(t, 0, r.JSON()["total"], "nothing was written")
}

func TestSessions(t *testing.T) {
	e := startChannels(t, "")
	now := time.Now()
	hs := func(claims jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(hsSecret))
		require.NoError(t, err)
		return s
	}
	rs := func(claims jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(e.rs)
		require.NoError(t, err)
		return s
	}
	input := map[string]any{"params": map[string]any{"id": "S-1"}}
	valid := hs(jwt.MapClaims{"sub": "u1", "iss": "shop-auth", "exp": now.Add(time.Hour).Unix()})

	id := accepted(t, e.send("callback", "orders:confirmation", input, map[string]any{"session": "user-session:" + valid}))
	entry := e.h.Message(apptest.KeyAcme, id)
	require.Equal(t, "user-session", entry["session"])
	require.NotContains(t, string(e.h.Do("GET", "/v1/messages/"+id, apptest.KeyAcme, nil).Body), valid, "the token is never stored")
	accepted(t, e.send("callback", "orders:confirmation", input, map[string]any{"session": "partner:" + rs(jwt.MapClaims{"sub": "p1", "exp": now.Add(time.Hour).Unix()})}))

	for _, tc := range []struct{ name, session, message string }{
		{"expired", "user-session:" + hs(jwt.MapClaims{"iss": "shop-auth", "exp": now.Add(-time.Minute).Unix()}), "expired"},
		{"wrong secret", "user-session:" + func() string {
			s, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": "shop-auth"}).SignedString([]byte("another-secret-another-secret-xx"))
			return s
		}(), "signature does not verify"},
		{"wrong issuer", "user-session:" + hs(jwt.MapClaims{"iss": "elsewhere"}), "issuer"},
		{"HS256 token for an RS256 session", "partner:" + hs(jwt.MapClaims{}), "signature does not verify"},
		{"not a JWT", "user-session:not-a-jwt", "not a JWT"},
		{"no token", "user-session:", "needs a token"},
		{"unknown session tag", "admin:" + valid, `no session "admin"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.send("callback", "orders:confirmation", input, map[string]any{"session": tc.session})
			require.Equal(t, http.StatusUnauthorized, r.Status, string(r.Body))
			eb := errorOf(t, r)
			require.Equal(t, "unauthenticated", eb["code"])
			require.Equal(t, "session", eb["field"])
			require.Contains(t, eb["message"], tc.message)
			require.NotContains(t, string(r.Body), hsSecret)
		})
	}
	// Multi-channel: a bad session refuses the whole send.
	r := e.h.Do("POST", "/v1/notifications/send", apptest.KeyAcme, map[string]any{
		"product": "shop", "env": "prd", "event": "orders", "session": "user-session:bad",
		"input": map[string]any{"callback": input},
	})
	require.Equal(t, http.StatusUnauthorized, r.Status, string(r.Body))

	// A product without sessions records the tag unverified.
	r = e.h.Do("POST", "/v1/notifications/callback/send", apptest.KeyAcme, map[string]any{
		"product": "open", "env": "prd", "notification": "orders:confirmation", "input": map[string]any{}, "session": "anything:unverified.token.here",
	})
	require.Equal(t, http.StatusAccepted, r.Status, string(r.Body))
	require.Equal(t, "anything", e.h.Message(apptest.KeyAcme, r.JSON()["messageId"].(string))["session"])

	// A session without "tag:" is a 400, whether or not the product has
	// sessions: a bare token must never be stored and shown as the tag.
	for _, prod := range []string{"shop", "open"} {
		r = e.h.Do("POST", "/v1/notifications/callback/send", apptest.KeyAcme, map[string]any{
			"product": prod, "env": "prd", "notification": "orders:confirmation", "input": input, "session": valid,
		})
		require.Equal(t, http.StatusBadRequest, r.Status, string(r.Body))
		eb := errorOf(t, r)
		require.Equal(t, "invalid_argument", eb["code"])
		require.Equal(t, "session", eb["field"])
		require.NotContains(t, string(r.Body), valid)
	}
}

// 100 concurrent identical sends with one cache tag: one message, one
// delivery, every other answer 200 with the first messageId.
func TestConcurrentSendsDeduplicate(t *testing.T) {
	e := startChannels(t, "")
	const n = 100
	type answer struct {
		status int
		id     string
		dedup  bool
	}
	answers := make([]answer, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := e.send("sms", "orders:confirmation", map[string]any{"recipients": []string{"+15557770000"}, "body": map[string]any{"order_id": "C-1"}},
				map[string]any{"cache": "order-C-1"})
			b := r.JSON()
			id, _ := b["messageId"].(string)
			dd, _ := b["deduplicated"].(bool)
			answers[i] = answer{r.Status, id, dd}
		}()
	}
	wg.Wait()
	var first string
	created := 0
	for _, a := range answers {
		if a.status == http.StatusAccepted {
			created++
			first = a.id
			require.False(t, a.dedup)
		}
	}
	require.Equal(t, 1, created, "exactly one send made a message")
	for _, a := range answers {
		if a.status != http.StatusAccepted {
			require.Equal(t, http.StatusOK, a.status)
			require.Equal(t, first, a.id)
			require.True(t, a.dedup)
		}
	}
	e.h.WaitStatus(first, "sent", 15*time.Second)
	require.EqualValues(t, 1, e.h.Do("GET", "/v1/messages?type=sms", apptest.KeyAcme, nil).JSON()["total"])
	require.Equal(t, []string{"+15557770000"}, e.p.Delivered("twilio"))
}

// cache_window is configurable; past it, the same tag makes a new message.
func TestCacheWindow(t *testing.T) {
	e := startChannels(t, "cache_window: 1s")
	send := func() *apptest.Response {
		return e.send("callback", "orders:confirmation", map[string]any{"params": map[string]any{"id": "W-1"}}, map[string]any{"cache": "w-1"})
	}
	first := accepted(t, send())
	r := send()
	require.Equal(t, http.StatusOK, r.Status)
	require.Equal(t, first, r.JSON()["messageId"])
	deadline := time.Now().Add(10 * time.Second)
	for {
		r = send()
		if r.Status == http.StatusAccepted {
			require.NotEqual(t, first, r.JSON()["messageId"])
			break
		}
		require.True(t, time.Now().Before(deadline), "the cache tag never expired")
		time.Sleep(50 * time.Millisecond)
	}
}

// The breaker of a provider endpoint opens after repeated failures: later
// sends to it make no request; each scheduled attempt is recorded as
// CIRCUIT_OPEN and counts against the retries, so the message follows its
// retry schedule instead of waiting for the endpoint indefinitely.
func TestProviderBreakerOpens(t *testing.T) {
	e := startChannels(t, "breaker: { failures: 2, open_for: 1m }")
	for i := range 2 {
		accepted(t, e.send("sms", "orders:gateway", map[string]any{"recipients": []string{fmt.Sprintf("+1down%d", i)}, "body": map[string]any{"code": 1}}, map[string]any{"retries": 0}))
	}
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(metrics(t, e.h), `herald_worker_breakers{channel="sms",state="open"} 1`) {
		require.True(t, time.Now().Before(deadline), "the breaker never opened")
		time.Sleep(20 * time.Millisecond)
	}
	id := accepted(t, e.send("sms", "orders:gateway", map[string]any{"recipients": []string{"+15550001111"}, "body": map[string]any{"code": 1}}, nil))
	deadline = time.Now().Add(15 * time.Second)
	for {
		entry := e.h.Message(apptest.KeyAcme, id)
		if entry["error_code"] == "CIRCUIT_OPEN" {
			require.Equal(t, "pending", entry["status"], "retries remain")
			require.EqualValues(t, 1, entry["attempts"])
			break
		}
		require.True(t, time.Now().Before(deadline), "never CIRCUIT_OPEN: %v", entry)
		time.Sleep(20 * time.Millisecond)
	}
	require.Contains(t, metrics(t, e.h), `herald_worker_attempts_total{channel="sms",outcome="circuit_open",provider="http"}`)
}

func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "herald.yaml")
	require.NoError(t, os.WriteFile(path, []byte(yaml), 0o600))
	return path
}

// envWith is the environment a reload reads: the test's secrets and the
// process settings of the running app.
func envWith(e *channelsEnv) func(string) string {
	der, _ := x509.MarshalPKIXPublicKey(&e.rs.PublicKey)
	env := map[string]string{"SESSION_HS": hsSecret, "SESSION_RS": string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})),
		config.EnvRedisURL: e.h.Redis.URL}
	for k, v := range e.p.Env {
		env[k] = v
	}
	return apptest.Env(env)
}
