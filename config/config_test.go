package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/config"
)

func env(m map[string]string) func(string) string {
	return func(k string) string {
		if v, ok := m[k]; ok {
			return v
		}
		return providerSecrets[k]
	}
}

// providerSecrets are the variables the sample's providers name.
var providerSecrets = map[string]string{
	"SMTP_USER": "shop", "SMTP_PASS": "pw", "FCM_CREDENTIALS": "/etc/herald/fcm.json",
	"TWILIO_SID": "AC123", "TWILIO_TOKEN": "tok",
}

const sample = `
workspaces:
  - id: acme
    keys:
      - { name: ci, sha256: "%s", scopes: [notifications:send, notifications:read] }
    products:
      - tag: my-app
        id: prod_123
        envs: [dev, prd]
        notifications:
          - tag: orders
            messages:
              - tag: confirmation
                email:    { provider: smtp-main, from: "shop@example.com", subject: "Order {{.order_id}}", template: "<p>Hi {{.name}}</p>" }
                push:     { provider: fcm-main, title: "Order {{.order_id}}", body: "On its way" }
                sms:      { provider: twilio-main, body: "Order {{.order_id}} shipped" }
                callback: { url: "https://hooks.example.com/orders/{id}", method: POST, secret_env: ACME_HOOK_SECRET }
    providers:
      smtp-main:   { type: smtp, host: smtp.example.com, port: 587, username_env: SMTP_USER, password_env: SMTP_PASS }
      fcm-main:    { type: fcm, credentials_file_env: FCM_CREDENTIALS }
      twilio-main: { type: twilio, account_sid_env: TWILIO_SID, auth_token_env: TWILIO_TOKEN, from: "+15550100" }
`

func TestAPIExampleLoadsWithDefaults(t *testing.T) {
	yaml := strings.Replace(sample, "%s", config.HashKey("hk_secret"), 1)
	c, err := config.Parse([]byte(yaml), env(map[string]string{"ACME_HOOK_SECRET": "s3cret"}))
	require.NoError(t, err)
	require.Equal(t, ":8080", c.HTTPAddr)
	require.Equal(t, "redis://127.0.0.1:6379/0", c.RedisURL)
	require.Equal(t, "", c.NATSURL)
	require.Equal(t, "./data", c.DataDir)
	require.False(t, c.AllowPrivateNetworks)
	require.Equal(t, 90*24*time.Hour, c.Retention.D())
	require.Equal(t, int64(1<<20), c.MaxBodyBytes)
	require.Equal(t, 3, *c.Delivery.Retries)

	m := c.Message("acme", "my-app", "orders:confirmation")
	require.NotNil(t, m)
	require.Equal(t, []string{"email", "push", "sms", "callback"}, m.Channels())
	require.Equal(t, []byte("s3cret"), m.Callback.Secret())
	require.Equal(t, "POST", m.Callback.Method)
	require.Nil(t, c.Message("acme", "my-app", "orders:nope"))
	require.Nil(t, c.Message("other", "my-app", "orders:confirmation"))
	require.True(t, c.Product("acme", "my-app").HasEnv("prd"))
	require.False(t, c.Product("acme", "my-app").HasEnv("stg"))

	p, ok := c.Authenticate("hk_secret")
	require.True(t, ok)
	require.Equal(t, "acme", p.Workspace)
	require.True(t, p.Can(config.ScopeSend))
	require.False(t, p.Can(config.ScopeReprocess))
	_, ok = c.Authenticate("hk_wrong")
	require.False(t, ok)
	_, ok = c.Authenticate("")
	require.False(t, ok)
}

func TestEnvironmentOverridesFile(t *testing.T) {
	c, err := config.Parse([]byte("http_addr: \":9000\"\nredis_url: redis://file:6379/0\n"), env(map[string]string{
		"HERALD_HTTP_ADDR": "127.0.0.1:7000", "HERALD_REDIS_URL": "redis://envhost:6380/2",
		"HERALD_NATS_URL": "nats://n1:4222", "HERALD_DATA_DIR": "/tmp/herald", "HERALD_ALLOW_PRIVATE_NETWORKS": "true",
	}))
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:7000", c.HTTPAddr)
	require.Equal(t, "redis://envhost:6380/2", c.RedisURL)
	require.Equal(t, "nats://n1:4222", c.NATSURL)
	require.Equal(t, "/tmp/herald", c.DataDir)
	require.True(t, c.AllowPrivateNetworks)

	_, err = config.Parse(nil, env(map[string]string{"HERALD_ALLOW_PRIVATE_NETWORKS": "yes please"}))
	require.ErrorContains(t, err, "HERALD_ALLOW_PRIVATE_NETWORKS")
}

