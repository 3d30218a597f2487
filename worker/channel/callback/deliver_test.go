package callback

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/internal/netguard"
	"github.com/heraldhq/herald/worker/channel"
)

// received is what a test server saw of one request.
type received struct {
	Method string
	URI    string
	Header http.Header
	Body   []byte
}

// recorder is a handler that keeps what it received and answers 200.
type recorder struct {
	mu   sync.Mutex
	reqs []received
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rec.mu.Lock()
	rec.reqs = append(rec.reqs, received{r.Method, r.RequestURI, r.Header.Clone(), body})
	rec.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"ok":true}`)
}

func (rec *recorder) last(t *testing.T) received {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	require.NotEmpty(t, rec.reqs)
	return rec.reqs[len(rec.reqs)-1]
}

func TestDeliverSendsTheRequest(t *testing.T) {
	rec := &recorder{}
	srv := newServer(t, rec.ServeHTTP)
	d := newDeliverer(t, Config{Guard: exactly(t, srv)})
	def := &config.CallbackDef{
		URL:     srv.URL + "/orders/{id}?src=herald",
		Method:  "PUT",
		Headers: map[string]string{"X-Api-Key": "k1", "X-Trace": "from-definition"},
	}
	res, err := d.Deliver(t.Context(), message(def, `{
		"params": {"id": "o/42"},
		"query": {"page": 2, "flag": true},
		"headers": {"x-trace": "from-input"},
		"body": {"total": 9.5, "items": ["a"]}}`))
	require.NoError(t, err)
	require.Equal(t, channel.Result{StatusCode: 200, ContentType: "application/json", Body: []byte(`{"ok":true}`)}, res)

	got := rec.last(t)
	require.Equal(t, "PUT", got.Method)
	require.Equal(t, "/orders/o%2F42?src=herald&flag=true&page=2", got.URI)
	require.Equal(t, "k1", got.Header.Get("X-Api-Key"))
	require.Equal(t, "from-input", got.Header.Get("X-Trace"))
	require.Equal(t, "application/json", got.Header.Get("Content-Type"))
	require.Equal(t, DefaultUserAgent, got.Header.Get("User-Agent"))
	require.JSONEq(t, `{"total": 9.5, "items": ["a"]}`, string(got.Body))
	require.Empty(t, got.Header.Get("Webhook-Signature"), "unsigned without a secret")
}

func TestDeliverWithoutBody(t *testing.T) {
	rec := &recorder{}
	srv := newServer(t, rec.ServeHTTP)
	d := newDeliverer(t, Config{Guard: exactly(t, srv), UserAgent: "Acme/2"})
	_, err := d.Deliver(t.Context(), message(&config.CallbackDef{URL: srv.URL + "/ping", Method: "POST"}, `{"headers": {"X-A": "1"}}`))
	require.NoError(t, err)
	got := rec.last(t)
	require.Empty(t, got.Body)
	require.Empty(t, got.Header.Get("Content-Type"))
	require.Equal(t, "Acme/2", got.Header.Get("User-Agent"))
}

// verify checks a Standard Webhooks signature the way a receiver does.
func verify(t *testing.T, key []byte, got received) {
	t.Helper()
	id, ts, sig := got.Header.Get("webhook-id"), got.Header.Get("webhook-timestamp"), got.Header.Get("webhook-signature")
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "." + string(got.Body)))
	want := mac.Sum(nil)
	var ok bool
	for _, s := range strings.Split(sig, " ") {
		version, b64, _ := strings.Cut(s, ",")
		raw, err := base64.StdEncoding.DecodeString(b64)
		ok = ok || (version == "v1" && err == nil && hmac.Equal(raw, want))
	}
	require.True(t, ok, "signature %q does not verify", sig)
}

func TestDeliverSigns(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	tests := []struct {
		name   string
		secret string
		key    []byte
		body   string
	}{
		{"whsec secret is base64 after the prefix", "whsec_" + base64.StdEncoding.EncodeToString(key), key, `{"body": {"a": 1}}`},
		{"other secret is used as bytes", "plain-shared-secret", []byte("plain-shared-secret"), `{"body": [1, 2]}`},
		{"no body signs the empty payload", "whsec_" + base64.StdEncoding.EncodeToString(key), key, `{}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			srv := newServer(t, rec.ServeHTTP)
			d := newDeliverer(t, Config{Guard: exactly(t, srv)})
			def := signedDef(t, srv.URL+"/hook", "POST", tt.secret)
			_, err := d.Deliver(t.Context(), message(def, tt.body))
			require.NoError(t, err)
			got := rec.last(t)
			require.Equal(t, "msg_01HZXTEST", got.Header.Get("webhook-id"))
			require.Equal(t, strconv.FormatInt(testTime.Unix(), 10), got.Header.Get("webhook-timestamp"))
			require.True(t, strings.HasPrefix(got.Header.Get("webhook-signature"), "v1,"))
			require.Equal(t, "def-key-value", got.Header.Get("X-Api-Key"))
			verify(t, tt.key, got)

			// A receiver with another key must refuse it.
			mac := hmac.New(sha256.New, []byte("wrong"))
			mac.Write([]byte("x"))
			require.NotEqual(t, "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)), got.Header.Get("webhook-signature"))
		})
	}
}

