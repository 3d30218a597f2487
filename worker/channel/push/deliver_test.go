package push

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/worker/channel"
)

func fcmSetup(t *testing.T, inline bool) (*fakeFCM, *Deliverer, *clock, func(input string) *channel.Message) {
	key := rsaKey(t, 0)
	f := newFakeFCM(t, &key.PublicKey)
	creds := serviceAccountJSON(t, key, f.URL+"/token")
	if !inline {
		path := filepath.Join(t.TempDir(), "fcm.json")
		require.NoError(t, os.WriteFile(path, []byte(creds), 0o600))
		creds = path
	}
	def, providers := testConfig(t, "fcm-main", fmt.Sprintf("      fcm-main: { type: fcm, credentials_file_env: FCM_CREDS, base_url: %q }\n", f.URL), map[string]string{"FCM_CREDS": creds})
	clk := newClock()
	d := New(Config{Now: clk.Now})
	t.Cleanup(d.Close)
	return f, d, clk, func(in string) *channel.Message { return message(def, providers, in) }
}

func TestFCMDelivers(t *testing.T) {
	for _, inline := range []bool{false, true} {
		t.Run(fmt.Sprintf("credentials inline %v", inline), func(t *testing.T) {
			f, d, clk, msg := fcmSetup(t, inline)
			res, err := d.Deliver(t.Context(), msg(pushInput("tok-a", "tok-b")))
			require.NoError(t, err)
			require.ElementsMatch(t, []string{"tok-a", "tok-b"}, res.Done)
			require.Contains(t, string(res.Body), `"provider_id":"projects/acme-app/messages/`)
			got := f.messages()
			require.Len(t, got, 2)
			require.Equal(t, map[string]any{"title": "Order A-1", "body": "Hi Ann"}, got[0]["notification"])
			require.Equal(t, map[string]any{"order": "A-1", "n": "2", "deep": `{"x":true}`}, got[0]["data"], "FCM data values are strings")

			_, err = d.Deliver(t.Context(), msg(pushInput("tok-c")))
			require.NoError(t, err)
			require.Equal(t, 1, f.grantCount(), "the OAuth token is cached")
			clk.Add(59 * time.Minute)
			_, err = d.Deliver(t.Context(), msg(pushInput("tok-d")))
			require.NoError(t, err)
			require.Equal(t, 2, f.grantCount(), "renewed a minute before it expires")
		})
	}
}

func TestFCMClassifies(t *testing.T) {
	for _, tc := range []struct {
		token      string
		code       string
		retryable  bool
		retryAfter time.Duration
		contains   string
	}{
		{"unregistered", channel.CodeInvalidRecipient, false, 0, "UNREGISTERED"},
		{"badtoken", channel.CodeInvalidRecipient, false, 0, "not a valid FCM registration token"},
		{"busy", channel.CodeDelivery, true, 7 * time.Second, "QUOTA_EXCEEDED"},
		{"down", channel.CodeDelivery, true, 0, "UNAVAILABLE"},
	} {
		t.Run(tc.token, func(t *testing.T) {
			_, d, _, msg := fcmSetup(t, true)
			res, err := d.Deliver(t.Context(), msg(pushInput(tc.token)))
			ce := requireCode(t, err, tc.code, tc.retryable)
			require.Equal(t, tc.retryAfter, ce.RetryAfter)
			require.Contains(t, ce.Error(), tc.contains)
			require.Contains(t, string(res.Body), `"status"`, "the provider's error body is kept")
		})
	}
	t.Run("rejected service account", func(t *testing.T) {
		f, d, _, msg := fcmSetup(t, true)
		f.refuseGrant = true
		_, err := d.Deliver(t.Context(), msg(pushInput("tok-a")))
		ce := requireCode(t, err, channel.CodeSecretExpired, false)
		require.Contains(t, ce.Error(), "invalid_grant")
		require.NotContains(t, ce.Error(), "PRIVATE KEY")
	})
	t.Run("access token rejected: one fresh token, then SECRET_EXPIRED", func(t *testing.T) {
		f, d, _, msg := fcmSetup(t, true)
		f.rejectAccess = true
		_, err := d.Deliver(t.Context(), msg(pushInput("tok-a")))
		requireCode(t, err, channel.CodeSecretExpired, false)
		require.Equal(t, 2, f.grantCount())
	})
	t.Run("unreadable credentials file", func(t *testing.T) {
		def, providers := testConfig(t, "fcm-main", "      fcm-main: { type: fcm, credentials_file_env: FCM_CREDS }\n", map[string]string{"FCM_CREDS": "/nonexistent/fcm.json"})
		_, err := New(Config{}).Deliver(t.Context(), message(def, providers, pushInput("tok-a")))
		ce := requireCode(t, err, channel.CodeDelivery, false)
		require.Contains(t, ce.Error(), "/nonexistent/fcm.json")
	})
}

