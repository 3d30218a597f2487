package sms

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/heraldhq/herald/worker/channel"
)

func testConfig(t testing.TB, providers string, env map[string]string) (*config.Message, map[string]config.Provider) {
	t.Helper()
	return testutil.ChannelConfig(t, "sms", `sms: { provider: sms-main, body: "Order {{.order_id}} shipped" }`, "      sms-main: "+providers+"\n", env)
}

func message(def *config.Message, providers map[string]config.Provider, input string) *channel.Message {
	return &channel.Message{ID: "01JTESTMESSAGE0000000000AB", Workspace: "acme", Channel: "sms", Notification: "orders:sms",
		Definition: def, Providers: providers, Attempt: 1, Input: json.RawMessage(input)}
}

func smsInput(to ...string) string {
	b, _ := json.Marshal(map[string]any{"recipients": to, "body": map[string]any{"order_id": "A-1"}})
	return string(b)
}

func requireCode(t *testing.T, err error, code string, retryable bool) *channel.Error {
	t.Helper()
	require.Error(t, err)
	ce, ok := err.(*channel.Error)
	require.True(t, ok, "want *channel.Error, got %T: %v", err, err)
	require.Equal(t, code, ce.Code, ce.Error())
	require.Equal(t, retryable, ce.Retryable, ce.Error())
	return ce
}

const (
	testSID   = "AC0123456789abcdef0123456789abcdef"
	testToken = "twilio-auth-token-value"
)

// fakeTwilio speaks the Messages API: basic auth, a form body, 201 with a
// message resource or Twilio's error body. Numbers name their fate.
type fakeTwilio struct {
	*httptest.Server
	mu   sync.Mutex
	sent []map[string]string
}

func newFakeTwilio(t *testing.T) *fakeTwilio {
	f := &fakeTwilio{}
	twErr := func(w http.ResponseWriter, status, code int, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]any{"code": code, "message": msg, "more_info": fmt.Sprintf("https://www.twilio.com/docs/errors/%d", code), "status": status})
	}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if r.Method != "POST" || r.URL.Path != "/2010-04-01/Accounts/"+testSID+"/Messages.json" {
			twErr(w, 404, 20404, "The requested resource was not found")
			return
		}
		if !ok || user != testSID || pass != testToken {
			twErr(w, 401, 20003, "Authenticate")
			return
		}
		require.NoError(t, r.ParseForm())
		to := r.PostForm.Get("To")
		switch to {
		case "+1555":
			twErr(w, 400, 21211, "The 'To' number +1555 is not a valid phone number.")
			return
		case "+15550000429":
			w.Header().Set("Retry-After", "3")
			twErr(w, 429, 20429, "Too Many Requests")
			return
		case "+15550000500":
			twErr(w, 500, 20500, "Internal Server Error")
			return
		}
		f.mu.Lock()
		f.sent = append(f.sent, map[string]string{"To": to, "From": r.PostForm.Get("From"), "MessagingServiceSid": r.PostForm.Get("MessagingServiceSid"), "Body": r.PostForm.Get("Body")})
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(201)
		json.NewEncoder(w).Encode(map[string]any{"sid": "SM" + strings.Repeat("a", 32), "status": "queued", "to": to, "body": r.PostForm.Get("Body")})
	}))
	t.Cleanup(f.Close)
	return f
}

func twilioSetup(t *testing.T, from string) (*fakeTwilio, *Deliverer, func(string) *channel.Message) {
	f := newFakeTwilio(t)
	def, providers := testConfig(t, fmt.Sprintf(`{ type: twilio, account_sid_env: TW_SID, auth_token_env: TW_TOKEN, from: %q, base_url: %q }`, from, f.URL),
		map[string]string{"TW_SID": testSID, "TW_TOKEN": testToken})
	d := New(Config{})
	t.Cleanup(d.Close)
	return f, d, func(in string) *channel.Message { return message(def, providers, in) }
}