// statusServer answers /status/<code> with that code; a retry_after query
// value becomes the Retry-After header, and date the Date header.
func statusServer(t *testing.T) string {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		code, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/status/"))
		if err != nil {
			http.Error(w, "bad path", 500)
			return
		}
		if v := r.URL.Query().Get("retry_after"); v != "" {
			w.Header().Set("Retry-After", v)
		}
		if v := r.URL.Query().Get("date"); v != "" {
			w.Header().Set("Date", v)
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(code)
		fmt.Fprintf(w, "status %d", code)
	})
	return srv.URL
}

func TestDeliverClassifiesStatus(t *testing.T) {
	base := statusServer(t)
	ap, err := netip.ParseAddrPort(strings.TrimPrefix(base, "http://"))
	require.NoError(t, err)
	d := newDeliverer(t, Config{Guard: &netguard.Guard{Allow: []netip.Prefix{netip.PrefixFrom(ap.Addr(), 32)}}})
	host := ap.String()

	date := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		code       int
		query      string
		wantCode   string // "" means success
		retryable  bool
		retryAfter time.Duration
		message    string
	}{
		{200, "", "", false, 0, ""},
		{201, "", "", false, 0, ""},
		{204, "", "", false, 0, ""},
		{299, "", "", false, 0, ""},
		{408, "", channel.CodeDelivery, true, 0, "HTTP 408 Request Timeout from " + host},
		{425, "", channel.CodeDelivery, true, 0, "HTTP 425 Too Early from " + host},
		{429, "retry_after=30", channel.CodeDelivery, true, 30 * time.Second, "HTTP 429 Too Many Requests from " + host},
		{429, "retry_after=999999", channel.CodeDelivery, true, time.Hour, ""},
		{503, "", channel.CodeDelivery, true, 0, "HTTP 503 Service Unavailable from " + host},
		{503, "retry_after=" + urlQuery(date.Add(120*time.Second).Format(http.TimeFormat)) + "&date=" + urlQuery(date.Format(http.TimeFormat)),
			channel.CodeDelivery, true, 120 * time.Second, ""},
		{503, "retry_after=" + urlQuery(date.Add(-time.Minute).Format(http.TimeFormat)) + "&date=" + urlQuery(date.Format(http.TimeFormat)),
			channel.CodeDelivery, true, 0, ""},
		{503, "retry_after=" + urlQuery(date.Add(48*time.Hour).Format(http.TimeFormat)) + "&date=" + urlQuery(date.Format(http.TimeFormat)),
			channel.CodeDelivery, true, time.Hour, ""},
		{503, "retry_after=soon", channel.CodeDelivery, true, 0, ""},
		{500, "", channel.CodeDelivery, true, 0, "HTTP 500 Internal Server Error from " + host},
		{502, "", channel.CodeDelivery, true, 0, ""},
		{599, "", channel.CodeDelivery, true, 0, "HTTP 599 from " + host},
		{401, "", channel.CodeSecretExpired, false, 0, ""},
		{403, "", channel.CodeSecretExpired, false, 0, ""},
		{410, "", channel.CodeInvalidRecipient, false, 0, ""},
		{400, "", channel.CodeDelivery, false, 0, "HTTP 400 Bad Request from " + host},
		{404, "", channel.CodeDelivery, false, 0, "HTTP 404 Not Found from " + host},
		{422, "", channel.CodeDelivery, false, 0, ""},
		{304, "", channel.CodeDelivery, false, 0, ""},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d %s", tt.code, tt.query), func(t *testing.T) {
			def := &config.CallbackDef{URL: base + "/status/{code}?" + tt.query, Method: "POST"}
			res, err := d.Deliver(t.Context(), message(def, fmt.Sprintf(`{"params": {"code": %d}}`, tt.code)))
			require.Equal(t, tt.code, res.StatusCode, "the status is kept, also on failure")
			if tt.code != 204 && tt.code != 304 { // bodiless by definition
				require.Equal(t, "text/plain; charset=utf-8", res.ContentType)
				require.Equal(t, fmt.Sprintf("status %d", tt.code), string(res.Body))
			}
			if tt.wantCode == "" {
				require.NoError(t, err)
				return
			}
			ce := requireCode(t, err, tt.wantCode, tt.retryable)
			require.Equal(t, tt.retryAfter, ce.RetryAfter)
			if tt.message != "" {
				require.Equal(t, tt.message, ce.Error())
			}
		})
	}
}

