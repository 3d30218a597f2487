package producer

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/heraldhq/herald/internal/ids"
)

// MultiRequest is the body of POST /v1/notifications/send: one event sent
// on every channel its input names.
type MultiRequest struct {
	Product string `json:"product"`
	Env     string `json:"env"`
	// Event is the notification tag ("orders"), or a full
	// "notification_tag:message_tag". With the tag alone, each channel uses
	// the notification's first message that defines it.
	Event   string     `json:"event"`
	Input   MultiInput `json:"input"`
	Session string     `json:"session"`
	Cache   string     `json:"cache"`
	Retries *int       `json:"retries"`
}

// MultiInput holds one channel input per channel.
type MultiInput struct {
	Push     json.RawMessage `json:"push_notification,omitempty"`
	Email    json.RawMessage `json:"email,omitempty"`
	SMS      json.RawMessage `json:"sms,omitempty"`
	Callback json.RawMessage `json:"callback,omitempty"`
}

// inputs lists the channels present, in a fixed order, with their input
// field name.
func (in MultiInput) inputs() []struct {
	channel, field string
	input          json.RawMessage
} {
	var out []struct {
		channel, field string
		input          json.RawMessage
	}
	for _, c := range []struct {
		channel, field string
		input          json.RawMessage
	}{
		{"push", "push_notification", in.Push}, {"email", "email", in.Email},
		{"sms", "sms", in.SMS}, {"callback", "callback", in.Callback},
	} {
		if len(c.input) > 0 && string(c.input) != "null" {
			out = append(out, c)
		}
	}
	return out
}

// DecodeMulti parses a multi-channel send body strictly.
func DecodeMulti(body []byte) (*MultiRequest, error) {
	var req MultiRequest
	if err := decodeStrict(body, &req); err != nil {
		return nil, err
	}
	return &req, nil
}

// ValidateMulti checks a multi-channel send exactly as SendMulti does,
// writing and queuing nothing. Unlike SendMulti, which goes ahead with the
// channels that are fine, it refuses the request on the first channel with
// a problem (an *InvalidError whose field is under input.<channel>): the
// scheduler uses it at dispatch time, and a job must be sendable on every
// channel it names.
func (p *Producer) ValidateMulti(ws string, req *MultiRequest) error {
	res, err := p.SendMulti(context.Background(), ws, req, Options{validateOnly: true})
	if err != nil {
		return err
	}
	for _, c := range req.Input.inputs() {
		if cr := res.Channels[c.channel]; cr != nil && cr.Error != nil {
			return &InvalidError{Code: cr.Error.Code, Field: cr.Error.Field, Message: cr.Error.Message}
		}
	}
	return nil
}

// ChannelResult is one channel's outcome in a multi-channel send.
type ChannelResult struct {
	Success      bool   `json:"success"`
	Channel      string `json:"channel"`
	MessageID    string `json:"messageId,omitempty"`
	Status       string `json:"status,omitempty"`
	Deduplicated bool   `json:"deduplicated,omitempty"`
	Error        *Error `json:"error,omitempty"`
}

// Error is a channel's refusal, in the API error shape.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// MultiResult is the outcome of a multi-channel send.
type MultiResult struct {
	// Success is true when at least one channel was accepted.
	Success   bool                      `json:"success"`
	ProcessID string                    `json:"process_id,omitempty"`
	Channels  map[string]*ChannelResult `json:"channels"`
}

// SendMulti accepts one message per channel named in the input, all sharing
// one process_id. A problem with the whole request (product, env, event,
// no channel at all) is an *InvalidError; a problem with one channel is
// reported in that channel's result while the others go ahead.
func (p *Producer) SendMulti(ctx context.Context, ws string, req *MultiRequest, opts Options) (*MultiResult, error) {
	cfg := p.cfg.Config()
	prod, err := productEnv(cfg, ws, req.Product, req.Env)
	if err != nil {
		return nil, err
	}
	if req.Event == "" {
		return nil, invalid("event", "required: the notification tag")
	}
	if req.Session != "" {
		// A session that does not verify refuses the whole send (401),
		// not each channel.
		if _, err := checkSession(prod, req.Session, p.clock.Now()); err != nil {
			return nil, err
		}
	}
	notifTag, msgTag, full := strings.Cut(req.Event, ":")
	notif := cfg.Notification(ws, req.Product, notifTag)
	if notif == nil {
		return nil, invalid("event", "no notification %q for product %q", notifTag, req.Product)
	}
	if full && (msgTag == "" || cfg.Message(ws, req.Product, req.Event) == nil) {
		return nil, invalid("event", "notification %q has no message %q", notifTag, msgTag)
	}
	chans := req.Input.inputs()
	if len(chans) == 0 {
		return nil, invalid("input", "name at least one channel: push_notification, email, sms or callback")
	}
	if opts.ProcessID == "" {
		opts.ProcessID = "prc_" + ids.New(p.clock.Now())
		if opts.IDSeed != "" {
			opts.ProcessID = "prc_" + ids.Derive(opts.At, opts.IDSeed)
		}
	}
	res := &MultiResult{ProcessID: opts.ProcessID, Channels: map[string]*ChannelResult{}}
	type accepted struct {
		channel string
		req     *SendRequest
		r       *resolved
	}
	var valid []accepted
	for _, c := range chans {
		notification := req.Event
		if !full {
			notification = notif.MessageFor(c.channel)
		} else if msgTag == "" {
			notification = ""
		}
		cr := &ChannelResult{Channel: c.channel}
		res.Channels[c.channel] = cr
		if notification == "" || cfg.Message(ws, req.Product, notification) == nil || cfg.Message(ws, req.Product, notification).Channel(c.channel) == nil {
			cr.Error = &Error{Code: "invalid_argument", Field: "input." + c.field, Message: "event " + req.Event + " has no " + c.channel + " message"}
			continue
		}
		sr := &SendRequest{Product: req.Product, Env: req.Env, Notification: notification, Input: c.input,
			Session: req.Session, Cache: req.Cache, Retries: req.Retries}
		r, err := p.validate(cfg, ws, c.channel, sr)
		if err != nil {
			cr.Error = toError(err, "input."+c.field)
			p.metrics.rejected.WithLabelValues(c.channel).Inc()
			continue
		}
		valid = append(valid, accepted{c.channel, sr, r})
	}
	head := true
	for _, a := range valid {
		if opts.validateOnly {
			break
		}
		cacheKey := ""
		if req.Cache != "" {
			cacheKey = req.Cache + "\x00" + a.channel
		}
		sent, err := p.accept(ctx, ws, a.channel, a.req, a.r, opts, cacheKey, head)
		cr := res.Channels[a.channel]
		if err != nil {
			cr.Error = toError(err, "")
			continue
		}
		head = false
		cr.Success, cr.MessageID, cr.Status, cr.Deduplicated = true, sent.MessageID, sent.Status, sent.Deduplicated
		res.Success = true
	}
	return res, nil
}

// toError turns a channel's refusal into its result error. Input field
// paths are re-rooted under the channel's input member.
func toError(err error, inputRoot string) *Error {
	e, _, ok := Describe(err)
	if !ok {
		return &Error{Code: "internal", Message: "internal error"}
	}
	if inputRoot != "" && (e.Field == "input" || strings.HasPrefix(e.Field, "input.")) {
		e.Field = inputRoot + strings.TrimPrefix(e.Field, "input")
	}
	return &e
}
