package client

import (
	"context"
	"net/http"
	"net/url"
)

// Channel is a delivery channel.
type Channel string

// Channels.
const (
	Email    Channel = "email"
	Push     Channel = "push"
	SMS      Channel = "sms"
	Callback Channel = "callback"
)

// SendRequest is a send on one channel. Input is the channel's input: an
// EmailInput, PushInput, SMSInput or CallbackInput (or any JSON value).
type SendRequest struct {
	Product string `json:"product"`
	Env     string `json:"env"`
	// Notification is "notification_tag:message_tag".
	Notification string `json:"notification"`
	Input        any    `json:"input"`
	// Session is "session_tag:<jwt>"; only the tag is stored.
	Session string `json:"session,omitempty"`
	// Cache is an idempotency tag: the same tag inside its window answers
	// the first message again instead of sending.
	Cache   string `json:"cache,omitempty"`
	Retries *int   `json:"retries,omitempty"`
}

// EmailInput is the input of an email.
type EmailInput struct {
	Recipients []string       `json:"recipients"`
	Subject    map[string]any `json:"subject,omitempty"`
	Template   map[string]any `json:"template,omitempty"`
}

// PushInput is the input of a push notification.
type PushInput struct {
	DeviceTokens []string       `json:"device_tokens"`
	Title        map[string]any `json:"title,omitempty"`
	Body         map[string]any `json:"body,omitempty"`
	Data         map[string]any `json:"data,omitempty"`
}

// SMSInput is the input of an SMS.
type SMSInput struct {
	Recipients []string       `json:"recipients"`
	Body       map[string]any `json:"body,omitempty"`
}

// CallbackInput is the input of an HTTP callback.
type CallbackInput struct {
	Query   map[string]any `json:"query,omitempty"`
	Headers map[string]any `json:"headers,omitempty"`
	// Params fill the {name} segments of the definition's URL.
	Params map[string]any `json:"params,omitempty"`
	Body   any            `json:"body,omitempty"`
}

// SendResult is the answer to an accepted send.
type SendResult struct {
	Success   bool    `json:"success"`
	Channel   Channel `json:"channel"`
	MessageID string  `json:"messageId"`
	Status    string  `json:"status"`
	// Deduplicated: the cache tag named an earlier send; nothing was sent.
	Deduplicated bool `json:"deduplicated"`
}

// Send sends on one channel (POST /v1/notifications/{channel}/send).
func (c *Client) Send(ctx context.Context, ch Channel, req SendRequest) (*SendResult, error) {
	var out SendResult
	if _, err := c.do(ctx, http.MethodPost, "/v1/notifications/"+url.PathEscape(string(ch))+"/send", nil, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// MultiInput holds one input per channel; nil channels are not sent.
type MultiInput struct {
	Push     *PushInput     `json:"push_notification,omitempty"`
	Email    *EmailInput    `json:"email,omitempty"`
	SMS      *SMSInput      `json:"sms,omitempty"`
	Callback *CallbackInput `json:"callback,omitempty"`
}

// MultiSendRequest is one event sent on several channels.
type MultiSendRequest struct {
	Product string `json:"product"`
	Env     string `json:"env"`
	// Event is the notification tag (or "notification_tag:message_tag").
	Event   string     `json:"event"`
	Input   MultiInput `json:"input"`
	Session string     `json:"session,omitempty"`
	Cache   string     `json:"cache,omitempty"`
	Retries *int       `json:"retries,omitempty"`
}

// ChannelResult is one channel's outcome.
type ChannelResult struct {
	Success      bool    `json:"success"`
	Channel      Channel `json:"channel"`
	MessageID    string  `json:"messageId"`
	Status       string  `json:"status"`
	Deduplicated bool    `json:"deduplicated"`
	Error        *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field"`
	} `json:"error"`
}

// MultiSendResult is the answer to a multi-channel send. Success is true
// when at least one channel was accepted; the others carry their error.
type MultiSendResult struct {
	Success   bool                       `json:"success"`
	ProcessID string                     `json:"process_id"`
	Channels  map[Channel]*ChannelResult `json:"channels"`
}

// SendMulti sends one event on several channels (POST /v1/notifications/send).
// When no channel is accepted the error is an *Error, and the per-channel
// results are still returned.
func (c *Client) SendMulti(ctx context.Context, req MultiSendRequest) (*MultiSendResult, error) {
	var out MultiSendResult
	_, err := c.do(ctx, http.MethodPost, "/v1/notifications/send", nil, req, &out)
	if e, ok := err.(*Error); ok && len(e.raw) > 0 {
		_ = jsonUnmarshal(e.raw, &out)
		return &out, err
	}
	if err != nil {
		return nil, err
	}
	return &out, nil
}