func urlQuery(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, " ", "%20"), ",", "%2C")
}

func TestRetryAfter(t *testing.T) {
	date := "Sat, 01 Mar 2025 12:00:00 GMT"
	tests := []struct {
		name   string
		header http.Header
		want   time.Duration
	}{
		{"absent", http.Header{}, 0},
		{"seconds", http.Header{"Retry-After": {"120"}}, 2 * time.Minute},
		{"zero", http.Header{"Retry-After": {"0"}}, 0},
		{"negative", http.Header{"Retry-After": {"-5"}}, 0},
		{"capped", http.Header{"Retry-After": {"7200"}}, time.Hour},
		{"overflow", http.Header{"Retry-After": {"99999999999999999999999"}}, time.Hour},
		{"date against Date", http.Header{"Retry-After": {"Sat, 01 Mar 2025 12:01:30 GMT"}, "Date": {date}}, 90 * time.Second},
		{"RFC 850 date", http.Header{"Retry-After": {"Saturday, 01-Mar-25 12:00:10 GMT"}, "Date": {date}}, 10 * time.Second},
		{"date in the past", http.Header{"Retry-After": {"Sat, 01 Mar 2025 11:00:00 GMT"}, "Date": {date}}, 0},
		{"date capped", http.Header{"Retry-After": {"Sun, 02 Mar 2025 12:00:00 GMT"}, "Date": {date}}, time.Hour},
		{"garbage", http.Header{"Retry-After": {"later"}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, retryAfter(tt.header))
		})
	}
	t.Run("date without Date is measured from now", func(t *testing.T) {
		h := http.Header{"Retry-After": {time.Now().Add(10 * time.Minute).UTC().Format(http.TimeFormat)}}
		require.InDelta(t, float64(10*time.Minute), float64(retryAfter(h)), float64(5*time.Second))
	})
}

