package callback

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/heraldhq/herald/internal/netguard"
	"github.com/heraldhq/herald/worker/channel"
	"github.com/heraldhq/herald/worker/channel/internal/httpx"
)

// maxRetryAfter caps the delay an endpoint may ask for.
const maxRetryAfter = httpx.MaxRetryAfter

// classifyStatus returns the failure a response status means, nil for
// 2xx. host names the endpoint that answered.
func classifyStatus(resp *http.Response, host string, maxRedirects int) error {
	code := resp.StatusCode
	status := strconv.Itoa(code)
	// The reason phrase is ours, not the endpoint's: it goes into logs.
	if text := http.StatusText(code); text != "" {
		status += " " + text
	}
	switch {
	case code >= 200 && code < 300:
		return nil
	case code == http.StatusRequestTimeout, code == http.StatusTooEarly, code == http.StatusTooManyRequests, code >= 500 && code < 600:
		return channel.Retryable(channel.CodeDelivery, retryAfter(resp.Header), "HTTP %s from %s", status, host)
	case code == http.StatusUnauthorized, code == http.StatusForbidden:
		return channel.Permanent(channel.CodeSecretExpired, "HTTP %s from %s: the endpoint rejected the request's credentials or signature", status, host)
	case code == http.StatusGone:
		return channel.Permanent(channel.CodeInvalidRecipient, "HTTP %s from %s: the endpoint is gone", status, host)
	case code >= 300 && code < 400:
		return channel.Permanent(channel.CodeDelivery, "HTTP %s from %s: redirect not followed (at most %d are, each to an http(s) URL with a Location)", status, host, maxRedirects)
	default:
		return channel.Permanent(channel.CodeDelivery, "HTTP %s from %s", status, host)
	}
}

// retryAfter reads Retry-After as every HTTP channel does (httpx).
func retryAfter(h http.Header) time.Duration { return httpx.RetryAfter(h) }

// redirectError is a redirect Deliver refuses to follow.
type redirectError struct{ msg string }

func (e *redirectError) Error() string { return e.msg }

// classifyTransport returns the failure a request error (no response)
// means. host names the endpoint being reached.
func classifyTransport(ctx context.Context, err error, host string, timeout time.Duration) *channel.Error {
	cause := err
	var ue *url.Error
	if errors.As(err, &ue) {
		// url.Error's own text carries the whole URL, query included.
		cause = ue.Err
		if u, perr := url.Parse(ue.URL); perr == nil && u.Host != "" {
			host = u.Host
		}
	}
	var blocked *netguard.BlockedError
	var redirect *redirectError
	var ne net.Error
	switch {
	case errors.As(err, &blocked):
		return channel.Permanent(channel.CodeDelivery, "callback to %s refused: %w", host, blocked)
	case errors.As(err, &redirect):
		return channel.Permanent(channel.CodeDelivery, "callback to %s: %w", host, redirect)
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		return channel.Retryable(channel.CodeTimeout, 0, "no response from %s within %s: %w", host, timeout, cause)
	case ctx.Err() != nil:
		return channel.Retryable(channel.CodeDelivery, 0, "callback to %s interrupted: %w", host, cause)
	default:
		return channel.Retryable(channel.CodeDelivery, 0, "could not reach %s: %w", host, cause)
	}
}

// hostOf is the host[:port] of a URL, for messages and breaker keys.
func hostOf(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Host
	}
	return "the endpoint"
}
