package push

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/heraldhq/herald/worker/channel"
)

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// testConfig builds a push definition and its providers through
// config.Parse. providers is YAML under "providers:".
func testConfig(t testing.TB, provider, providers string, env map[string]string) (*config.Message, map[string]config.Provider) {
	t.Helper()
	return testutil.ChannelConfig(t, "push", `push: { provider: `+provider+`, title: "Order {{.order_id}}", body: "Hi {{.name}}" }`, providers, env)
}

func message(def *config.Message, providers map[string]config.Provider, input string) *channel.Message {
	return &channel.Message{
		ID: "01JTESTMESSAGE0000000000AB", Workspace: "acme", Channel: "push", Notification: "orders:push",
		Definition: def, Providers: providers, Attempt: 1, Input: json.RawMessage(input),
	}
}

func pushInput(tokens ...string) string {
	b, _ := json.Marshal(map[string]any{
		"device_tokens": tokens, "title": map[string]any{"order_id": "A-1"}, "body": map[string]any{"name": "Ann"},
		"data": map[string]any{"order": "A-1", "n": 2, "deep": map[string]any{"x": true}},
	})
	return string(b)
}

func requireCode(t *testing.T, err error, code string, retryable bool) *channel.Error {
	t.Helper()
	require.Error(t, err)
	ce, ok := err.(*channel.Error)
	require.True(t, ok, "want *channel.Error, got %T: %v", err, err)
	require.Equal(t, code, ce.Code, ce.Error())
	require.Equal(t, retryable, ce.Retryable, ce.Error())
	require.False(t, strings.Contains(ce.Error(), "\n"), "one line: %q", ce.Error())
	return ce
}

// ---- FCM: a Google OAuth token endpoint and the FCM HTTP v1 API ----

// fakeFCM speaks the token endpoint (RFC 7523 JWT bearer grant) and
// projects/*/messages:send. A device token names its fate: "unregistered",
// "badtoken", "busy", "down"; anything else is delivered.
type fakeFCM struct {
	*httptest.Server
	t       *testing.T
	key     *rsa.PublicKey
	project string
	// refuseGrant makes the token endpoint answer invalid_grant.
	refuseGrant bool
	// rejectAccess makes messages:send answer 401 UNAUTHENTICATED.
	rejectAccess bool
	// fate overrides a token's fate.
	fate map[string]string

	mu     sync.Mutex
	grants int
	issued map[string]bool
	sent   []map[string]any
}

func newFakeFCM(t *testing.T, key *rsa.PublicKey) *fakeFCM {
	f := &fakeFCM{t: t, key: key, project: "acme-app", issued: map[string]bool{}, fate: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", f.token)
	mux.HandleFunc("POST /v1/projects/{project}/messages:send", f.send)
	f.Server = httptest.NewServer(mux)
	t.Cleanup(f.Close)
	return f
}

func (f *fakeFCM) token(w http.ResponseWriter, r *http.Request) {
	require.NoError(f.t, r.ParseForm())
	w.Header().Set("Content-Type", "application/json")
	if r.Form.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		w.WriteHeader(400)
		io.WriteString(w, `{"error":"unsupported_grant_type"}`)
		return
	}
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(r.Form.Get("assertion"), claims, func(*jwt.Token) (any, error) { return f.key, nil },
		jwt.WithValidMethods([]string{"RS256"}), jwt.WithAudience(f.URL+"/token"), jwt.WithIssuer("herald@acme-app.iam.gserviceaccount.com"),
		jwt.WithTimeFunc(func() time.Time { return time.Date(2025, 3, 1, 12, 30, 0, 0, time.UTC) }))
	if err != nil || claims["scope"] != "https://www.googleapis.com/auth/firebase.messaging" || f.refuseGrant {
		w.WriteHeader(400)
		io.WriteString(w, `{"error":"invalid_grant","error_description":"Invalid JWT Signature."}`)
		return
	}
	f.mu.Lock()
	f.grants++
	tok := "ya29.test-" + strings.Repeat("x", f.grants)
	f.issued[tok] = true
	f.mu.Unlock()
	json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "expires_in": 3599, "token_type": "Bearer"})
}

