package callback

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/internal/netguard"
	"github.com/heraldhq/herald/worker/channel"
)

// Defaults of Config.
const (
	DefaultTimeout      = 10 * time.Second
	DefaultUserAgent    = "Herald/1"
	DefaultMaxRedirects = 5
)

const (
	maxIdleConnsPerHost = 64
	idleConnTimeout     = 90 * time.Second
	// drainLimit is how much of a response body past MaxBody is read and
	// thrown away so that the connection can go back to the pool; a
	// longer body costs a new connection instead.
	drainLimit = 64 << 10
)

// Config configures a Deliverer. Zero values mean the documented defaults.
type Config struct {
	// Guard decides which addresses callbacks may connect to, checked on
	// every connection including redirects. Nil is the zero Guard: public
	// addresses only.
	Guard *netguard.Guard
	// Timeout bounds one attempt, redirects included, unless the callback
	// definition sets its own. Default 10s.
	Timeout time.Duration
	// UserAgent is sent unless the definition or input sets one. Default
	// "Herald/1".
	UserAgent string
	// MaxRedirects is how many redirects one attempt follows. Default 5;
	// negative follows none.
	MaxRedirects int
}

// Deliverer sends callbacks. It is safe for concurrent use; all
// deliveries share one connection pool.
type Deliverer struct {
	client       *http.Client
	timeout      time.Duration
	userAgent    string
	maxRedirects int
}

// New returns a Deliverer with its own HTTP client.
func New(cfg Config) *Deliverer {
	d := &Deliverer{
		timeout:      cmp.Or(max(cfg.Timeout, 0), DefaultTimeout),
		userAgent:    cmp.Or(cfg.UserAgent, DefaultUserAgent),
		maxRedirects: cfg.MaxRedirects,
	}
	switch {
	case cfg.MaxRedirects == 0:
		d.maxRedirects = DefaultMaxRedirects
	case cfg.MaxRedirects < 0:
		d.maxRedirects = 0
	}
	transport := &http.Transport{
		// Never a proxy from the environment: the guard would see only
		// the proxy's address.
		Proxy:                  nil,
		DialContext:            cfg.Guard.Dialer().DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           1024,
		MaxIdleConnsPerHost:    maxIdleConnsPerHost,
		IdleConnTimeout:        idleConnTimeout,
		TLSHandshakeTimeout:    10 * time.Second,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}
	d.client = &http.Client{Transport: transport, CheckRedirect: d.checkRedirect}
	return d
}

// Close closes idle pooled connections. In-flight deliveries are not
// affected, and the Deliverer stays usable.
func (d *Deliverer) Close() { d.client.CloseIdleConnections() }

// Endpoint returns the circuit breaker key of a message: the scheme and
// host[:port] of its callback URL, lower case, without a default port.
// It depends on the definition only, so it is known even for bad input.
func (d *Deliverer) Endpoint(m *channel.Message) (string, error) {
	def, err := callbackDef(m)
	if err != nil {
		return "", err
	}
	if _, err := def.URLParams(); err != nil {
		return "", channel.Permanent(channel.CodeDelivery, "callback definition url: %w", err)
	}
	// Placeholders are never in the scheme or host (CheckCallbackURL).
	u, err := url.Parse(replacePlaceholders(def.URL, func(string) string { return "x" }))
	if err != nil {
		return "", channel.Permanent(channel.CodeDelivery, "callback definition url: %w", err)
	}
	scheme, host := strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	if p := u.Port(); (scheme == "http" && p == "80") || (scheme == "https" && p == "443") {
		host = strings.TrimSuffix(host, ":"+p)
	}
	return scheme + "://" + host, nil
}