func TestDeliverCutsBody(t *testing.T) {
	big := strings.Repeat("0123456789", 1000) // 10000 bytes
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, big)
	})
	d := newDeliverer(t, Config{Guard: exactly(t, srv)})
	res, err := d.Deliver(t.Context(), message(&config.CallbackDef{URL: srv.URL, Method: "POST"}, `{}`))
	requireCode(t, err, channel.CodeDelivery, false)
	require.Equal(t, 400, res.StatusCode)
	require.Equal(t, "text/plain", res.ContentType)
	require.Len(t, res.Body, channel.MaxBody)
	require.Equal(t, big[:channel.MaxBody], string(res.Body))
}

func TestDeliverTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) }) // runs before srv.Close
	tests := []struct {
		name string
		cfg  time.Duration
		def  time.Duration
	}{
		{"Config.Timeout", 100 * time.Millisecond, 0},
		{"definition timeout wins", time.Minute, 100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDeliverer(t, Config{Guard: exactly(t, srv), Timeout: tt.cfg})
			def := &config.CallbackDef{URL: srv.URL, Method: "POST", Timeout: config.Duration(tt.def)}
			res, err := d.Deliver(t.Context(), message(def, `{}`))
			ce := requireCode(t, err, channel.CodeTimeout, true)
			require.Contains(t, ce.Error(), "no response from "+hostPort(t, srv)+" within 100ms")
			require.Zero(t, res.StatusCode)
		})
	}
}

func TestDeliverTransportErrors(t *testing.T) {
	t.Run("connection refused is retryable", func(t *testing.T) {
		addr := closedPort(t)
		d := newDeliverer(t, Config{Guard: &netguard.Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}})
		_, err := d.Deliver(t.Context(), message(&config.CallbackDef{URL: "http://" + addr + "/x?token=secret-in-query", Method: "POST"}, `{}`))
		ce := requireCode(t, err, channel.CodeDelivery, true)
		require.Contains(t, ce.Error(), "could not reach "+addr)
		require.NotContains(t, ce.Error(), "secret-in-query")
	})
	t.Run("reset without a response is retryable", func(t *testing.T) {
		srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.(*net.TCPConn).SetLinger(0)
				conn.Close()
			}
		})
		d := newDeliverer(t, Config{Guard: exactly(t, srv)})
		_, err := d.Deliver(t.Context(), message(&config.CallbackDef{URL: srv.URL, Method: "POST"}, `{}`))
		requireCode(t, err, channel.CodeDelivery, true)
	})
	t.Run("DNS failure is retryable", func(t *testing.T) {
		d := newDeliverer(t, Config{})
		_, err := d.Deliver(t.Context(), message(&config.CallbackDef{URL: "http://does-not-exist.invalid/", Method: "POST"}, `{}`))
		requireCode(t, err, channel.CodeDelivery, true)
	})
	t.Run("cancelled context", func(t *testing.T) {
		rec := &recorder{}
		srv := newServer(t, rec.ServeHTTP)
		d := newDeliverer(t, Config{Guard: exactly(t, srv)})
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := d.Deliver(ctx, message(&config.CallbackDef{URL: srv.URL, Method: "POST"}, `{}`))
		requireCode(t, err, channel.CodeDelivery, true)
	})
}

func TestDeliverGuardRefusesLoopback(t *testing.T) {
	rec := &recorder{}
	srv := newServer(t, rec.ServeHTTP)
	d := newDeliverer(t, Config{}) // the zero guard: public addresses only
	res, err := d.Deliver(t.Context(), message(&config.CallbackDef{URL: srv.URL + "/x", Method: "POST"}, `{}`))
	ce := requireCode(t, err, channel.CodeDelivery, false)
	var be *netguard.BlockedError
	require.True(t, errors.As(err, &be))
	require.Equal(t, netguard.ReasonLoopback, be.Reason)
	require.Contains(t, ce.Error(), "HERALD_ALLOW_PRIVATE_NETWORKS=true")
	require.Zero(t, res.StatusCode)
	require.Empty(t, rec.reqs, "nothing reached the server")

	d = newDeliverer(t, Config{Guard: &netguard.Guard{AllowPrivate: true}})
	_, err = d.Deliver(t.Context(), message(&config.CallbackDef{URL: srv.URL + "/x", Method: "POST"}, `{}`))
	require.NoError(t, err)
}

func TestDeliverRedirects(t *testing.T) {
	var hits atomic.Int32
	rec := &recorder{}
	var srvURL string
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		switch {
		case strings.HasPrefix(r.URL.Path, "/to/"):
			http.Redirect(w, r, "http://"+strings.TrimPrefix(r.URL.Path, "/to/")+"/latest/meta-data/", http.StatusTemporaryRedirect)
		case r.URL.Path == "/loop":
			http.Redirect(w, r, srvURL+"/loop", http.StatusFound)
		case r.URL.Path == "/scheme":
			http.Redirect(w, r, "ftp://files.example.com/x", http.StatusFound)
		case r.URL.Path == "/hop":
			http.Redirect(w, r, srvURL+"/final", http.StatusPermanentRedirect)
		default:
			rec.ServeHTTP(w, r)
		}
	})
	srvURL = srv.URL
	_, port, err := net.SplitHostPort(hostPort(t, srv))
	require.NoError(t, err)
	d := newDeliverer(t, Config{Guard: exactly(t, srv), MaxRedirects: 2})

	for _, target := range []string{"127.0.0.2:" + port, "169.254.169.254", "10.0.0.1", "[::1]:" + port, "100.100.100.200", "[::ffff:10.0.0.1]"} {
		t.Run("to "+target+" is refused", func(t *testing.T) {
			res, err := d.Deliver(t.Context(), message(&config.CallbackDef{URL: srv.URL + "/to/" + target, Method: "POST"}, `{"body": {}}`))
			ce := requireCode(t, err, channel.CodeDelivery, false)
			var be *netguard.BlockedError
			require.True(t, errors.As(err, &be), "want the guard's refusal, got %v", err)
			require.Contains(t, ce.Error(), be.Error())
			require.Zero(t, res.StatusCode)
		})
	}

	t.Run("followed within the limit, body resent", func(t *testing.T) {
		res, err := d.Deliver(t.Context(), message(&config.CallbackDef{URL: srv.URL + "/hop", Method: "POST"}, `{"body": {"a": 1}}`))
		require.NoError(t, err)
		require.Equal(t, 200, res.StatusCode)
		got := rec.last(t)
		require.Equal(t, "/final", got.URI)
		require.Equal(t, "POST", got.Method)
		require.JSONEq(t, `{"a": 1}`, string(got.Body))
	})

	t.Run("past the limit is a permanent failure", func(t *testing.T) {
		hits.Store(0)
		res, err := d.Deliver(t.Context(), message(&config.CallbackDef{URL: srv.URL + "/loop", Method: "POST"}, `{}`))
		requireCode(t, err, channel.CodeDelivery, false)
		require.Equal(t, http.StatusFound, res.StatusCode)
		require.EqualValues(t, 3, hits.Load(), "the first request and two redirects")
	})

	t.Run("no redirects with a negative limit", func(t *testing.T) {
		hits.Store(0)
		d := newDeliverer(t, Config{Guard: exactly(t, srv), MaxRedirects: -1})
		res, err := d.Deliver(t.Context(), message(&config.CallbackDef{URL: srv.URL + "/hop", Method: "POST"}, `{}`))
		requireCode(t, err, channel.CodeDelivery, false)
		require.Equal(t, http.StatusPermanentRedirect, res.StatusCode)
		require.EqualValues(t, 1, hits.Load())
	})

	t.Run("to a non-http scheme is permanent", func(t *testing.T) {
		_, err := d.Deliver(t.Context(), message(&config.CallbackDef{URL: srv.URL + "/scheme", Method: "POST"}, `{}`))
		requireCode(t, err, channel.CodeDelivery, false)
	})
}