func writeFCMError(w http.ResponseWriter, status int, statusText, errorCode, message string) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	details := []any{}
	if errorCode != "" {
		details = append(details, map[string]any{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": errorCode})
	}
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": status, "message": message, "status": statusText, "details": details}})
}

func (f *fakeFCM) send(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("project") != f.project {
		writeFCMError(w, 404, "NOT_FOUND", "", "Requested entity was not found.")
		return
	}
	f.mu.Lock()
	ok := f.issued[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
	f.mu.Unlock()
	if !ok || f.rejectAccess {
		writeFCMError(w, 401, "UNAUTHENTICATED", "", "Request had invalid authentication credentials. Expected OAuth 2 access token.")
		return
	}
	var body struct {
		Message map[string]any `json:"message"`
	}
	require.NoError(f.t, json.NewDecoder(r.Body).Decode(&body))
	token, _ := body.Message["token"].(string)
	fate := f.fate[token]
	if fate == "" {
		fate = token
	}
	switch fate {
	case "unregistered":
		writeFCMError(w, 404, "NOT_FOUND", "UNREGISTERED", "Requested entity was not found.")
		return
	case "badtoken":
		writeFCMError(w, 400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "The registration token is not a valid FCM registration token")
		return
	case "busy":
		w.Header().Set("Retry-After", "7")
		writeFCMError(w, 429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED", "Quota exceeded for quota metric")
		return
	case "down":
		writeFCMError(w, 503, "UNAVAILABLE", "UNAVAILABLE", "The service is currently unavailable.")
		return
	}
	f.mu.Lock()
	f.sent = append(f.sent, body.Message)
	n := len(f.sent)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	json.NewEncoder(w).Encode(map[string]any{"name": "projects/acme-app/messages/" + strings.Repeat("1", n)})
}

func (f *fakeFCM) messages() []map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]map[string]any(nil), f.sent...)
}

func (f *fakeFCM) grantCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.grants
}

// serviceAccount returns a service account JSON key for the fake.
func serviceAccountJSON(t *testing.T, key *rsa.PrivateKey, tokenURI string) string {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	b, _ := json.Marshal(map[string]string{
		"type": "service_account", "project_id": "acme-app", "private_key_id": "kid-1",
		"private_key":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email": "herald@acme-app.iam.gserviceaccount.com", "token_uri": tokenURI,
	})
	return string(b)
}

var (
	rsaOnce sync.Once
	rsaKeys [2]*rsa.PrivateKey
)

// rsaKey returns one of two test RSA keys (generated once: they are slow).
func rsaKey(t *testing.T, i int) *rsa.PrivateKey {
	rsaOnce.Do(func() {
		for j := range rsaKeys {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			rsaKeys[j] = k
		}
	})
	return rsaKeys[i]
}

// ---- APNs over HTTP/2 ----

// fakeAPNs speaks APNs' provider API over HTTP/2 (TLS). A device token
// names its fate: "bad", "gone", "busy", "expired-once"; else delivered.
type fakeAPNs struct {
	*httptest.Server
	t     *testing.T
	key   *ecdsa.PublicKey
	topic string

	mu      sync.Mutex
	tokens  map[string]bool // provider JWTs seen
	sent    []map[string]any
	expired map[string]bool
}

func newFakeAPNs(t *testing.T, key *ecdsa.PublicKey) *fakeAPNs {
	f := &fakeAPNs{t: t, key: key, topic: "com.acme.app", tokens: map[string]bool{}, expired: map[string]bool{}}
	f.Server = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	f.EnableHTTP2 = true
	f.StartTLS()
	t.Cleanup(f.Close)
	return f
}

func apnsError(w http.ResponseWriter, status int, reason string) {
	w.Header().Set("apns-id", "11111111-2222-3333-4444-555555555555")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	body := map[string]any{"reason": reason}
	if reason == "Unregistered" {
		body["timestamp"] = 1740830400000
	}
	json.NewEncoder(w).Encode(body)
}