func TestBootstrap(t *testing.T) {
	c, err := config.Parse(nil, env(map[string]string{"HERALD_BOOTSTRAP_WORKSPACE": "dev", "HERALD_BOOTSTRAP_KEY": "hk_dev"}))
	require.NoError(t, err)
	require.NotNil(t, c.Workspace("dev"))
	p, ok := c.Authenticate("hk_dev")
	require.True(t, ok)
	require.Equal(t, "dev", p.Workspace)
	require.Equal(t, config.AllScopes, p.Scopes())

	// An existing workspace gains the key.
	yaml := strings.Replace(sample, "%s", config.HashKey("hk_secret"), 1)
	c, err = config.Parse([]byte(yaml), env(map[string]string{"ACME_HOOK_SECRET": "x", "HERALD_BOOTSTRAP_WORKSPACE": "acme", "HERALD_BOOTSTRAP_KEY": "hk_boot"}))
	require.NoError(t, err)
	p, ok = c.Authenticate("hk_boot")
	require.True(t, ok)
	require.True(t, p.Can(config.ScopeReprocess))
	_, ok = c.Authenticate("hk_secret")
	require.True(t, ok)

	_, err = config.Parse(nil, env(map[string]string{"HERALD_BOOTSTRAP_WORKSPACE": "dev"}))
	require.ErrorContains(t, err, "must be set together")
}

func TestEveryProblemReportedWithItsPath(t *testing.T) {
	yaml := `
http_addr: "nope"
retention: 10m
delivery: { retries: -1, jitter: 2, concurrency: -1, channels: [fax], endpoint_concurrency: -2, retry_after_max: 10ms, reconcile_after: 5m }
workspaces:
  - id: acme
    keys:
      - { name: "", sha256: "abc", scopes: [notifications:sned] }
    products:
      - tag: app
        envs: []
        notifications:
          - tag: orders
            messages:
              - tag: confirmation
                email: { provider: missing, subject: "{{.x" }
                callback: { url: "ftp://{host}/x", method: TRACE, secret_env: UNSET_SECRET, headers: { Host: x, X-Ok: "a\nb" } }
              - tag: other
                callback: { url: "https://x.example/", secret_env: BAD_WHSEC }
              - tag: confirmation
      - tag: app
        envs: [prd, prd, "bad env"]
  - id: acme
`
	_, err := config.Parse([]byte(yaml), env(map[string]string{"BAD_WHSEC": "whsec_not*base64"}))
	var ve *config.ValidationError
	require.True(t, errors.As(err, &ve), "%v", err)
	paths := map[string]bool{}
	for _, p := range ve.Problems {
		paths[p.Path] = true
	}
	for _, want := range []string{
		"http_addr", "retention", "delivery.retries", "delivery.jitter", "delivery.concurrency", "delivery.channels[0]",
		"delivery.workspace_concurrency", "delivery.endpoint_concurrency", "delivery.retry_after_max", "delivery.reconcile_after",
		"workspaces[0].keys[0].name", "workspaces[0].keys[0].sha256", "workspaces[0].keys[0].scopes[0]",
		"workspaces[0].products[0].envs",
		"workspaces[0].products[0].notifications[0].messages[0].email.provider",
		"workspaces[0].products[0].notifications[0].messages[0].email.from",
		"workspaces[0].products[0].notifications[0].messages[0].email.subject",
		"workspaces[0].products[0].notifications[0].messages[0].callback.url",
		"workspaces[0].products[0].notifications[0].messages[0].callback.method",
		"workspaces[0].products[0].notifications[0].messages[0].callback.secret_env",
		"workspaces[0].products[0].notifications[0].messages[0].callback.headers.Host",
		"workspaces[0].products[0].notifications[0].messages[0].callback.headers.X-Ok",
		"workspaces[0].products[0].notifications[0].messages[1].callback.secret_env",
		"workspaces[0].products[0].notifications[0].messages[2].tag",
		"workspaces[0].products[0].notifications[0].messages[2]",
		"workspaces[0].products[1].tag",
		"workspaces[0].products[1].envs[1]",
		"workspaces[0].products[1].envs[2]",
		"workspaces[1].id",
	} {
		require.True(t, paths[want], "missing problem at %s; got:\n%v", want, err)
	}
	require.Contains(t, err.Error(), "workspaces[0].products[0].envs: at least one env is required")
}

func TestUnknownFieldAndBadTypes(t *testing.T) {
	_, err := config.Parse([]byte("workspaces:\n  - id: acme\n    prodcuts: []\n"), env(nil))
	require.ErrorContains(t, err, "line 3")
	require.ErrorContains(t, err, "prodcuts")
	_, err = config.Parse([]byte("retention: soon\n"), env(nil))
	require.ErrorContains(t, err, "invalid duration")
	c, err := config.Parse([]byte("retention: 30d\n"), env(nil))
	require.NoError(t, err)
	require.Equal(t, 30*24*time.Hour, c.Retention.D())
}