func TestTwilio(t *testing.T) {
	f, d, msg := twilioSetup(t, "+15550100")
	res, err := d.Deliver(t.Context(), msg(smsInput("+15551234567")))
	require.NoError(t, err)
	require.Equal(t, 201, res.StatusCode, "one recipient keeps Twilio's own answer")
	require.Contains(t, string(res.Body), `"status":"queued"`)
	require.Equal(t, []map[string]string{{"To": "+15551234567", "From": "+15550100", "MessagingServiceSid": "", "Body": "Order A-1 shipped"}}, f.sent)

	for _, tc := range []struct {
		to         string
		code       string
		retryable  bool
		retryAfter time.Duration
		contains   string
	}{
		{"+1555", channel.CodeInvalidRecipient, false, 0, "error 21211"},
		{"+15550000429", channel.CodeDelivery, true, 3 * time.Second, "error 20429"},
		{"+15550000500", channel.CodeDelivery, true, 0, "500"},
	} {
		t.Run(tc.to, func(t *testing.T) {
			_, err := d.Deliver(t.Context(), msg(smsInput(tc.to)))
			ce := requireCode(t, err, tc.code, tc.retryable)
			require.Equal(t, tc.retryAfter, ce.RetryAfter)
			require.Contains(t, ce.Error(), tc.contains)
		})
	}

	t.Run("a messaging service", func(t *testing.T) {
		f, d, msg := twilioSetup(t, "MG0123")
		_, err := d.Deliver(t.Context(), msg(smsInput("+15551234567")))
		require.NoError(t, err)
		require.Equal(t, "MG0123", f.sent[0]["MessagingServiceSid"])
		require.Empty(t, f.sent[0]["From"])
	})

	t.Run("a wrong auth token is SECRET_EXPIRED and not repeated for every number", func(t *testing.T) {
		f := newFakeTwilio(t)
		def, providers := testConfig(t, fmt.Sprintf(`{ type: twilio, account_sid_env: TW_SID, auth_token_env: TW_TOKEN, from: "+15550100", base_url: %q }`, f.URL),
			map[string]string{"TW_SID": testSID, "TW_TOKEN": "wrong"})
		res, err := New(Config{}).Deliver(t.Context(), message(def, providers, smsInput("+15551230001", "+15551230002")))
		ce := requireCode(t, err, channel.CodeSecretExpired, false)
		require.Contains(t, ce.Error(), "20003")
		require.NotContains(t, ce.Error(), "wrong")
		require.Empty(t, res.Done)
	})

	t.Run("several numbers: settled ones are not sent again", func(t *testing.T) {
		f, d, msg := twilioSetup(t, "+15550100")
		m := msg(smsInput("+15551230001", "+15550000500", "+1555"))
		res, err := d.Deliver(t.Context(), m)
		requireCode(t, err, channel.CodeDelivery, true)
		require.ElementsMatch(t, []string{"+15551230001", "+1555"}, res.Done)
		m.Done = map[string]bool{"+15551230001": true, "+1555": true}
		_, err = d.Deliver(t.Context(), m)
		requireCode(t, err, channel.CodeDelivery, true)
		require.Len(t, f.sent, 1, "+15551230001 got it once")
	})
}

func TestHTTPProvider(t *testing.T) {
	type got struct {
		method, auth, ctype, key string
		body                     []byte
	}
	var mu sync.Mutex
	var reqs []got
	status := 200
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		reqs = append(reqs, got{r.Method, r.Header.Get("Authorization"), r.Header.Get("Content-Type"), r.Header.Get("X-Api-Key"), b})
		st := status
		mu.Unlock()
		if st == 429 {
			w.Header().Set("Retry-After", "9")
		}
		w.WriteHeader(st)
		io.WriteString(w, `{"id":"gw-1"}`)
	}))
	t.Cleanup(srv.Close)
	prov := fmt.Sprintf(`{ type: http, url: %q, method: PUT, from: HERALD, headers: { X-Api-Key: k1 }, access_token_env: GW_TOKEN, body: '{"to": {{json .To}}, "text": {{json .Body}}, "sender": {{json .From}}, "ref": {{json .MessageID}}}' }`, srv.URL+"/send")
	def, providers := testConfig(t, prov, map[string]string{"GW_TOKEN": "gw-secret"})
	d := New(Config{})
	res, err := d.Deliver(t.Context(), message(def, providers, `{"recipients": ["+15551234567", "+4915112345678"], "body": {"order_id": "A \"1\""}}`))
	require.NoError(t, err)
	require.Len(t, res.Done, 2)
	require.Len(t, reqs, 2)
	require.Equal(t, "PUT", reqs[0].method)
	require.Equal(t, "Bearer gw-secret", reqs[0].auth)
	require.Equal(t, "application/json", reqs[0].ctype)
	require.Equal(t, "k1", reqs[0].key)
	require.JSONEq(t, `{"to": "+15551234567", "text": "Order A \"1\" shipped", "sender": "HERALD", "ref": "01JTESTMESSAGE0000000000AB"}`, string(reqs[0].body))

	for _, tc := range []struct {
		status    int
		code      string
		retryable bool
	}{{429, channel.CodeDelivery, true}, {503, channel.CodeDelivery, true}, {401, channel.CodeSecretExpired, false}, {400, channel.CodeDelivery, false}} {
		mu.Lock()
		status = tc.status
		mu.Unlock()
		_, err := d.Deliver(t.Context(), message(def, providers, smsInput("+15551234567")))
		ce := requireCode(t, err, tc.code, tc.retryable)
		if tc.status == 429 {
			require.Equal(t, 9*time.Second, ce.RetryAfter)
		}
	}

	t.Run("basic auth", func(t *testing.T) {
		prov := fmt.Sprintf(`{ type: http, url: %q, username_env: U, password_env: P, headers: { Content-Type: "application/x-www-form-urlencoded" }, body: 'to={{urlquery .To}}&msg={{urlquery .Body}}' }`, srv.URL)
		def, providers := testConfig(t, prov, map[string]string{"U": "user", "P": "pass"})
		mu.Lock()
		status, reqs = 200, nil
		mu.Unlock()
		_, err := d.Deliver(t.Context(), message(def, providers, smsInput("+15551234567")))
		require.NoError(t, err)
		require.Equal(t, "Basic dXNlcjpwYXNz", reqs[0].auth)
		require.Equal(t, "to=%2B15551234567&msg=Order+A-1+shipped", string(reqs[0].body))
	})
}