// Several tokens, some failing: the delivered ones are settled and never
// sent again by the retry.
func TestFCMRetryOnlyUnsettledTokens(t *testing.T) {
	f, d, _, msg := fcmSetup(t, true)
	f.fate["tok-later"] = "busy"
	m := msg(pushInput("tok-ok", "tok-later", "unregistered"))
	res, err := d.Deliver(t.Context(), m)
	ce := requireCode(t, err, channel.CodeDelivery, true)
	require.Equal(t, 7*time.Second, ce.RetryAfter)
	require.Contains(t, ce.Error(), "1 of 3 recipients not delivered")
	require.ElementsMatch(t, []string{"tok-ok", "unregistered"}, res.Done)
	require.Contains(t, string(res.Body), `"recipient":"unregistered","status":"refused"`)

	// The worker hands the settled tokens to the next attempt.
	delete(f.fate, "tok-later")
	m.Done = map[string]bool{}
	for _, r := range res.Done {
		m.Done[r] = true
	}
	res, err = d.Deliver(t.Context(), m)
	require.NoError(t, err)
	require.Equal(t, []string{"tok-later"}, res.Done)
	var tokens []string
	for _, s := range f.messages() {
		tokens = append(tokens, s["token"].(string))
	}
	require.Equal(t, []string{"tok-ok", "tok-later"}, tokens, "tok-ok got it exactly once")

	// Every token refused: INVALID_RECIPIENT.
	_, err = d.Deliver(t.Context(), msg(pushInput("unregistered", "badtoken")))
	requireCode(t, err, channel.CodeInvalidRecipient, false)
}

// A changed provider (a reload with new credentials) gets a new client;
// an unchanged one keeps its cached token.
func TestClientsFollowReloads(t *testing.T) {
	key0, key1 := rsaKey(t, 0), rsaKey(t, 1)
	f := newFakeFCM(t, &key1.PublicKey)
	d := New(Config{})
	prov := fmt.Sprintf("      fcm-main: { type: fcm, credentials_file_env: FCM_CREDS, base_url: %q }\n", f.URL)
	def, providers := testConfig(t, "fcm-main", prov, map[string]string{"FCM_CREDS": serviceAccountJSON(t, key0, f.URL+"/token")})
	_, err := d.Deliver(t.Context(), message(def, providers, pushInput("a")))
	requireCode(t, err, channel.CodeSecretExpired, false)

	def, providers = testConfig(t, "fcm-main", prov, map[string]string{"FCM_CREDS": serviceAccountJSON(t, key1, f.URL+"/token")})
	_, err = d.Deliver(t.Context(), message(def, providers, pushInput("a")))
	require.NoError(t, err, "the new key is used after the reload")
	def, providers = testConfig(t, "fcm-main", prov, map[string]string{"FCM_CREDS": serviceAccountJSON(t, key1, f.URL+"/token")})
	_, err = d.Deliver(t.Context(), message(def, providers, pushInput("b")))
	require.NoError(t, err)
	require.Equal(t, 1, f.grantCount(), "an unchanged provider keeps its token across reloads")
	require.Equal(t, 1, d.fcm.Len())
}

func apnsSetup(t *testing.T) (*fakeAPNs, *Deliverer, *clock, func(string) *channel.Message) {
	key, pemKey := p8(t)
	f := newFakeAPNs(t, &key.PublicKey)
	def, providers := testConfig(t, "apns-main", fmt.Sprintf("      apns-main: { type: apns, key_file_env: APNS_KEY, key_id: KEY1234567, team_id: TEAM123456, topic: com.acme.app, base_url: %q }\n", f.URL),
		map[string]string{"APNS_KEY": pemKey})
	clk := newClock()
	d := New(Config{Now: clk.Now, TLSConfig: f.Client().Transport.(*http.Transport).TLSClientConfig})
	t.Cleanup(d.Close)
	return f, d, clk, func(in string) *channel.Message { return message(def, providers, in) }
}

func TestAPNsDeliversOverHTTP2(t *testing.T) {
	f, d, clk, msg := apnsSetup(t)
	res, err := d.Deliver(t.Context(), msg(pushInput("aaaa", "bbbb")))
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"aaaa", "bbbb"}, res.Done)
	got := f.messages()
	require.Len(t, got, 2)
	require.Equal(t, map[string]any{"alert": map[string]any{"title": "Order A-1", "body": "Hi Ann"}}, got[0]["aps"])
	require.Equal(t, "A-1", got[0]["order"], "data keys sit beside aps")
	require.Equal(t, "alert", got[0]["_push_type"])

	_, err = d.Deliver(t.Context(), msg(pushInput("cccc")))
	require.NoError(t, err)
	require.Equal(t, 1, f.jwtCount(), "the provider token is reused")
	clk.Add(51 * time.Minute)
	_, err = d.Deliver(t.Context(), msg(pushInput("dddd")))
	require.NoError(t, err)
	require.Equal(t, 2, f.jwtCount(), "a new provider token after 50 minutes")
}

