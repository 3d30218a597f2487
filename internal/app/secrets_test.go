package app_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/heraldhq/herald/internal/app"
	"github.com/heraldhq/herald/internal/apptest"
)

// syncBuffer collects log lines from every goroutine of a process.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// debugJSONLogger is the production JSON encoder at debug level, into buf:
// everything any part logs, as an operator's log pipeline would get it.
func debugJSONLogger(buf *syncBuffer) *zap.Logger {
	enc := zap.NewProductionEncoderConfig()
	return zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.AddSync(buf), zapcore.DebugLevel))
}

// redisDump is every value stored in Redis (strings, lists, hashes, sets),
// as one string to search.
func redisDump(t *testing.T, c *redis.Client) string {
	t.Helper()
	ctx := context.Background()
	var out strings.Builder
	keys, err := c.Keys(ctx, "*").Result()
	require.NoError(t, err)
	for _, k := range keys {
		out.WriteString(k + "\n")
		switch c.Type(ctx, k).Val() {
		case "string":
			out.WriteString(c.Get(ctx, k).Val())
		case "list":
			out.WriteString(strings.Join(c.LRange(ctx, k, 0, -1).Val(), "\n"))
		case "hash":
			for f, v := range c.HGetAll(ctx, k).Val() {
				out.WriteString(f + "=" + v + "\n")
			}
		case "zset":
			out.WriteString(strings.Join(c.ZRange(ctx, k, 0, -1).Val(), "\n"))
		}
		out.WriteString("\n")
	}
	return out.String()
}

