// Package apptest runs whole Herald processes in a test: a real
// redis-server, the embedded JetStream, the HTTP API on a loopback port and
// a loopback receiver that records every callback it gets.
package apptest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/internal/app"
	"github.com/heraldhq/herald/internal/testutil"
)

// Keys of the test configuration.
const (
	KeyAcme     = "hk_test_acme_all_scopes_000000000000000000"
	KeyAcmeRead = "hk_test_acme_read_only_00000000000000000000"
	KeyGlobex   = "hk_test_globex_all_scopes_00000000000000000"
)

// Config returns the YAML of the test configuration: workspaces acme and
// globex, product shop (envs dev, prd) with orders:confirmation calling
// receiverURL + "/orders/{id}", and fast retries. extra is appended at the
// top level (it may override nothing already set; use Tweak for that).
func Config(receiverURL string) string {
	return fmt.Sprintf(`
http_addr: "127.0.0.1:0"
log: { level: warn }
nats: { listen: "127.0.0.1:-1", ack_wait: 2s }
delivery:
  retries: 3
  backoff_initial: 20ms
  backoff_max: 200ms
  timeout: 1s
  concurrency: 8
breaker: { failures: 50, open_for: 300ms }
workspaces:
  - id: acme
    keys:
      - { name: all, sha256: %q, scopes: [notifications:send, notifications:read, notifications:reprocess, jobs:write, jobs:read] }
      - { name: reader, sha256: %q, scopes: [notifications:read] }
    products:
      - tag: shop
        id: prod_shop
        envs: [dev, prd]
        notifications:
          - tag: orders
            messages:
              - tag: confirmation
                callback: { url: "%s/orders/{id}", method: POST, headers: { X-Source: herald-test } }
              - tag: signed
                callback: { url: "%s/signed", secret_env: TEST_HOOK_SECRET }
  - id: globex
    keys:
      - { name: all, sha256: %q, scopes: [notifications:send, notifications:read, notifications:reprocess, jobs:read, jobs:write] }
    products:
      - tag: shop
        envs: [prd]
        notifications:
          - tag: orders
            messages:
              - tag: confirmation
                callback: { url: "%s/globex/{id}" }
`, config.HashKey(KeyAcme), config.HashKey(KeyAcmeRead), receiverURL, receiverURL, config.HashKey(KeyGlobex), receiverURL)
}

// Env is the environment the test configuration reads.
func Env(extra map[string]string) func(string) string {
	return func(k string) string {
		if v, ok := extra[k]; ok {
			return v
		}
		switch k {
		case "TEST_HOOK_SECRET":
			return "whsec_dGVzdC1zZWNyZXQtZm9yLWhlcmFsZA=="
		case config.EnvAllowPrivate:
			return "true"
		}
		return ""
	}
}

// Request is one callback the receiver got.
type Request struct {
	Method string
	Path   string
	Query  string
	Header http.Header
	Body   []byte
	At     time.Time
}

// Receiver is a loopback webhook endpoint. Respond decides each answer
// (default 200); it gets the request's 1-based number for that path.
type Receiver struct {
	*httptest.Server
	mu       sync.Mutex
	requests []Request
	byPath   map[string]int
	Respond  func(n int, r *http.Request, w http.ResponseWriter)
}

// NewReceiver starts a receiver for the duration of the test.
func NewReceiver(t testing.TB) *Receiver {
	rc := newReceiver()
	t.Cleanup(rc.Close)
	return rc
}

func newReceiver() *Receiver {
	rc := &Receiver{byPath: map[string]int{}}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.requests = append(rc.requests, Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: body, At: time.Now()})
		rc.byPath[r.URL.Path]++
		n := rc.byPath[r.URL.Path]
		respond := rc.Respond
		rc.mu.Unlock()
		if respond != nil {
			respond(n, r, w)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	return rc
}

// SetRespond replaces the response function safely.
func (rc *Receiver) SetRespond(f func(n int, r *http.Request, w http.ResponseWriter)) {
	rc.mu.Lock()
	rc.Respond = f
	rc.mu.Unlock()
}

// Requests returns a copy of what arrived so far.
func (rc *Receiver) Requests() []Request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]Request(nil), rc.requests...)
}