func TestLoadFile(t *testing.T) {
	_, err := config.Load(filepath.Join(t.TempDir(), "missing.yaml"))
	require.ErrorContains(t, err, "no such file")
	p := filepath.Join(t.TempDir(), "herald.yaml")
	require.NoError(t, os.WriteFile(p, []byte("http_addr: \":8181\"\n"), 0o600))
	t.Setenv("HERALD_HTTP_ADDR", "")
	c, err := config.Load(p)
	require.NoError(t, err)
	require.Equal(t, ":8181", c.HTTPAddr)
}

func TestCallbackURLTemplates(t *testing.T) {
	for url, ok := range map[string]bool{
		"https://hooks.example.com/orders/{id}":         true,
		"http://127.0.0.1:9099/x/{a}/{b_2}?q=1":         true,
		"https://{tenant}.example.com/x":                false,
		"https://hooks.example.com/{not valid}":         false,
		"ftp://hooks.example.com/x":                     false,
		"https://user:pass@hooks.example.com/x":         false,
		"https:///nohost":                               false,
		"":                                              false,
		"https://hooks.example.com/orders/{id}#frag{x}": true,
	} {
		err := config.CheckCallbackURL(url)
		require.Equal(t, ok, err == nil, "%q: %v", url, err)
	}
	require.Equal(t, []string{"a", "b"}, config.CallbackParams("https://x/{a}/{b}/{a}"))
}

func TestKeys(t *testing.T) {
	k1, err := config.GenerateKey()
	require.NoError(t, err)
	k2, err := config.GenerateKey()
	require.NoError(t, err)
	require.NotEqual(t, k1, k2)
	require.True(t, strings.HasPrefix(k1, "hk_"))
	require.Len(t, k1, 46)
	require.Len(t, config.HashKey(k1), 64)
	s, err := config.ParseScopes("notifications:send, jobs:read,notifications:send")
	require.NoError(t, err)
	require.Equal(t, []string{"notifications:send", "jobs:read"}, s)
	_, err = config.ParseScopes("notifications:sned")
	require.ErrorContains(t, err, "unknown scope")
	_, err = config.ParseScopes("")
	require.Error(t, err)
}

func TestTemplatesCompiledAtLoad(t *testing.T) {
	yaml := strings.Replace(sample, "%s", config.HashKey("hk_secret"), 1)
	c, err := config.Parse([]byte(yaml), env(map[string]string{"ACME_HOOK_SECRET": "x"}))
	require.NoError(t, err)
	m := c.Message("acme", "my-app", "orders:confirmation")
	out, err := m.Email.SubjectTemplate().Execute(map[string]any{"order_id": 7})
	require.NoError(t, err)
	require.Equal(t, "Order 7", out)
	out, err = m.Email.HTMLTemplate().Execute(map[string]any{"name": "<b>"})
	require.NoError(t, err)
	require.Equal(t, "<p>Hi &lt;b&gt;</p>", out, "HTML templates escape")
	_, err = m.SMS.BodyTemplate().Execute(map[string]any{})
	require.ErrorContains(t, err, `map has no entry for key "order_id"`, "a missing variable is an error")
	require.Equal(t, "On its way", must(m.Push.BodyTemplate().Execute(nil)))
	require.Equal(t, "Order {{.order_id}}", m.Push.TitleTemplate().Source(), "the unresolved template is kept")

	p := c.Workspace("acme").Providers["twilio-main"]
	require.Equal(t, "tok", p.Secret("auth_token_env"))
	require.NotContains(t, p.Fingerprint(), "tok")
	require.Equal(t, 24*time.Hour, c.CacheWindowFor("acme"))
}

func must(s string, err error) string {
	if err != nil {
		panic(err)
	}
	return s
}

