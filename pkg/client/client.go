package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Version is sent in the User-Agent.
const Version = "1"

// Client talks to one Herald server with one API key. It is safe for
// concurrent use.
type Client struct {
	base      *url.URL
	key       string
	http      *http.Client
	userAgent string
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient replaces the HTTP client (default: a client with a 30s
// timeout).
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.http = h } }

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// New returns a client for the server at baseURL (e.g. "http://127.0.0.1:8080")
// authenticating with apiKey.
func New(baseURL, apiKey string, opts ...Option) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("herald client: base URL %q: want http(s)://host[:port]", baseURL)
	}
	if apiKey == "" {
		return nil, fmt.Errorf("herald client: an API key is required")
	}
	c := &Client{base: u, key: apiKey, http: &http.Client{Timeout: 30 * time.Second}, userAgent: "herald-go/" + Version}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// do sends a request with a JSON body (none when in is nil) and decodes a
// 2xx answer into out. Non-2xx answers become *Error.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, in, out any) (int, error) {
	u := *c.base
	u.Path = c.base.Path + path
	u.RawQuery = query.Encode()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, fmt.Errorf("herald client: encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode >= 300 {
		return resp.StatusCode, newError(resp, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("herald client: decode %s %s: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}

func newError(resp *http.Response, data []byte) *Error {
	var body struct {
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Field   string `json:"field"`
		} `json:"error"`
	}
	e := &Error{StatusCode: resp.StatusCode, RequestID: resp.Header.Get("X-Request-Id")}
	if err := json.Unmarshal(data, &body); err == nil && body.Error != nil {
		e.Code, e.Message, e.Field = body.Error.Code, body.Error.Message, body.Error.Field
	} else {
		e.Code, e.Message = "unknown", strings.TrimSpace(string(data))
	}
	if s := resp.Header.Get("Retry-After"); s != "" {
		if n, err := strconv.Atoi(s); err == nil {
			e.RetryAfter = time.Duration(n) * time.Second
		}
	}
	e.raw = data
	return e
}

// timeParam formats a time for the API (RFC 3339 with milliseconds, UTC).
func timeParam(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }
