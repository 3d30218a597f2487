// Package httpx is what the HTTP provider clients (FCM, APNs, Expo,
// Twilio, generic HTTP SMS) share: a pooled client, one request with the
// response read within bounds, Retry-After, and the classification of
// transport failures and statuses.
package httpx

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/worker/channel"
)

// MaxRetryAfter caps the delay a provider may ask for.
const MaxRetryAfter = time.Hour

// maxRead is how much of a response is read for parsing (Expo answers a
// ticket per token); the Result keeps channel.MaxBody of it.
const maxRead = 1 << 20

// NewClient returns a client with a keep-alive pool per host. tlsConfig
// may be nil (system roots). h2Only makes every request HTTP/2: over TLS
// through ALPN, over http:// with prior knowledge (APNs speaks only
// HTTP/2).
func NewClient(tlsConfig *tls.Config, h2Only bool) *http.Client {
	if tlsConfig != nil {
		tlsConfig = tlsConfig.Clone() // the transport adds its ALPN protocols to it
	}
	t := &http.Transport{
		Proxy:                  http.ProxyFromEnvironment,
		DialContext:            (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           512,
		MaxIdleConnsPerHost:    64,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    10 * time.Second,
		MaxResponseHeaderBytes: 64 << 10,
		TLSClientConfig:        tlsConfig,
	}
	if h2Only {
		t.Protocols = new(http.Protocols)
		t.Protocols.SetHTTP2(true)
		t.Protocols.SetUnencryptedHTTP2(true)
	}
	return &http.Client{Transport: t, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// Response is a provider's answer.
type Response struct {
	Status int
	Header http.Header
	// Body is the whole body up to 1 MiB, for parsing.
	Body []byte
}

// Result is the part of the response an attempt keeps.
func (r *Response) Result() channel.Result {
	body := r.Body
	if len(body) > channel.MaxBody {
		body = body[:channel.MaxBody]
	}
	return channel.Result{StatusCode: r.Status, ContentType: r.Header.Get("Content-Type"), Body: bytes.Clone(body)}
}

// Do sends req and reads the response. A transport failure is a
// *channel.Error naming what (never the URL's query or headers).
func Do(ctx context.Context, c *http.Client, req *http.Request, what string) (*Response, error) {
	resp, err := c.Do(req.WithContext(ctx))
	if err != nil {
		return nil, Transport(ctx, err, what)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxRead))
	if err != nil && len(body) == 0 && resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil, Transport(ctx, err, what)
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: body}, nil
}

// Transport classifies a request that got no response: timeouts are
// retryable TIMEOUT, certificate problems permanent, the rest retryable.
func Transport(ctx context.Context, err error, what string) *channel.Error {
	cause := err
	var ue *url.Error
	if errors.As(err, &ue) {
		cause = ue.Err // url.Error's text has the whole URL
	}
	var ne net.Error
	var certErr *tls.CertificateVerificationError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	switch {
	case errors.As(err, &certErr), errors.As(err, &unknownAuth), errors.As(err, &hostErr):
		return channel.Permanent(channel.CodeDelivery, "%s: TLS certificate not accepted: %v", what, cause)
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		return channel.Retryable(channel.CodeTimeout, 0, "%s: no response in time: %v", what, cause)
	case ctx.Err() != nil:
		return channel.Retryable(channel.CodeDelivery, 0, "%s: interrupted: %v", what, cause)
	}
	return channel.Retryable(channel.CodeDelivery, 0, "%s: could not reach the provider: %v", what, cause)
}

// Status classifies a non-2xx status generically: 408, 425, 429 and 5xx
// are retryable (with Retry-After), 401 and 403 are SECRET_EXPIRED, the
// rest permanent DELIVERY_ERROR. detail, when set, is the provider's own
// reason (already cut short by the caller).
func Status(r *Response, what, detail string) *channel.Error {
	status := strconv.Itoa(r.Status)
	if t := http.StatusText(r.Status); t != "" {
		status += " " + t
	}
	if detail != "" {
		status += ": " + detail
	}
	switch c := r.Status; {
	case c == http.StatusRequestTimeout, c == http.StatusTooEarly, c == http.StatusTooManyRequests, c >= 500:
		return channel.Retryable(channel.CodeDelivery, RetryAfter(r.Header), "%s: HTTP %s", what, status)
	case c == http.StatusUnauthorized, c == http.StatusForbidden:
		return channel.Permanent(channel.CodeSecretExpired, "%s: HTTP %s: the provider rejected our credentials", what, status)
	}
	return channel.Permanent(channel.CodeDelivery, "%s: HTTP %s", what, status)
}

// RetryAfter reads Retry-After as delta seconds or an HTTP date (measured
// from the response's Date), in [0, MaxRetryAfter].
func RetryAfter(h http.Header) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseUint(v, 10, 64); err == nil {
		if secs > uint64(MaxRetryAfter/time.Second) {
			return MaxRetryAfter
		}
		d = time.Duration(secs) * time.Second
	} else if errors.Is(err, strconv.ErrRange) {
		return MaxRetryAfter
	} else if at, err := http.ParseTime(v); err == nil {
		now := time.Now()
		if date, err := http.ParseTime(h.Get("Date")); err == nil {
			now = date
		}
		d = at.Sub(now)
	}
	return min(max(d, 0), MaxRetryAfter)
}

// Short cuts a provider's message for an error: one line, at most 200 bytes.
func Short(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// Endpoint is the breaker key of a base URL: scheme://host[:port], lower
// case, without a default port.
func Endpoint(base string) (string, error) {
	u, err := url.Parse(base)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", fmt.Errorf("provider address %q is not an http(s) URL", base)
	}
	scheme, host := strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	if p := u.Port(); (scheme == "http" && p == "80") || (scheme == "https" && p == "443") {
		host = strings.TrimSuffix(host, ":"+p)
	}
	return scheme + "://" + host, nil
}
