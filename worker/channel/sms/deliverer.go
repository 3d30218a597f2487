package sms

import (
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/worker/channel"
	"github.com/heraldhq/herald/worker/channel/internal/fanout"
	"github.com/heraldhq/herald/worker/channel/internal/httpx"
)

// Defaults of Config and Twilio's public address.
const (
	DefaultTimeout = 10 * time.Second
	TwilioBaseURL  = "https://api.twilio.com"
)

// Config configures a Deliverer. Zero values mean the documented defaults.
type Config struct {
	// Timeout bounds one attempt, every recipient of it. Default 10s.
	Timeout time.Duration
	// TLSConfig is the base of TLS connections (tests add their CA).
	TLSConfig *tls.Config
}

// Deliverer sends SMS. It is safe for concurrent use.
type Deliverer struct {
	cfg  Config
	http *http.Client
}

// New returns a Deliverer with its own connection pool.
func New(cfg Config) *Deliverer {
	cfg.Timeout = cmp.Or(max(cfg.Timeout, 0), DefaultTimeout)
	return &Deliverer{cfg: cfg, http: httpx.NewClient(cfg.TLSConfig, false)}
}

// Close closes idle pooled connections.
func (d *Deliverer) Close() { d.http.CloseIdleConnections() }

func provider(m *channel.Message) (*config.SMSDef, config.Provider, error) {
	if m == nil || m.Definition == nil || m.Definition.SMS == nil {
		return nil, config.Provider{}, channel.Permanent(channel.CodeDelivery, "the message definition has no sms")
	}
	def := m.Definition.SMS
	p, ok := m.Providers[def.Provider]
	if !ok || (p.Type != "twilio" && p.Type != "http") {
		return nil, config.Provider{}, channel.Permanent(channel.CodeDelivery, "sms provider %q is not a twilio or http provider of this workspace", def.Provider)
	}
	return def, p, nil
}

func target(p config.Provider) string {
	if p.Type == "http" {
		return p.URL
	}
	return cmp.Or(strings.TrimRight(p.BaseURL, "/"), TwilioBaseURL)
}

// Endpoint is the provider's scheme://host: the breaker key.
func (d *Deliverer) Endpoint(m *channel.Message) (string, error) {
	_, p, err := provider(m)
	if err != nil {
		return "", err
	}
	ep, err := httpx.Endpoint(target(p))
	if err != nil {
		return "", channel.Permanent(channel.CodeDelivery, "%v", err)
	}
	return ep, nil
}

// Deliver sends one attempt to every recipient not settled yet. Errors
// are *channel.Error.
func (d *Deliverer) Deliver(ctx context.Context, m *channel.Message) (channel.Result, error) {
	def, p, err := provider(m)
	if err != nil {
		return channel.Result{}, err
	}
	s, err := Prepare(def, m.Input)
	if err != nil {
		var ie *channel.InputError
		if errors.As(err, &ie) && ie.Code == channel.CodeTemplate {
			return channel.Result{}, channel.Permanent(channel.CodeTemplate, "sms input: %v", ie)
		}
		return channel.Result{}, channel.Permanent(channel.CodeDelivery, "sms input: %v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	var outcomes []fanout.Outcome
	for _, to := range s.To {
		if m.Done[to] {
			continue
		}
		var o fanout.Outcome
		if p.Type == "twilio" {
			o = d.twilio(ctx, p, s, to)
		} else {
			o = d.generic(ctx, p, s, to, m.ID)
		}
		outcomes = append(outcomes, o)
		if o.Err != nil {
			// Credentials or the gateway refused the message: the other
			// recipients would get the same answer.
			if ce := channel.Classify(o.Err); !ce.Retryable && ce.Code != channel.CodeInvalidRecipient {
				break
			}
		}
	}
	if len(outcomes) == 0 {
		return channel.Result{StatusCode: 200, ContentType: "text/plain", Body: []byte("every recipient was settled by an earlier attempt")}, nil
	}
	for _, to := range s.To {
		if !m.Done[to] && !slices.ContainsFunc(outcomes, func(o fanout.Outcome) bool { return o.Recipient == to }) {
			outcomes = append(outcomes, fanout.Outcome{Recipient: to, Err: channel.Retryable(channel.CodeDelivery, 0, "not tried in this attempt")})
		}
	}
	return fanout.Summarize(outcomes, len(m.Done))
}

// twilioInvalid are Twilio error codes that mean the number cannot get it.
var twilioInvalid = []int{21211, 21214, 21217, 21219, 21610, 21612, 21614}

func (d *Deliverer) twilio(ctx context.Context, p config.Provider, s *SMS, to string) fanout.Outcome {
	o := fanout.Outcome{Recipient: to}
	sid := p.Secret("account_sid_env")
	form := url.Values{"To": {to}, "Body": {s.Body}}
	if strings.HasPrefix(p.From, "MG") {
		form.Set("MessagingServiceSid", p.From)
	} else {
		form.Set("From", p.From)
	}
	u := target(p) + "/2010-04-01/Accounts/" + url.PathEscape(sid) + "/Messages.json"
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.SetBasicAuth(sid, p.Secret("auth_token_env"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := httpx.Do(ctx, d.http, req, "twilio")
	if err != nil {
		o.Err = err
		return o
	}
	o.Result = resp.Result()
	var body struct {
		SID     string `json:"sid"`
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	_ = json.Unmarshal(resp.Body, &body)
	if resp.Status >= 200 && resp.Status < 300 {
		o.ProviderID = body.SID
		return o
	}
	detail := ""
	if body.Code != 0 {
		detail = fmt.Sprintf("error %d: %s", body.Code, httpx.Short(body.Message))
	}
	switch {
	case slices.Contains(twilioInvalid, body.Code):
		o.Err = channel.Permanent(channel.CodeInvalidRecipient, "twilio: HTTP %d %s", resp.Status, detail)
	case body.Code == 20003 || resp.Status == http.StatusUnauthorized || resp.Status == http.StatusForbidden:
		o.Err = channel.Permanent(channel.CodeSecretExpired, "twilio: HTTP %d %s: Twilio rejected the account SID or auth token", resp.Status, detail)
	default:
		o.Err = httpx.Status(resp, "twilio", detail)
	}
	return o
}

func (d *Deliverer) generic(ctx context.Context, p config.Provider, s *SMS, to, id string) fanout.Outcome {
	o := fanout.Outcome{Recipient: to}
	body, err := RenderProviderBody(p, s, to, id)
	if err != nil {
		o.Err = channel.Permanent(channel.CodeTemplate, "http sms provider body: %v", err)
		return o
	}
	method := strings.ToUpper(cmp.Or(p.Method, http.MethodPost))
	var req *http.Request
	if method == http.MethodGet {
		req, err = http.NewRequest(method, p.URL, nil)
	} else {
		req, err = http.NewRequest(method, p.URL, strings.NewReader(body))
	}
	if err != nil {
		o.Err = channel.Permanent(channel.CodeDelivery, "http sms provider: cannot build the request")
		return o
	}
	for k, v := range p.Headers {
		req.Header.Set(k, v)
	}
	if method != http.MethodGet && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok := p.Secret("access_token_env"); tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	} else if u := p.Secret("username_env"); u != "" {
		req.SetBasicAuth(u, p.Secret("password_env"))
	}
	host := "http sms provider " + req.URL.Host
	resp, err := httpx.Do(ctx, d.http, req, host)
	if err != nil {
		o.Err = err
		return o
	}
	o.Result = resp.Result()
	if resp.Status < 200 || resp.Status >= 300 {
		o.Err = httpx.Status(resp, host, "")
	}
	return o
}