func TestDeliverRedirectToAnotherHostDropsHeaders(t *testing.T) {
	addrs, err := net.DefaultResolver.LookupNetIP(t.Context(), "ip4", "localhost")
	if err != nil || len(addrs) == 0 || addrs[0].Unmap() != netip.MustParseAddr("127.0.0.1") {
		t.Skip("localhost does not resolve to 127.0.0.1 here")
	}
	rec := &recorder{}
	var port string
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/away" {
			http.Redirect(w, r, "http://localhost:"+port+"/landed", http.StatusTemporaryRedirect)
			return
		}
		rec.ServeHTTP(w, r)
	})
	_, port, err = net.SplitHostPort(hostPort(t, srv))
	require.NoError(t, err)
	d := newDeliverer(t, Config{Guard: exactly(t, srv)})
	def := signedDef(t, srv.URL+"/away?token=q", "POST", "s3cret")
	_, err = d.Deliver(t.Context(), message(def, `{"headers": {"Authorization": "Bearer input-token"}, "body": {"a": 1}}`))
	require.NoError(t, err)
	got := rec.last(t)
	require.Equal(t, "/landed", got.URI)
	require.Empty(t, got.Header.Get("X-Api-Key"), "definition headers stay with their host")
	require.Empty(t, got.Header.Get("Authorization"))
	require.Empty(t, got.Header.Get("Referer"))
	require.Equal(t, "application/json", got.Header.Get("Content-Type"))
	verify(t, []byte("s3cret"), got)
}

func TestDeliverReusesConnections(t *testing.T) {
	var conns atomic.Int32
	big := strings.Repeat("x", 10_000) // past MaxBody, within the drain limit
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, big)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	d := newDeliverer(t, Config{Guard: exactly(t, srv)})
	for i := range 50 {
		res, err := d.Deliver(t.Context(), message(&config.CallbackDef{URL: srv.URL + "/n/{i}", Method: "POST"}, fmt.Sprintf(`{"params": {"i": %d}, "body": {"i": %d}}`, i, i)))
		require.NoError(t, err)
		require.Len(t, res.Body, channel.MaxBody)
	}
	require.LessOrEqual(t, conns.Load(), int32(2), "50 sequential deliveries should share a kept-alive connection")
}

func TestDeliverSecretAndHeaderValuesStayOutOfErrors(t *testing.T) {
	base := statusServer(t)
	ap, err := netip.ParseAddrPort(strings.TrimPrefix(base, "http://"))
	require.NoError(t, err)
	d := newDeliverer(t, Config{Guard: &netguard.Guard{Allow: []netip.Prefix{netip.PrefixFrom(ap.Addr(), 32)}}})
	for _, code := range []int{401, 404, 503} {
		def := signedDef(t, base+"/status/{code}", "POST", "top-secret-value")
		_, err := d.Deliver(t.Context(), message(def, fmt.Sprintf(`{"params": {"code": %d}, "headers": {"X-Token": "header-value-1"}}`, code)))
		require.Error(t, err)
		for _, s := range []string{"top-secret-value", "header-value-1", "def-key-value"} {
			require.NotContains(t, err.Error(), s)
		}
	}
}

func TestDeliverBadInputAndDefinition(t *testing.T) {
	d := newDeliverer(t, Config{})
	_, err := d.Deliver(t.Context(), message(&config.CallbackDef{URL: "https://h.example.com/{id}", Method: "POST"}, `{}`))
	ce := requireCode(t, err, channel.CodeTemplate, false)
	var ie *InputError
	require.True(t, errors.As(ce, &ie))
	require.Equal(t, "input.params.id", ie.Field)

	_, err = d.Deliver(t.Context(), &channel.Message{ID: "m", Definition: &config.Message{}})
	requireCode(t, err, channel.CodeDelivery, false)

	_, err = d.Deliver(t.Context(), message(&config.CallbackDef{URL: "gopher://h.example.com/", Method: "POST"}, `{}`))
	requireCode(t, err, channel.CodeDelivery, false)
}