// Deliver sends one attempt of m's callback. The Result carries the
// response's status, content type and at most channel.MaxBody bytes of
// its body whenever a response arrived, also when the error is not nil.
// Errors are *channel.Error.
func (d *Deliverer) Deliver(ctx context.Context, m *channel.Message) (channel.Result, error) {
	def, err := callbackDef(m)
	if err != nil {
		return channel.Result{}, err
	}
	req, err := Prepare(def, m.Input)
	if err != nil {
		var ie *InputError
		if errors.As(err, &ie) {
			return channel.Result{}, channel.Permanent(channel.CodeTemplate, "callback input does not fill the definition: %w", ie)
		}
		return channel.Result{}, channel.Permanent(channel.CodeDelivery, "%w", err)
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", d.userAgent)
	}
	if secret := def.Secret(); len(secret) > 0 {
		key, err := signingKey(secret)
		if err != nil {
			return channel.Result{}, channel.Permanent(channel.CodeDelivery, "%w", err)
		}
		sign(req.Header, key, m.ID, cmp.Or(m.Timestamp, time.Now()), req.Body)
	}

	timeout := d.timeout
	if t := def.Timeout.D(); t > 0 {
		timeout = t
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var body io.Reader
	if req.Body != nil {
		body = bytes.NewReader(req.Body)
	}
	hreq, err := http.NewRequestWithContext(ctx, req.Method, req.URL, body)
	if err != nil {
		return channel.Result{}, channel.Permanent(channel.CodeDelivery, "callback to %s: cannot build the request: %w", hostOf(req.URL), err)
	}
	hreq.Header = req.Header

	resp, err := d.client.Do(hreq)
	if err != nil {
		return channel.Result{}, classifyTransport(ctx, err, hreq.URL.Host, timeout)
	}
	defer func() {
		_, _ = io.CopyN(io.Discard, resp.Body, drainLimit)
		_ = resp.Body.Close()
	}()
	res := channel.Result{StatusCode: resp.StatusCode, ContentType: resp.Header.Get("Content-Type")}
	// A body cut short (say by the timeout) does not change what the
	// status says.
	res.Body, _ = io.ReadAll(io.LimitReader(resp.Body, channel.MaxBody))
	if err := classifyStatus(resp, resp.Request.URL.Host, d.maxRedirects); err != nil {
		return res, err
	}
	return res, nil
}

func callbackDef(m *channel.Message) (*config.CallbackDef, error) {
	if m == nil || m.Definition == nil || m.Definition.Callback == nil {
		return nil, channel.Permanent(channel.CodeDelivery, "the message definition has no callback")
	}
	return m.Definition.Callback, nil
}

// crossOriginHeaders are the headers a redirect to another origin keeps;
// the definition's and input's own (API keys, tokens) stay with the origin
// they were configured for.
var crossOriginHeaders = []string{
	"Content-Type", "User-Agent",
	http.CanonicalHeaderKey(headerWebhookID),
	http.CanonicalHeaderKey(headerWebhookTimestamp),
	http.CanonicalHeaderKey(headerWebhookSignature),
}

// checkRedirect follows at most maxRedirects http(s) redirects; past the
// limit the redirect response itself is returned and classified. The
// guard's dialer checks every address the redirects lead to.
//
// Credentials go only where they were configured for: a redirect keeps
// the definition's and input's headers only when its scheme, host and
// port are all those of the callback URL (a port change can be another
// service on the same host; a scheme change another listener). A
// redirect from https to http is refused outright: the body and the
// signature would then cross the network in clear text.
func (d *Deliverer) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > d.maxRedirects {
		return http.ErrUseLastResponse
	}
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
		return &redirectError{msg: fmt.Sprintf("redirected to a %q URL; only http and https redirects are followed", req.URL.Scheme)}
	}
	if prev := via[len(via)-1].URL; strings.EqualFold(prev.Scheme, "https") && req.URL.Scheme == "http" {
		return &redirectError{msg: fmt.Sprintf("redirected from https to http (%s); a callback is never downgraded to clear text", req.URL.Host)}
	}
	// The Referer would carry the previous URL, query values included.
	req.Header.Del("Referer")
	if origin(req.URL) != origin(via[0].URL) {
		for name := range req.Header {
			if !slices.Contains(crossOriginHeaders, name) {
				req.Header.Del(name)
			}
		}
	}
	return nil
}

// origin is a URL's scheme, host and port, lower case, with the scheme's
// default port made explicit, so that http://h and http://h:80 are one
// origin and http://h:8080 another.
func origin(u *url.URL) string {
	scheme, port := strings.ToLower(u.Scheme), u.Port()
	if port == "" {
		switch scheme {
		case "http":
			port = "80"
		case "https":
			port = "443"
		}
	}
	return scheme + "://" + net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}