// Count returns how many requests arrived for path.
func (rc *Receiver) Count(path string) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.byPath[path]
}

// Herald is a running process under test.
type Herald struct {
	T     testing.TB
	App   *app.App
	URL   string
	Redis *testutil.Redis
}

// Options for Start.
type Options struct {
	// YAML is the configuration; default Config(receiver URL).
	YAML string
	// Env overrides environment lookups.
	Env      map[string]string
	Role     app.Role
	Redis    *testutil.Redis
	DataDir  string
	AppOpts  func(*app.Options)
	NoLogger bool
}

// Start runs a Herald process (role serve unless set) against opts.Redis
// (a new redis-server when nil) and stops it at the end of the test.
func Start(t testing.TB, opts Options) *Herald {
	t.Helper()
	if opts.Redis == nil {
		opts.Redis = testutil.StartRedis(t)
	}
	if opts.DataDir == "" {
		opts.DataDir = t.TempDir()
	}
	if opts.Role == (app.Role{}) {
		opts.Role = app.RoleServe
	}
	env := map[string]string{config.EnvRedisURL: opts.Redis.URL, config.EnvDataDir: opts.DataDir}
	for k, v := range opts.Env {
		env[k] = v
	}
	cfg, err := config.Parse([]byte(opts.YAML), Env(env))
	require.NoError(t, err)
	var log *zap.Logger = zap.NewNop()
	if !opts.NoLogger {
		log = zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	}
	ao := app.Options{Config: cfg, Role: opts.Role, Embedded: true, Logger: log, LagInterval: 200 * time.Millisecond}
	if opts.AppOpts != nil {
		opts.AppOpts(&ao)
	}
	a, err := app.New(ao)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, a.Start(ctx))
	h := &Herald{T: t, App: a, Redis: opts.Redis}
	if a.Addr() != "" {
		h.URL = "http://" + a.Addr()
	}
	t.Cleanup(func() { h.Stop(10 * time.Second) })
	return h
}

// Stop stops the process gracefully within grace.
func (h *Herald) Stop(grace time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	return h.App.Stop(ctx)
}

// Response is a decoded HTTP response.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a generic map.
func (r *Response) JSON() map[string]any {
	var m map[string]any
	_ = json.Unmarshal(r.Body, &m)
	return m
}

// Do sends a request with key as Bearer (none when empty).
func (h *Herald) Do(method, path, key string, body any) *Response {
	h.T.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		require.NoError(h.T, err)
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, h.URL+path, rd)
	require.NoError(h.T, err)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(h.T, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(h.T, err)
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: data}
}

// SendCallback sends orders:confirmation on the callback channel for acme
// and returns the message id (the send must be accepted).
func (h *Herald) SendCallback(id string, extra map[string]any) string {
	h.T.Helper()
	body := map[string]any{
		"product": "shop", "env": "prd", "notification": "orders:confirmation",
		"input": map[string]any{"params": map[string]any{"id": id}, "body": map[string]any{"order": id}},
	}
	for k, v := range extra {
		body[k] = v
	}
	r := h.Do("POST", "/v1/notifications/callback/send", KeyAcme, body)
	require.Equal(h.T, http.StatusAccepted, r.Status, string(r.Body))
	mid, _ := r.JSON()["messageId"].(string)
	require.NotEmpty(h.T, mid)
	return mid
}

// Message fetches one entry as a map.
func (h *Herald) Message(key, id string) map[string]any {
	h.T.Helper()
	r := h.Do("GET", "/v1/messages/"+id, key, nil)
	require.Equal(h.T, http.StatusOK, r.Status, string(r.Body))
	return r.JSON()
}

// WaitStatus polls until the message has status, and returns the entry.
func (h *Herald) WaitStatus(id, status string, within time.Duration) map[string]any {
	h.T.Helper()
	var last map[string]any
	deadline := time.Now().Add(within)
	for {
		last = h.Message(KeyAcme, id)
		if last["status"] == status {
			return last
		}
		if time.Now().After(deadline) {
			h.T.Fatalf("message %s never became %s within %s; last: %v", id, status, within, last)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