func TestAPNsClassifies(t *testing.T) {
	for _, tc := range []struct {
		token      string
		code       string
		retryable  bool
		retryAfter time.Duration
		contains   string
	}{
		{"bad", channel.CodeInvalidRecipient, false, 0, "BadDeviceToken"},
		{"gone", channel.CodeInvalidRecipient, false, 0, "410 Unregistered"},
		{"busy", channel.CodeDelivery, true, 30 * time.Second, "TooManyRequests"},
	} {
		t.Run(tc.token, func(t *testing.T) {
			_, d, _, msg := apnsSetup(t)
			res, err := d.Deliver(t.Context(), msg(pushInput(tc.token)))
			ce := requireCode(t, err, tc.code, tc.retryable)
			require.Equal(t, tc.retryAfter, ce.RetryAfter)
			require.Contains(t, ce.Error(), tc.contains)
			require.Contains(t, string(res.Body), tc.contains[strings.LastIndex(tc.contains, " ")+1:])
		})
	}
	t.Run("expired provider token is renewed once", func(t *testing.T) {
		f, d, _, msg := apnsSetup(t)
		_, err := d.Deliver(t.Context(), msg(pushInput("expired-once")))
		require.NoError(t, err)
		require.Equal(t, 2, f.jwtCount())
	})
	t.Run("a key APNs does not know is SECRET_EXPIRED", func(t *testing.T) {
		other, _ := p8(t)
		f, d, _, msg := apnsSetup(t)
		f.key = &other.PublicKey
		_, err := d.Deliver(t.Context(), msg(pushInput("aaaa", "bbbb")))
		ce := requireCode(t, err, channel.CodeSecretExpired, false)
		require.Contains(t, ce.Error(), "InvalidProviderToken")
	})
	t.Run("a certificate that does not verify is permanent", func(t *testing.T) {
		f, _, _, msg := apnsSetup(t)
		_ = f
		_, err := New(Config{}).Deliver(t.Context(), msg(pushInput("aaaa")))
		requireCode(t, err, channel.CodeDelivery, false)
	})
}

func expoSetup(t *testing.T) (*fakeExpo, *Deliverer, func(string) *channel.Message) {
	f := newFakeExpo(t)
	def, providers := testConfig(t, "expo-main", fmt.Sprintf("      expo-main: { type: expo, access_token_env: EXPO_TOKEN, base_url: %q }\n", f.URL),
		map[string]string{"EXPO_TOKEN": "expo-access-token"})
	d := New(Config{})
	t.Cleanup(d.Close)
	return f, d, func(in string) *channel.Message { return message(def, providers, in) }
}

func TestExpo(t *testing.T) {
	f, d, msg := expoSetup(t)
	res, err := d.Deliver(t.Context(), msg(pushInput("ExponentPushToken[a]", "ExponentPushToken[gone]")))
	require.NoError(t, err, "one delivered, one refused: sent, with the refusal recorded")
	require.ElementsMatch(t, []string{"ExponentPushToken[a]", "ExponentPushToken[gone]"}, res.Done)
	require.Contains(t, string(res.Body), "DeviceNotRegistered")
	require.Len(t, f.sends, 1, "one request for every token")
	require.Equal(t, "Order A-1", f.sends[0][0]["title"])
	require.Equal(t, map[string]any{"order": "A-1", "n": 2.0, "deep": map[string]any{"x": true}}, f.sends[0][0]["data"])

	_, err = d.Deliver(t.Context(), msg(pushInput("ExponentPushToken[gone]")))
	requireCode(t, err, channel.CodeInvalidRecipient, false)
	_, err = d.Deliver(t.Context(), msg(pushInput("ExponentPushToken[rate]", "ExponentPushToken[b]")))
	requireCode(t, err, channel.CodeDelivery, true)

	f.status = 429
	_, err = d.Deliver(t.Context(), msg(pushInput("ExponentPushToken[a]")))
	ce := requireCode(t, err, channel.CodeDelivery, true)
	require.Equal(t, 12*time.Second, ce.RetryAfter)
	f.status = 0

	f.accessToken = "rotated"
	_, err = d.Deliver(t.Context(), msg(pushInput("ExponentPushToken[a]")))
	ce = requireCode(t, err, channel.CodeSecretExpired, false)
	require.NotContains(t, ce.Error(), "expo-access-token")
}

func TestEndpoint(t *testing.T) {
	d := New(Config{})
	for _, tc := range []struct{ prov, name, want string }{
		{"      p: { type: fcm, credentials_file_env: X }\n", "p", "https://fcm.googleapis.com"},
		{"      p: { type: apns, key_file_env: X, key_id: K, team_id: T, topic: t }\n", "p", "https://api.push.apple.com"},
		{"      p: { type: expo }\n", "p", "https://exp.host"},
		{"      p: { type: expo, base_url: \"HTTP://Localhost:80/x\" }\n", "p", "http://localhost"},
	} {
		def, providers := testConfig(t, tc.name, tc.prov, map[string]string{"X": "x"})
		got, err := d.Endpoint(message(def, providers, `{}`))
		require.NoError(t, err)
		require.Equal(t, tc.want, got)
	}
}