func TestEndpoint(t *testing.T) {
	d := newDeliverer(t, Config{})
	tests := map[string]string{
		"https://hooks.example.com/orders/{id}":      "https://hooks.example.com",
		"https://Hooks.Example.com:443/x":            "https://hooks.example.com",
		"http://hooks.example.com:80/x?y={y}":        "http://hooks.example.com",
		"http://hooks.example.com:8080/{a}/{b}":      "http://hooks.example.com:8080",
		"HTTPS://hooks.example.com:8443":             "https://hooks.example.com:8443",
		"http://[2606:4700::1111]:8080/hook?x=1#top": "http://[2606:4700::1111]:8080",
	}
	for raw, want := range tests {
		t.Run(raw, func(t *testing.T) {
			// Endpoint needs no input: the host never has placeholders.
			got, err := d.Endpoint(message(&config.CallbackDef{URL: raw, Method: "POST"}, `{"bad": 1}`))
			require.NoError(t, err)
			require.Equal(t, want, got)
		})
	}
	_, err := d.Endpoint(message(&config.CallbackDef{URL: "https://{x}.example.com/", Method: "POST"}, `{}`))
	requireCode(t, err, channel.CodeDelivery, false)
	_, err = d.Endpoint(&channel.Message{Definition: &config.Message{}})
	requireCode(t, err, channel.CodeDelivery, false)
}

// A redirect keeps the definition's and input's headers only to the same
// scheme, host and port: another port on the same host is another origin.
func TestDeliverRedirectToAnotherPortDropsHeaders(t *testing.T) {
	rec := &recorder{}
	other := newServer(t, rec.ServeHTTP)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/away":
			http.Redirect(w, r, other.URL+"/landed", http.StatusTemporaryRedirect)
		case "/stay":
			http.Redirect(w, r, "/here", http.StatusTemporaryRedirect)
		default:
			rec.ServeHTTP(w, r)
		}
	})
	require.Equal(t, hostPort(t, srv)[:strings.LastIndex(hostPort(t, srv), ":")], hostPort(t, other)[:strings.LastIndex(hostPort(t, other), ":")], "same host")
	d := newDeliverer(t, Config{Guard: exactly(t, srv)})
	input := `{"headers": {"Authorization": "Bearer input-token", "Cookie": "c=1", "X-Custom": "v"}, "body": {"a": 1}}`

	def := signedDef(t, srv.URL+"/stay", "POST", "s3cret")
	_, err := d.Deliver(t.Context(), message(def, input))
	require.NoError(t, err)
	got := rec.last(t)
	require.Equal(t, "/here", got.URI)
	require.Equal(t, "def-key-value", got.Header.Get("X-Api-Key"), "same origin keeps the definition's headers")
	require.Equal(t, "Bearer input-token", got.Header.Get("Authorization"))
	require.Equal(t, "v", got.Header.Get("X-Custom"))

	def = signedDef(t, srv.URL+"/away", "POST", "s3cret")
	_, err = d.Deliver(t.Context(), message(def, input))
	require.NoError(t, err)
	got = rec.last(t)
	require.Equal(t, "/landed", got.URI)
	for _, h := range []string{"X-Api-Key", "Authorization", "Cookie", "X-Custom", "Referer"} {
		require.Empty(t, got.Header.Get(h), "%s must not follow a redirect to another port", h)
	}
	verify(t, []byte("s3cret"), got)
}