func TestChannelProblems(t *testing.T) {
	yaml := `
cache_window: 10ms
workspaces:
  - id: acme
    cache_window: 1h
    providers:
      smtp-main: { type: smtp, host: mail.example.com, username_env: SMTP_USER, auth: cram }
      gw: { type: http, url: "https://sms.example.com", method: DELETE, body: "{{.To" , headers: { Host: x } }
      fcm-main: { type: fcm, credentials_file_env: MISSING_CREDS }
    products:
      - tag: app
        envs: [prd]
        sessions:
          - { tag: s1 }
          - { tag: s2, hs256_secret_env: SHORT }
          - { tag: s3, rs256_public_key_env: NOT_PEM }
          - { tag: s3, hs256_secret_env: LONG }
        notifications:
          - tag: orders
            messages:
              - tag: m
                email: { provider: smtp-main, from: "not an address", subject: "{{.x" }
                push: { provider: fcm-main }
                sms: { provider: gw }
`
	_, err := config.Parse([]byte(yaml), env(map[string]string{"SMTP_USER": "u", "SHORT": "short", "NOT_PEM": "xyz", "LONG": strings.Repeat("k", 32)}))
	var ve *config.ValidationError
	require.True(t, errors.As(err, &ve), "%v", err)
	got := map[string]bool{}
	for _, p := range ve.Problems {
		got[p.Path] = true
	}
	for _, path := range []string{
		"cache_window",
		"workspaces[0].providers.smtp-main.auth",
		"workspaces[0].providers.smtp-main.password_env",
		"workspaces[0].providers.gw.method",
		"workspaces[0].providers.gw.body",
		"workspaces[0].providers.gw.headers.Host",
		"workspaces[0].providers.fcm-main.credentials_file_env",
		"workspaces[0].products[0].sessions[0]",
		"workspaces[0].products[0].sessions[1].hs256_secret_env",
		"workspaces[0].products[0].sessions[2].rs256_public_key_env",
		"workspaces[0].products[0].sessions[3].tag",
		"workspaces[0].products[0].notifications[0].messages[0].email.from",
		"workspaces[0].products[0].notifications[0].messages[0].email",
		"workspaces[0].products[0].notifications[0].messages[0].email.subject",
		"workspaces[0].products[0].notifications[0].messages[0].push",
		"workspaces[0].products[0].notifications[0].messages[0].sms.body",
	} {
		require.True(t, got[path], "no problem reported at %s; got %v", path, ve.Problems)
	}
	require.NotContains(t, err.Error(), strings.Repeat("k", 32), "secrets never appear in problems")
}

// Process settings of issue 9: redis_url forms (a cluster included),
// pprof_addr, and the problems of each, never echoing a password.
func TestRedisURLPprofAndRateLimits(t *testing.T) {
	for _, u := range []string{
		"redis://127.0.0.1:6379/0", "rediss://:pw@r:6380/1", "unix:///run/redis.sock",
		"redis+cluster://a:7000,b:7000,c:7000", "redis://a:7000,redis://b:7000",
	} {
		_, err := config.Parse(nil, env(map[string]string{"HERALD_REDIS_URL": u}))
		require.NoError(t, err, u)
	}
	_, err := config.Parse(nil, env(map[string]string{"HERALD_REDIS_URL": "redis+cluster://:s3cret@a:7000,b:7000/2"}))
	require.ErrorContains(t, err, "redis_url: a Redis Cluster has no database number")
	require.NotContains(t, err.Error(), "s3cret")
	_, err = config.Parse(nil, env(map[string]string{"HERALD_REDIS_URL": "http://x"}))
	require.ErrorContains(t, err, "redis_url: unknown scheme")

	c, err := config.Parse([]byte("pprof_addr: 127.0.0.1:6060\n"), env(nil))
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:6060", c.PprofAddr)
	c, err = config.Parse(nil, env(map[string]string{"HERALD_PPROF_ADDR": "127.0.0.1:6061"}))
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:6061", c.PprofAddr)
	_, err = config.Parse([]byte("pprof_addr: nope\n"), env(nil))
	require.ErrorContains(t, err, "pprof_addr: want host:port")
	_, err = config.Parse([]byte("http_addr: \":8080\"\npprof_addr: \":8080\"\n"), env(nil))
	require.ErrorContains(t, err, "pprof_addr: must differ from http_addr")

	key := func(extra string) string {
		return "workspaces:\n  - id: acme\n    keys:\n      - { name: k, sha256: \"" + config.HashKey("hk_k") + "\", scopes: [notifications:send]" + extra + " }\n"
	}
	c, err = config.Parse([]byte(key(", rate_limit: { per_second: 2.5 }")), env(nil))
	require.NoError(t, err)
	p, ok := c.Authenticate("hk_k")
	require.True(t, ok)
	require.Equal(t, &config.RateLimit{PerSecond: 2.5, Burst: 3}, p.RateLimit(), "burst defaults to per_second rounded up")
	require.Equal(t, config.HashKey("hk_k"), p.KeyID())
	c, err = config.Parse([]byte(key("")), env(nil))
	require.NoError(t, err)
	p, _ = c.Authenticate("hk_k")
	require.Nil(t, p.RateLimit())
	_, err = config.Parse([]byte(key(", rate_limit: { per_second: -1, burst: -2 }")), env(nil))
	require.ErrorContains(t, err, "workspaces[0].keys[0].rate_limit.per_second: must be positive")
	require.ErrorContains(t, err, "workspaces[0].keys[0].rate_limit.burst: must not be negative")
}