func TestPrepareErrors(t *testing.T) {
	def, _ := testConfig(t, `{ type: twilio, account_sid_env: S, auth_token_env: T, from: "+1" }`, map[string]string{"S": "s", "T": "t"})
	for _, tc := range []struct{ name, input, field, code string }{
		{"not an object", `1`, "input", "invalid_argument"},
		{"unknown member", `{"recipients": ["+1"], "to": 1}`, "input.to", "invalid_argument"},
		{"no recipients", `{"body": {"order_id": 1}}`, "input.recipients", "invalid_argument"},
		{"empty recipient", `{"recipients": [" "], "body": {"order_id": 1}}`, "input.recipients[0]", "invalid_argument"},
		{"body vars not an object", `{"recipients": ["+1"], "body": "x"}`, "input.body", "invalid_argument"},
		{"missing variable", `{"recipients": ["+1"], "body": {}}`, "input.body", channel.CodeTemplate},
		{"too long", `{"recipients": ["+1"], "body": {"order_id": "` + strings.Repeat("x", 1700) + `"}}`, "input.body", "invalid_argument"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Prepare(def.SMS, json.RawMessage(tc.input))
			var ie *channel.InputError
			require.True(t, errors.As(err, &ie), "want *channel.InputError, got %v", err)
			require.Equal(t, tc.field, ie.Field, ie.Message)
			require.Equal(t, tc.code, ie.Code)
		})
	}
}

func FuzzPrepare(f *testing.F) {
	for _, s := range []string{``, `null`, `{}`, `{"recipients": ["+1"], "body": {"order_id": 1}}`, `{"recipients": [1], "body": null}`, `{"recipients": ["a","a"]}`} {
		f.Add([]byte(s))
	}
	def, providers := testConfig(f, `{ type: http, url: "https://sms.example.com/send", body: '{"to": {{json .To}}, "text": {{json .Body}}}' }`, nil)
	f.Fuzz(func(t *testing.T, in []byte) {
		s, err := Prepare(def.SMS, json.RawMessage(in))
		if err != nil {
			var ie *channel.InputError
			if !errors.As(err, &ie) || !strings.HasPrefix(ie.Field, "input") || ie.Message == "" {
				t.Fatalf("Prepare(%q) = %v, want an *InputError with a field", in, err)
			}
			return
		}
		for _, to := range s.To {
			body, err := RenderProviderBody(providers["sms-main"], s, to, "id")
			if err != nil || !json.Valid([]byte(body)) {
				t.Fatalf("provider body for %q: %v %q", in, err, body)
			}
		}
	})
}

func TestEndpoint(t *testing.T) {
	d := New(Config{})
	def, providers := testConfig(t, `{ type: twilio, account_sid_env: S, auth_token_env: T, from: "+1" }`, map[string]string{"S": "s", "T": "t"})
	ep, err := d.Endpoint(message(def, providers, `{}`))
	require.NoError(t, err)
	require.Equal(t, "https://api.twilio.com", ep)
	def, providers = testConfig(t, `{ type: http, url: "https://SMS.example.com:443/send?x=1", body: "x" }`, nil)
	ep, err = d.Endpoint(message(def, providers, `{}`))
	require.NoError(t, err)
	require.Equal(t, "https://sms.example.com", ep)
}