// A redirect from https to http is refused before anything is sent in
// clear text, and the refusal is permanent.
func TestDeliverRedirectFromHTTPSToHTTPIsRefused(t *testing.T) {
	var plainHits atomic.Int32
	plain := newServer(t, func(w http.ResponseWriter, r *http.Request) { plainHits.Add(1) })
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, plain.URL+"/clear", http.StatusFound)
	}))
	t.Cleanup(tlsSrv.Close)
	d := newDeliverer(t, Config{Guard: exactly(t, tlsSrv)})
	d.client.Transport.(*http.Transport).TLSClientConfig = tlsSrv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()

	def := signedDef(t, tlsSrv.URL+"/hook", "POST", "s3cret")
	res, err := d.Deliver(t.Context(), message(def, `{"headers": {"Authorization": "Bearer t"}, "body": {"a": 1}}`))
	ce := requireCode(t, err, channel.CodeDelivery, false)
	require.Contains(t, ce.Error(), "from https to http")
	require.Zero(t, res.StatusCode)
	require.Zero(t, plainHits.Load(), "nothing reached the http server")
}

// origin is equal exactly when scheme, host and port are, whatever their
// case and whether the default port is written.
func TestOrigin(t *testing.T) {
	same := [][2]string{
		{"http://h.example.com/a", "http://h.example.com:80/b?q=1"},
		{"https://H.Example.com/a", "https://h.example.com:443/"},
		{"HTTPS://h.example.com:8443/", "https://h.example.com:8443/x"},
		{"http://[::1]:8080/", "http://[::1]:8080/y"},
	}
	for _, p := range same {
		a, b := mustURL(t, p[0]), mustURL(t, p[1])
		require.Equal(t, origin(a), origin(b), "%s and %s", p[0], p[1])
	}
	differ := [][2]string{
		{"http://h.example.com/", "https://h.example.com/"},
		{"http://h.example.com/", "http://h.example.com:8080/"},
		{"https://h.example.com/", "https://h.example.com:80/"},
		{"http://h.example.com:443/", "https://h.example.com/"},
		{"http://a.example.com/", "http://b.example.com/"},
		{"http://example.com/", "http://sub.example.com/"},
	}
	for _, p := range differ {
		require.NotEqual(t, origin(mustURL(t, p[0])), origin(mustURL(t, p[1])), "%s and %s", p[0], p[1])
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	require.NoError(t, err)
	return u
}

// Property: for any pair of URLs, credentials survive checkRedirect only
// when scheme, host and port agree, and never on https -> http.
func FuzzCheckRedirect(f *testing.F) {
	f.Add("https://h.example.com/a", "http://h.example.com/a")
	f.Add("http://h.example.com:80/a", "http://h.example.com/b")
	f.Add("http://h.example.com/a", "http://h.example.com:8080/a")
	f.Add("https://h.example.com/a", "https://H.EXAMPLE.COM:443/b")
	d := New(Config{})
	f.Fuzz(func(t *testing.T, from, to string) {
		fu, err1 := url.Parse(from)
		tu, err2 := url.Parse(to)
		if err1 != nil || err2 != nil || fu.Host == "" || tu.Host == "" {
			return
		}
		if tu.Port() != "" {
			if _, err := strconv.Atoi(tu.Port()); err != nil {
				return
			}
		}
		prev := &http.Request{URL: fu, Header: http.Header{}}
		next := &http.Request{URL: tu, Header: http.Header{"Authorization": {"Bearer x"}, "Content-Type": {"application/json"}}}
		err := d.checkRedirect(next, []*http.Request{prev})
		if tu.Scheme != "http" && tu.Scheme != "https" {
			require.Error(t, err)
			return
		}
		if strings.EqualFold(fu.Scheme, "https") && tu.Scheme == "http" {
			require.Error(t, err, "https -> http must be refused")
			return
		}
		require.NoError(t, err)
		sameOrigin := strings.EqualFold(fu.Scheme, tu.Scheme) && strings.EqualFold(fu.Hostname(), tu.Hostname()) &&
			effectivePort(fu) == effectivePort(tu)
		require.Equal(t, sameOrigin, next.Header.Get("Authorization") != "", "%s -> %s", from, to)
		require.Equal(t, "application/json", next.Header.Get("Content-Type"))
	})
}

func effectivePort(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	switch strings.ToLower(u.Scheme) {
	case "http":
		return "80"
	case "https":
		return "443"
	}
	return ""
}