// No secret, token or API key appears in the logs (at debug level, JSON),
// in the log entries and attempts in Redis, in API answers or in /metrics:
// sends on every channel and provider with sessions, signed callbacks,
// failures that name credentials (a rotated Twilio token, a wrong API key,
// bad sessions), reads of the log.
func TestNoSecretsInLogsOrEntries(t *testing.T) {
	logs := &syncBuffer{}
	withLogs := func(o *app.Options) { o.Logger = debugJSONLogger(logs) }

	// Part 1: every provider, sessions.
	rc := apptest.NewReceiver(t)
	p := apptest.StartProviders(t)
	e := &channelsEnv{p: p, rc: rc}
	env := map[string]string{"SESSION_HS": hsSecret}
	for k, v := range p.Env {
		env[k] = v
	}
	e.h = apptest.Start(t, apptest.Options{YAML: strings.Replace(channelsConfig(rc.URL, p, ""),
		"          - { tag: partner, rs256_public_key_env: SESSION_RS }\n", "", 1), Env: env,
		AppOpts: func(o *app.Options) { o.ProviderTLS = p.ClientTLS; withLogs(o) }})
	token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "u1", "iss": "shop-auth", "exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte(hsSecret))
	require.NoError(t, err)
	badToken, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": "shop-auth"}).SignedString([]byte("not-the-secret-not-the-secret-xx"))
	require.NoError(t, err)
	session := map[string]any{"session": "user-session:" + token}
	var ids []string
	for _, s := range []struct {
		channel, notification string
		input                 map[string]any
	}{
		{"email", "orders:confirmation", map[string]any{"recipients": []string{"ann@example.com"}, "subject": map[string]any{"order_id": 1}, "template": map[string]any{"name": "Ann"}}},
		{"push", "orders:confirmation", map[string]any{"device_tokens": []string{"fcm-tok"}, "title": map[string]any{"order_id": 1}}},
		{"push", "orders:apple", map[string]any{"device_tokens": []string{"a1b2"}, "title": map[string]any{"order_id": 1}}},
		{"push", "orders:expo", map[string]any{"device_tokens": []string{"ExponentPushToken[x]"}, "title": map[string]any{"order_id": 1}}},
		{"sms", "orders:confirmation", map[string]any{"recipients": []string{"+15551230001"}, "body": map[string]any{"order_id": 1}}},
		{"sms", "orders:gateway", map[string]any{"recipients": []string{"+15551230002"}, "body": map[string]any{"code": 1}}},
		{"callback", "orders:confirmation", map[string]any{"params": map[string]any{"id": "1"}}},
	} {
		ids = append(ids, accepted(t, e.send(s.channel, s.notification, s.input, session)))
	}
	for _, id := range ids {
		e.h.WaitStatus(id, "sent", 15*time.Second)
	}
	// Twilio no longer accepts our token: the failure names the variable, not the value.
	p.SetTwilioToken("rotated-token")
	failed := accepted(t, e.send("sms", "orders:confirmation", map[string]any{"recipients": []string{"+15551230003"}, "body": map[string]any{"order_id": 2}}, session))
	require.Equal(t, "SECRET_EXPIRED", e.h.WaitStatus(failed, "failed", 15*time.Second)["error_code"])
	r := e.send("callback", "orders:confirmation", map[string]any{"params": map[string]any{"id": "2"}}, map[string]any{"session": "user-session:" + badToken})
	require.Equal(t, http.StatusUnauthorized, r.Status)
	answers := string(r.Body)
	r = e.h.Do("GET", "/v1/messages", "hk_a_wrong_key_that_must_not_be_logged_0000", nil)
	require.Equal(t, http.StatusUnauthorized, r.Status)
	answers += string(r.Body)
	for _, id := range append(ids, failed) {
		answers += string(e.h.Do("GET", "/v1/messages/"+id, apptest.KeyAcme, nil).Body)
		answers += string(e.h.Do("GET", "/v1/messages/"+id+"/attempts", apptest.KeyAcme, nil).Body)
	}
	answers += string(e.h.Do("GET", "/metrics", "", nil).Body)
	stored := redisDump(t, e.h.Redis.Client)

	// Part 2: signed callbacks (Standard Webhooks secret).
	rc2 := apptest.NewReceiver(t)
	h2 := apptest.Start(t, apptest.Options{YAML: apptest.Config(rc2.URL), AppOpts: withLogs})
	sr := h2.Do("POST", "/v1/notifications/callback/send", apptest.KeyAcme, map[string]any{
		"product": "shop", "env": "prd", "notification": "orders:signed", "input": map[string]any{"body": map[string]any{"x": 1}}})
	require.Equal(t, http.StatusAccepted, sr.Status, string(sr.Body))
	signed := sr.JSON()["messageId"].(string)
	h2.WaitStatus(signed, "sent", 15*time.Second)
	require.NotEmpty(t, rc2.Requests()[0].Header.Get("webhook-signature"), "the callback was signed")
	answers += string(h2.Do("GET", "/v1/messages/"+signed+"/attempts", apptest.KeyAcme, nil).Body)
	stored += redisDump(t, h2.Redis.Client)

	require.NoError(t, e.h.Stop(10*time.Second))
	require.NoError(t, h2.Stop(10*time.Second))
	logged := logs.String()
	require.Contains(t, logged, `"message_id"`, "the capture holds the delivery logs")

	secrets := map[string]string{
		"API key":            apptest.KeyAcme,
		"wrong API key":      "hk_a_wrong_key_that_must_not_be_logged_0000",
		"session token":      token,
		"bad session token":  badToken,
		"session secret":     hsSecret,
		"webhook secret":     "whsec_dGVzdC1zZWNyZXQtZm9yLWhlcmFsZA==",
		"webhook secret key": "dGVzdC1zZWNyZXQtZm9yLWhlcmFsZA==",
		"rotated token":      "rotated-token",
	}
	for name, v := range p.Env {
		secrets["provider "+name] = v
	}
	// Keys are multi-line PEM: search for their body lines too.
	for name, v := range map[string]string{"FCM key": p.Env["FCM_CREDENTIALS"], "APNs key": p.Env["APNS_KEY"]} {
		if blk, _ := pem.Decode([]byte(v)); blk != nil {
			_, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
			require.NoError(t, err)
		}
		for i, line := range strings.Split(strings.ReplaceAll(v, `\n`, "\n"), "\n") {
			if len(line) > 40 && !strings.Contains(line, "PRIVATE KEY") && !strings.ContainsAny(line, `"{}`) {
				secrets[fmt.Sprintf("%s line %d", name, i)] = line
			}
		}
	}
	delete(secrets, "provider SMTP_USER") // a mailbox address, not a secret
	delete(secrets, "provider TWILIO_SID")
	for name, v := range secrets {
		require.NotEmpty(t, v, name)
		// Not require.NotContains: its failure would print the secret-laden haystack.
		require.False(t, strings.Contains(logged, v), "%s appears in the logs", name)
		require.False(t, strings.Contains(stored, v), "%s is stored in Redis", name)
		require.False(t, strings.Contains(answers, v), "%s appears in an API answer", name)
	}
}