func (f *fakeAPNs) serve(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor != 2 {
		http.Error(w, "HTTP/2 required", 505)
		return
	}
	device, ok := strings.CutPrefix(r.URL.Path, "/3/device/")
	if r.Method != "POST" || !ok {
		apnsError(w, 405, "MethodNotAllowed")
		return
	}
	auth, ok := strings.CutPrefix(r.Header.Get("authorization"), "bearer ")
	if !ok {
		apnsError(w, 403, "MissingProviderToken")
		return
	}
	tok, err := jwt.Parse(auth, func(t *jwt.Token) (any, error) { return f.key, nil }, jwt.WithValidMethods([]string{"ES256"}), jwt.WithIssuer("TEAM123456"), jwt.WithIssuedAt())
	if err != nil || tok.Header["kid"] != "KEY1234567" {
		apnsError(w, 403, "InvalidProviderToken")
		return
	}
	if r.Header.Get("apns-topic") != f.topic {
		apnsError(w, 400, "DeviceTokenNotForTopic")
		return
	}
	f.mu.Lock()
	f.tokens[auth] = true
	expiredBefore := f.expired[device]
	f.expired[device] = true
	f.mu.Unlock()
	switch device {
	case "bad":
		apnsError(w, 400, "BadDeviceToken")
		return
	case "gone":
		apnsError(w, 410, "Unregistered")
		return
	case "busy":
		w.Header().Set("Retry-After", "30")
		apnsError(w, 429, "TooManyRequests")
		return
	case "expired-once":
		if !expiredBefore {
			apnsError(w, 403, "ExpiredProviderToken")
			return
		}
	}
	var payload map[string]any
	require.NoError(f.t, json.NewDecoder(r.Body).Decode(&payload))
	payload["_device"] = device
	payload["_push_type"] = r.Header.Get("apns-push-type")
	f.mu.Lock()
	f.sent = append(f.sent, payload)
	f.mu.Unlock()
	w.Header().Set("apns-id", "AAAAAAAA-2222-3333-4444-555555555555")
	w.WriteHeader(200)
}

func (f *fakeAPNs) messages() []map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]map[string]any(nil), f.sent...)
}

func (f *fakeAPNs) jwtCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.tokens)
}

func p8(t *testing.T) (*ecdsa.PrivateKey, string) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	return key, string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// ---- Expo ----

type fakeExpo struct {
	*httptest.Server
	t           *testing.T
	accessToken string
	status      int // when set, the whole request answers this

	mu    sync.Mutex
	sends [][]map[string]any
}

func newFakeExpo(t *testing.T) *fakeExpo {
	f := &fakeExpo{t: t, accessToken: "expo-access-token"}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path != "/--/api/v2/push/send" || r.Method != "POST" {
			w.WriteHeader(404)
			return
		}
		if r.Header.Get("Authorization") != "Bearer "+f.accessToken {
			w.WriteHeader(401)
			io.WriteString(w, `{"errors":[{"code":"UNAUTHORIZED","message":"The bearer token is invalid; either the token does not exist or it is malformed."}]}`)
			return
		}
		if f.status != 0 {
			w.Header().Set("Retry-After", "12")
			w.WriteHeader(f.status)
			io.WriteString(w, `{"errors":[{"code":"TOO_MANY_REQUESTS","message":"Slow down."}]}`)
			return
		}
		var msgs []map[string]any
		require.NoError(t, json.NewDecoder(r.Body).Decode(&msgs))
		f.mu.Lock()
		f.sends = append(f.sends, msgs)
		f.mu.Unlock()
		var tickets []map[string]any
		for i, m := range msgs {
			switch m["to"] {
			case "ExponentPushToken[gone]":
				tickets = append(tickets, map[string]any{"status": "error", "message": `"ExponentPushToken[gone]" is not a registered push notification recipient`, "details": map[string]any{"error": "DeviceNotRegistered"}})
			case "ExponentPushToken[rate]":
				tickets = append(tickets, map[string]any{"status": "error", "message": "too fast", "details": map[string]any{"error": "MessageRateExceeded"}})
			default:
				tickets = append(tickets, map[string]any{"status": "ok", "id": "XXXXXXXX-YYYY-" + string(rune('A'+i))})
			}
		}
		json.NewEncoder(w).Encode(map[string]any{"data": tickets})
	}))
	t.Cleanup(f.Close)
	return f
}
